package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/tracing"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/app"
)

// ChunkConfig makes the local backend split long titles into chunks that any
// encoder-dispatch process encodes (see app.ChunkWorker).
type ChunkConfig struct {
	// Seconds is about how long a chunk is; 0 encodes every title whole.
	Seconds float64
	// Pub publishes ChunkRequested.
	Pub app.Publisher
	// Producer names this service on the events.
	Producer string
	// Poll is how often the coordinator looks at the chunks' markers.
	Poll time.Duration
}

// chunkNamespace derives ChunkRequested ids from the plan and the chunk, so a
// coordinator that asks again (after a crash) asks with the same ids.
var chunkNamespace = uuid.MustParse("4d0b7c55-90a1-4e7e-b0c6-6a1f0f6f3c2e")

// encoder is how a job encodes a ladder: whole in this process, or in chunks
// across every worker when the title is long enough and its frames all last
// the same. Two-pass encodes stay whole: their first pass spends the bits
// across the whole title, which chunks would break. A per-shot encode (a CRF
// per rung per chunk) is never whole: its chunks go to the workers whatever
// the title's length, or are encoded one by one here (media.Encode) when
// titles are not chunked.
func (b *Backend) encoder(job app.Job, rep app.Reporter) func(context.Context, media.EncodeRequest) (*media.Output, error) {
	return func(ctx context.Context, req media.EncodeRequest) (*media.Output, error) {
		if req.SegmentSeconds <= 0 {
			req.SegmentSeconds = media.DefaultSegmentSeconds
		}
		if len(req.ChunkCRFs) > 0 && b.Chunks.Seconds > 0 {
			return b.encodeShots(ctx, job, req, rep)
		}
		if b.Chunks.Seconds <= 0 || req.TwoPass || len(req.ChunkCRFs) > 0 ||
			(req.Source != nil && req.Source.Duration > 0 && req.Source.Duration < 2*b.Chunks.Seconds) {
			return media.Encode(ctx, req) // nothing to split: not even counting its frames
		}
		t, err := media.TimingOf(req.Source, req.SegmentSeconds)
		if err != nil {
			b.Log.Info("encoded whole", tracing.IDs(ctx), zap.String("job_id", job.ID), zap.String("why", err.Error()))
			return media.Encode(ctx, req)
		}
		total := req.Source.Video.Frames
		if total <= 0 {
			if total, err = media.CountFrames(ctx, b.PerTitle.FFprobe, req.SourcePath); err != nil {
				return nil, err
			}
		}
		chunks := media.PlanChunks(t, total, b.Chunks.Seconds, nil)
		if len(chunks) < 2 {
			return media.Encode(ctx, req)
		}
		plan, err := jobs.NewPlan(jobs.Plan{JobID: job.ID, AssetID: job.AssetID, Source: req.Source, Timing: t,
			Ladder: req.Ladder, Preset: req.Preset, Chunks: chunks})
		if err != nil {
			return nil, err
		}
		return b.coordinate(ctx, job, req, plan, rep)
	}
}

// encodeShots runs a per-shot encode across the workers: the request's
// chunks (its shots) and their CRFs are the plan's, so chunk k of every rung
// is encoded at ChunkCRFs[k].
func (b *Backend) encodeShots(ctx context.Context, job app.Job, req media.EncodeRequest, rep app.Reporter) (*media.Output, error) {
	if req.Source == nil || req.Source.Video == nil {
		return nil, errors.New("per-shot encode: no probe of the source")
	}
	t, err := media.TimingOf(req.Source, req.SegmentSeconds)
	if err != nil {
		return nil, fmt.Errorf("per-shot encode: %w", err)
	}
	plan, err := jobs.NewPlan(jobs.Plan{JobID: job.ID, AssetID: job.AssetID, Source: req.Source, Timing: t,
		Ladder: req.Ladder, Preset: req.Preset, Chunks: req.Chunks, ChunkCRFs: req.ChunkCRFs})
	if err != nil {
		return nil, err
	}
	if err := plan.CheckChunkCRFs(); err != nil {
		return nil, fmt.Errorf("per-shot encode: %w", err)
	}
	return b.coordinate(ctx, job, req, plan, rep)
}

