// Package local is the encoder backend that runs ffmpeg on this machine and then
// reports completion through the webhook-receiver, exactly as Bitmovin would.
package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pertitle"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/tracing"
	"github.com/pertitle/pertitle/pkg/webhook"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/app"
)

// Backend encodes with the local ffmpeg.
type Backend struct {
	Store          storage.Storage
	WorkDir        string
	FFmpeg         string
	Preset         string
	SegmentSeconds float64
	Webhook        webhook.Sender
	Log            *zap.Logger
	// PerTitle configures jobs whose ladder mode is "pertitle" or "pershot":
	// the backend analyses the source, chooses the ladder and encodes it
	// (pkg/pertitle; pkg/pershot, a CRF per rung per shot); other jobs encode
	// the ladder they carry.
	PerTitle PerTitleConfig
	// Chunks splits long titles across every worker (chunked.go).
	Chunks ChunkConfig
}

// PerTitleConfig are the per-title engine settings of the local backend.
type PerTitleConfig struct {
	FFprobe string
	// Scorer is the ffmpeg that measures quality (with libvmaf, so the
	// engine steers by VMAF); "" uses the backend's FFmpeg.
	Scorer    string
	VMAFModel string // libvmaf 1.x model; "" for the one the engine ships
	// Mode is the analysis: fast (default) or exhaustive.
	Mode pertitle.Mode
	// WithStatic also encodes the static ladder into <output>/static and
	// reports the savings.
	WithStatic bool
	// SkipQuality leaves the final renditions unscored (scores are measured by
	// default and travel in EncodingFinished).
	SkipQuality bool
	// AnalysisBudget is pertitle.Options.AnalysisBudget: the share of the
	// final encode's CPU the analysis may spend (0: the engine's default).
	AnalysisBudget float64
}

var _ app.Backend = (*Backend)(nil)

// Name implements app.Backend.
func (b *Backend) Name() string { return jobs.BackendLocal }

// Run encodes job, stores its outputs, records the result and sends the webhook.
// A job whose result is already recorded (a redelivered request after the webhook
// failed, say) is not encoded again: only its webhook is resent.
func (b *Backend) Run(ctx context.Context, job app.Job, rep app.Reporter) error {
	if err := jobs.ValidJobID(job.ID); err != nil {
		return err
	}
	if res, err := jobs.Load(ctx, b.Store, job.ID); err == nil {
		b.Log.Info("job already ran; resending its webhook", tracing.IDs(ctx), zap.String("job_id", job.ID), zap.String("status", res.Status))
		return b.notify(ctx, res)
	}
	if err := rep.Started(ctx, job.ID); err != nil {
		return err
	}
	res, err := b.encode(ctx, job, rep)
	if err != nil {
		// Interrupted (shutdown, crash recovery) or storage trouble: let the bus redeliver.
		return err
	}
	if err := jobs.Save(ctx, b.Store, res); err != nil {
		return err
	}
	// The result is the durable record now; a chunked encode's pieces and
	// chunks are not needed any more.
	if err := b.Store.DeletePrefix(ctx, jobs.ChunkRoot(job.ID)); err != nil {
		b.Log.Warn("cannot remove the chunks of a finished job", tracing.IDs(ctx), zap.String("job_id", job.ID), zap.Error(err))
	}
	return b.notify(ctx, res)
}

func (b *Backend) encode(ctx context.Context, job app.Job, rep app.Reporter) (*jobs.Result, error) {
	res := &jobs.Result{JobID: job.ID, AssetID: job.AssetID, Owner: job.Owner, Backend: b.Name(),
		LadderMode: job.LadderMode, CorrelationID: job.CorrelationID, Traceparent: job.Traceparent}
	srcPath, cleanup, err := b.localSource(ctx, job)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	// A fresh directory per attempt: a previous attempt's encoder may still be
	// exiting, and must never write into this attempt's files.
	if err := os.MkdirAll(b.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create work dir: %w", err)
	}
	outDir, err := os.MkdirTemp(b.WorkDir, job.ID+"-")
	if err != nil {
		return nil, fmt.Errorf("cannot create work dir: %w", err)
	}
	defer os.RemoveAll(outDir)

	// The file itself, probed: the event's summary lacks what encoding needs
	// (colour range, exact frame rate, start time).
	src, err := media.Probe(ctx, b.PerTitle.FFprobe, srcPath)
	if errors.Is(err, media.ErrInvalidSource) {
		return failed(res, "INVALID_SOURCE", err), nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot probe source %s: %w", job.SourceKey, err)
	}
	start := time.Now()
	out, report, err := b.encodeLadder(ctx, job, srcPath, src, outDir, rep)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("encode interrupted: %w", ctx.Err())
		}
		b.Log.Warn("encode failed", tracing.IDs(ctx), zap.String("job_id", job.ID), zap.Error(err))
		code := "ENCODE_FAILED"
		if errors.Is(err, errChunkFailed) {
			code = "CHUNK_FAILED"
		}
		return failed(res, code, err), nil
	}
	files, err := media.ListFiles(outDir)
	if err != nil {
		return nil, err
	}
	if err := b.upload(ctx, outDir, job.OutputPrefix, files); err != nil {
		return nil, err
	}
	res.Status = jobs.StatusFinished
	res.HLSManifestKey = path.Join(job.OutputPrefix, media.HLSMasterName)
	res.DASHManifestKey = path.Join(job.OutputPrefix, media.DASHManifestName)
	res.EncodeSeconds = time.Since(start).Seconds()
	if report != nil {
		res.Renditions = perTitleRenditions(report, outDir, job.OutputPrefix)
	} else {
		for _, r := range out.Renditions {
			res.Renditions = append(res.Renditions, jobs.Rendition{
				Width: r.Width, Height: r.Height, Bitrate: r.Bitrate, AverageBitrate: r.AverageBitrate,
				Codec: r.Codec, Codecs: r.Codecs, FrameRate: r.FrameRate, Bytes: r.Bytes, Playlist: path.Join(job.OutputPrefix, r.Playlist),
			})
		}
	}
	res.FinishedAt = time.Now().UTC()
	return res, nil
}

