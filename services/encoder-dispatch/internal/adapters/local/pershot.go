package local

import (
	"context"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/pershot"
	"github.com/pertitle/pertitle/pkg/pertitle"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/app"
)

// perShot analyses the source shot by shot, encodes the per-shot ladder into
// outDir (each shot a chunk at its own CRFs: across the workers when titles
// are chunked, else chunk by chunk here) and writes report.json and
// report.svg beside the manifests, as perTitle does. The job's renditions
// are the report's, as per-title's are.
func (b *Backend) perShot(ctx context.Context, job app.Job, srcPath, outDir string, rep app.Reporter) (*pertitle.Report, error) {
	// A shot is a chunk a worker takes whole: none longer than a chunk.
	opt := pershot.Options{Options: b.engineOptions(ctx, job, rep), Rules: pershot.Rules{MaxSeconds: max(b.Chunks.Seconds, 0)}}
	r, err := pershot.Encode(ctx, srcPath, outDir, opt)
	if err != nil {
		return nil, err
	}
	// pershot.Encode wrote the report (pershot.WriteReport) into outDir.
	b.observe(ctx, &r.Report, "per-shot ladder encoded", zap.Int("shots", len(r.Shots)),
		zap.Float64("bd_rate_vs_per_title", r.PerTitleBDRate))
	return &r.Report, nil
}