// coordinate runs a chunked encode: it stores the plan and the pieces, asks
// for every chunk not done yet, encodes the audio while the workers encode
// the video, waits for every chunk (reporting progress), and packages them.
// It holds the job's message the whole time; if it dies, another process
// gets the message, finds the same plan and carries on where this one was.
func (b *Backend) coordinate(ctx context.Context, job app.Job, req media.EncodeRequest, plan *jobs.Plan, rep app.Reporter) (*media.Output, error) {
	log := tracing.Logger(ctx, b.Log).With(zap.String("job_id", job.ID), zap.Int("chunks", len(plan.Chunks)))
	if err := jobs.SavePlan(ctx, b.Store, plan); err != nil {
		return nil, err
	}
	if err := b.storePieces(ctx, req.SourcePath, plan); err != nil {
		return nil, err
	}
	if err := b.requestChunks(ctx, job, plan); err != nil {
		return nil, err
	}
	log.Info("chunks requested", zap.String("plan", plan.Prefix))
	audio := ""
	if req.Source.HasAudio() {
		audio = filepath.Join(req.OutDir+".audio", "audio.mp4")
		if err := os.MkdirAll(filepath.Dir(audio), 0o755); err != nil {
			return nil, err
		}
		defer os.RemoveAll(filepath.Dir(audio))
		if _, err := media.EncodeAudio(ctx, req.FFmpeg, req.SourcePath, audio); err != nil {
			return nil, err
		}
	}
	if err := b.waitChunks(ctx, plan, req.Progress); err != nil {
		return nil, err
	}
	return b.packageChunks(ctx, req, plan, audio)
}

// storePieces cuts, by stream copy, the stretch of the source each chunk
// needs and stores it, so that a worker reads only its piece, whatever
// machine it runs on. Pieces already stored (by an earlier coordinator) stay.
func (b *Backend) storePieces(ctx context.Context, src string, plan *jobs.Plan) error {
	dir, err := os.MkdirTemp(b.WorkDir, plan.JobID+"-pieces-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, c := range plan.Chunks {
		key := jobs.PieceKey(plan.Prefix, c.Index)
		if _, err := b.Store.Stat(ctx, key); err == nil {
			continue
		}
		local := filepath.Join(dir, fmt.Sprintf("piece-%d.mkv", c.Index))
		if err := media.CutPiece(ctx, b.FFmpeg, src, plan.Timing, c, local); err != nil {
			return err
		}
		if err := storage.MoveOrPut(ctx, b.Store, local, key); err != nil {
			return fmt.Errorf("cannot store piece %d: %w", c.Index, err)
		}
	}
	return nil
}

// requestChunks publishes ChunkRequested for every chunk not done yet.
func (b *Backend) requestChunks(ctx context.Context, job app.Job, plan *jobs.Plan) error {
	for _, c := range plan.Chunks {
		if done, err := jobs.ChunkDone(ctx, b.Store, plan.Prefix, c.Index); err != nil {
			return err
		} else if done {
			continue
		}
		env, err := events.New(events.Meta{AssetID: job.AssetID, Producer: b.Chunks.Producer, CorrelationID: job.CorrelationID,
			Traceparent: job.Traceparent}, &eventsv1.ChunkRequested{JobId: job.ID, PlanKey: jobs.PlanKey(plan.Prefix),
			Chunk: int32(c.Index), Chunks: int32(len(plan.Chunks))})
		if err != nil {
			return bus.Permanent(err)
		}
		env.EventId = uuid.NewSHA1(chunkNamespace, []byte(fmt.Sprintf("%s/%d", plan.Prefix, c.Index))).String()
		if err := b.Chunks.Pub.Publish(ctx, env); err != nil {
			return fmt.Errorf("cannot request chunk %d: %w", c.Index, err)
		}
	}
	return nil
}

// errChunkFailed fails the job: one of its chunks was given up on.
var errChunkFailed = errors.New("chunk failed")

// waitChunks polls the chunks' markers until every chunk is done, reporting
// the share of frames done, an ETA from the rate so far, and the workers
// seen. A chunk marked failed fails the job.
func (b *Backend) waitChunks(ctx context.Context, plan *jobs.Plan, progress func(media.Progress)) error {
	start, total := time.Now(), plan.Frames()
	var firstDone int64 = -1
	return b.watchPlan(ctx, plan, func(st *jobs.ChunkStates) (bool, error) {
		for k, f := range st.Failed {
			return false, bus.Permanent(fmt.Errorf("%w: chunk %d of %d (frames %d-%d): %s", errChunkFailed, k, len(plan.Chunks),
				plan.Chunks[k].First, plan.Chunks[k].First+plan.Chunks[k].Frames-1, f.Reason))
		}
		var done int64
		for k := range st.Done {
			done += plan.Chunks[k].Frames
		}
		if firstDone < 0 {
			firstDone = done // chunks an earlier coordinator saw finished
		}
		if progress != nil {
			progress(chunkProgress(done, total, firstDone, time.Since(start), len(st.Done), len(plan.Chunks), len(st.Workers)))
		}
		return len(st.Done) == len(plan.Chunks), nil
	})
}