// encodeLadder encodes the job's ladder into outDir as its mode says: the
// per-title and per-shot engines choose the ladder and return their report,
// the fixed and static modes encode the ladder the job carries.
func (b *Backend) encodeLadder(ctx context.Context, job app.Job, srcPath string, src *media.Source, outDir string, rep app.Reporter) (*media.Output, *pertitle.Report, error) {
	switch job.LadderMode {
	case jobs.LadderPerTitle:
		r, err := b.perTitle(ctx, job, srcPath, outDir, rep)
		return nil, r, err
	case jobs.LadderPerShot:
		r, err := b.perShot(ctx, job, srcPath, outDir, rep)
		return nil, r, err
	}
	out, err := b.encoder(job, rep)(ctx, media.EncodeRequest{
		FFmpeg: b.FFmpeg, SourcePath: srcPath, Source: src, OutDir: outDir, Ladder: job.Ladder,
		SegmentSeconds: b.SegmentSeconds, Preset: b.Preset,
		// The static ladder is the baseline per-title is judged
		// against: encoded as careful static ladders are, in two passes.
		TwoPass:  job.LadderMode == jobs.LadderStatic,
		Progress: func(p media.Progress) { rep.Progress(ctx, p) },
	})
	return out, nil, err
}

// failed records res as failed with code and err's first lines.
func failed(res *jobs.Result, code string, err error) *jobs.Result {
	res.Status, res.Code = jobs.StatusError, code
	res.Error = firstLines(err.Error(), 3)
	res.FinishedAt = time.Now().UTC()
	return res
}

// CleanWorkDir removes what earlier runs of this process left in the work
// directory (a crash leaves partial encodes behind). The work directory belongs
// to one encoder-dispatch process: give each replica its own.
func (b *Backend) CleanWorkDir() error {
	entries, err := os.ReadDir(b.WorkDir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("cannot read work dir: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(b.WorkDir, e.Name())); err != nil {
			return fmt.Errorf("cannot clean work dir: %w", err)
		}
	}
	return nil
}

// localSource gives ffmpeg a path to read: the object itself on filesystem storage,
// otherwise a downloaded copy.
func (b *Backend) localSource(ctx context.Context, job app.Job) (string, func(), error) {
	if l, ok := b.Store.(storage.Localizer); ok {
		p, err := l.LocalPath(job.SourceKey)
		if err != nil {
			return "", nil, err
		}
		if _, err := os.Stat(p); err != nil {
			return "", nil, fmt.Errorf("source %s: %w", job.SourceKey, err)
		}
		return p, func() {}, nil
	}
	rc, _, err := b.Store.Open(ctx, job.SourceKey)
	if err != nil {
		return "", nil, fmt.Errorf("cannot open source %s: %w", job.SourceKey, err)
	}
	defer rc.Close()
	if err := os.MkdirAll(b.WorkDir, 0o755); err != nil {
		return "", nil, err
	}
	f, err := os.CreateTemp(b.WorkDir, "source-*"+path.Ext(job.SourceKey))
	if err != nil {
		return "", nil, err
	}
	_, err = f.ReadFrom(rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", nil, fmt.Errorf("cannot download source %s: %w", job.SourceKey, err)
	}
	return f.Name(), func() { _ = os.Remove(f.Name()) }, nil
}

// upload copies the job's files into storage; manifests go last so that a reader
// never finds a playlist whose segments are missing.
func (b *Backend) upload(ctx context.Context, dir, prefix string, files []string) error {
	var manifests []string
	for _, rel := range files {
		if strings.HasSuffix(rel, ".m3u8") || strings.HasSuffix(rel, ".mpd") {
			manifests = append(manifests, rel)
			continue
		}
		if err := b.put(ctx, dir, prefix, rel); err != nil {
			return err
		}
	}
	for _, rel := range manifests {
		if err := b.put(ctx, dir, prefix, rel); err != nil {
			return err
		}
	}
	return nil
}

func (b *Backend) put(ctx context.Context, dir, prefix, rel string) error {
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		return fmt.Errorf("cannot read output %s: %w", rel, err)
	}
	defer f.Close()
	if _, err := b.Store.Put(ctx, path.Join(prefix, rel), f); err != nil {
		return fmt.Errorf("cannot store output %s: %w", rel, err)
	}
	return nil
}

func (b *Backend) notify(ctx context.Context, res *jobs.Result) error {
	typ := webhook.EventEncodingFinished
	if res.Status != jobs.StatusFinished {
		typ = webhook.EventEncodingError
	}
	n := webhook.Notification{EventID: uuid.NewString(), CreatedAt: time.Now().UTC(), OrgID: "local", UserID: "local",
		ResourceID: res.JobID, ResourceType: "ENCODING", EventType: typ}
	if err := b.Webhook.Send(ctx, n); err != nil {
		return fmt.Errorf("cannot deliver completion webhook: %w", err)
	}
	return nil
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
