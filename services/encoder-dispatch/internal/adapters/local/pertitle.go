package local

import (
	"context"
	"path"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pertitle"
	"github.com/pertitle/pertitle/pkg/tracing"
	"github.com/pertitle/pertitle/pkg/videometrics"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/app"
)

// Shares of the overall progress: analysis first, then the final encode, then
// the static ladder and quality scoring. Stages are reported separately too.
const (
	analysisShare = 25.0
	encodeShare   = 70.0
)

// perTitle analyses the source, encodes the chosen ladder into outDir and
// writes report.json and report.svg beside the manifests. The catalog does not
// index the reports; they are stored under the job's output prefix.
func (b *Backend) perTitle(ctx context.Context, job app.Job, srcPath, outDir string, rep app.Reporter) (*pertitle.Report, error) {
	r, err := pertitle.Encode(ctx, srcPath, outDir, b.engineOptions(ctx, job, rep))
	if err != nil {
		return nil, err
	}
	b.observe(ctx, r, "per-title ladder encoded")
	return r, nil
}

// engineOptions are the options of a job's per-title (or per-shot) engine:
// the backend's settings, its encoder (chunks across the workers when titles
// are chunked), its analysis pieces' runner, and progress by stage.
func (b *Backend) engineOptions(ctx context.Context, job app.Job, rep app.Reporter) pertitle.Options {
	return pertitle.Options{
		Encoder: b.encoder(job, rep),
		FFmpeg:  b.FFmpeg, FFprobe: b.PerTitle.FFprobe, Scorer: b.PerTitle.Scorer, VMAFModel: b.PerTitle.VMAFModel, Mode: b.PerTitle.Mode,
		Preset: b.Preset, SegmentSeconds: b.SegmentSeconds, WithStatic: b.PerTitle.WithStatic,
		MeasureQuality: !b.PerTitle.SkipQuality, AnalysisBudget: b.PerTitle.AnalysisBudget,
		Pieces: b.pieceRunner(job),
		Progress: func(p pertitle.Progress) {
			mp := media.Progress{Percent: p.Percent, ETA: p.ETA, Stage: "encoding",
				ChunksDone: p.ChunksDone, Chunks: p.Chunks, Workers: p.Workers}
			switch p.Stage {
			case "analysis":
				mp.Stage, mp.Percent = "analysis", p.Percent*analysisShare/100
			case "encode":
				mp.Percent = analysisShare + p.Percent*encodeShare/100
			default: // static ladder, quality
				mp.Percent = analysisShare + encodeShare + p.Percent*(100-analysisShare-encodeShare)/100
			}
			rep.Progress(ctx, mp)
		},
	}
}

// observe logs what an engine's report says of its job (msg, fields) and
// records its analysis cost and savings in the video metrics.
func (b *Backend) observe(ctx context.Context, r *pertitle.Report, msg string, fields ...zap.Field) {
	fields = append(fields, zap.Int("rungs", len(r.Renditions)), zap.String("metric", string(r.Metric)),
		zap.Duration("encode_cpu", r.EncodeCPUTime))
	if r.Analysis != nil {
		fields = append(fields, zap.Duration("analysis_cpu", r.Analysis.CPUTime), zap.Duration("analysis_took", r.Analysis.Elapsed))
		videometrics.Video.ObserveAnalysis(string(r.Analysis.Mode), r.Analysis.CPUTime, r.EncodeCPUTime)
	}
	if s := r.Savings; s != nil {
		videometrics.Video.ObserveSavings(s.StorageSaved, s.TopBitrateSaved)
	}
	tracing.Logger(ctx, b.Log).Info(msg, fields...)
}

// pieceRunner is where the sampled analysis's pieces run: on every worker,
// as chunk tasks, when titles are chunked; here otherwise.
func (b *Backend) pieceRunner(job app.Job) func(context.Context, []pertitle.PieceTask, func()) ([]pertitle.PieceResult, error) {
	if b.Chunks.Seconds <= 0 || b.Chunks.Pub == nil {
		return nil
	}
	return b.analysisPieces(job)
}

// perTitleRenditions describes the per-title renditions for the job result,
// with their quality scores; codec details come from the packaged files.
func perTitleRenditions(r *pertitle.Report, outDir, prefix string) []jobs.Rendition {
	out := make([]jobs.Rendition, 0, len(r.Renditions))
	for _, rr := range r.Renditions {
		er := jobs.Rendition{Width: rr.Width, Height: rr.Height, Bitrate: rr.Bitrate, AverageBitrate: rr.AverageBitrate,
			Codec: "h264", Bytes: rr.Bytes, Playlist: path.Join(prefix, rr.Playlist)}
		if info, err := media.ReadRenditionInfo(outDir, rr.Playlist); err == nil {
			er.Codecs, er.FrameRate = info.Codecs, info.FrameRate
		}
		if len(rr.Scores) > 0 {
			er.Scores = map[string]float64{}
			for m, v := range rr.Scores {
				er.Scores[string(m)] = v
			}
		}
		out = append(out, er)
	}
	return out
}