// watchPlan reads the plan's markers every Chunks.Poll and hands them to see
// until it says the plan is over (or fails); unreadable markers are retried.
func (b *Backend) watchPlan(ctx context.Context, plan *jobs.Plan, see func(*jobs.ChunkStates) (bool, error)) error {
	poll := b.Chunks.Poll
	if poll <= 0 {
		poll = time.Second
	}
	for {
		st, err := jobs.ReadChunkStates(ctx, b.Store, plan.Prefix)
		if err != nil {
			b.Log.Warn("cannot read chunk states", tracing.IDs(ctx), zap.String("plan", plan.Prefix), zap.Error(err))
		} else if over, err := see(st); over || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

// chunkProgress is the encode's progress from frames done: its ETA is the
// rate of this coordinator's wait so far.
func chunkProgress(done, total, atStart int64, elapsed time.Duration, chunksDone, chunks, workers int) media.Progress {
	p := media.Progress{Percent: 100 * float64(done) / float64(total), ChunksDone: chunksDone, Chunks: chunks, Workers: workers}
	if p.Percent >= 100 {
		p.Percent = 99.9 // packaging is left
	}
	if gained := done - atStart; gained > 0 {
		p.ETA = time.Duration(float64(elapsed) * float64(total-done) / float64(gained))
	}
	return p
}

// packageChunks joins and packages the chunks' rungs into req.OutDir,
// reading them in place on filesystem storage, through copies otherwise.
func (b *Backend) packageChunks(ctx context.Context, req media.EncodeRequest, plan *jobs.Plan, audio string) (*media.Output, error) {
	tmp := req.OutDir + ".chunks"
	defer os.RemoveAll(tmp)
	files := make([][]string, len(plan.Ladder))
	for _, c := range plan.Chunks {
		for i := range plan.Ladder {
			p, err := b.localCopy(ctx, jobs.ChunkRungKey(plan.Prefix, c.Index, i), filepath.Join(tmp, fmt.Sprintf("%05d-%d.mp4", c.Index, i)))
			if err != nil {
				return nil, err
			}
			files[i] = append(files[i], p)
		}
	}
	out, err := media.Package(ctx, media.PackageRequest{FFmpeg: req.FFmpeg, Source: req.Source, Ladder: plan.Ladder, Chunks: files,
		Audio: audio, OutDir: req.OutDir, SegmentSeconds: req.SegmentSeconds})
	if err != nil {
		return nil, err
	}
	if req.Progress != nil {
		req.Progress(media.Progress{Percent: 100, ChunksDone: len(plan.Chunks), Chunks: len(plan.Chunks)})
	}
	return out, nil
}

// localCopy gives a path to read the object at key: the object itself on
// filesystem storage, else a copy at dst.
func (b *Backend) localCopy(ctx context.Context, key, dst string) (string, error) {
	if l, ok := b.Store.(storage.Localizer); ok {
		return l.LocalPath(key)
	}
	rc, _, err := b.Store.Open(ctx, key)
	if err != nil {
		return "", fmt.Errorf("cannot open %s: %w", key, err)
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	f, err := os.Create(dst)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("cannot copy %s: %w", key, err)
	}
	return dst, nil
}

// EncodeChunk implements app.ChunkEncoder: it encodes chunk k of plan from
// its stored piece and stores the rungs.
// An analysis plan's chunk is a sampled piece, analysed instead.
func (b *Backend) EncodeChunk(ctx context.Context, plan *jobs.Plan, k int) (jobs.ChunkReport, error) {
	if len(plan.Analysis) > 0 {
		return b.analyzePiece(ctx, plan, k)
	}
	if err := os.MkdirAll(b.WorkDir, 0o755); err != nil {
		return jobs.ChunkReport{}, err
	}
	dir, err := os.MkdirTemp(b.WorkDir, fmt.Sprintf("%s-chunk%d-", plan.JobID, k))
	if err != nil {
		return jobs.ChunkReport{}, err
	}
	defer os.RemoveAll(dir)
	piece, err := b.localCopy(ctx, jobs.PieceKey(plan.Prefix, k), filepath.Join(dir, "piece.mkv"))
	if err != nil {
		return jobs.ChunkReport{}, err
	}
	out, err := media.EncodeChunk(ctx, media.ChunkRequest{FFmpeg: b.FFmpeg, Piece: piece, Source: plan.Source, Timing: plan.Timing,
		Chunk: plan.Chunks[k], Ladder: plan.Ladder, CRFs: plan.CRFs(k), Preset: plan.Preset, OutDir: filepath.Join(dir, "out")})
	if err != nil {
		if ctx.Err() != nil {
			return jobs.ChunkReport{}, err
		}
		// The same piece and plan give the same failure on any worker.
		return jobs.ChunkReport{}, bus.Permanent(err)
	}
	for i, f := range out.Files {
		if err := storage.MoveOrPut(ctx, b.Store, filepath.Join(dir, "out", f), jobs.ChunkRungKey(plan.Prefix, k, i)); err != nil {
			return jobs.ChunkReport{}, fmt.Errorf("cannot store chunk %d rung %d: %w", k, i, err)
		}
	}
	return jobs.ChunkReport{CPU: out.CPU, Wall: out.Wall}, nil
}
