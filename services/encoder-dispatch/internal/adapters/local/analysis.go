package local

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pertitle"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/tracing"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/app"
)

// analysisPieces is the per-title analysis's piece runner when titles are
// chunked: the sampled pieces travel as chunk tasks of an analysis plan, so
// any worker analyses them (every grid size and CRF of one piece per task)
// with the leases, markers, hand-backs and failure handling of the encode's
// chunks. The coordinator stores the pieces, asks for them, and waits.
func (b *Backend) analysisPieces(job app.Job) func(context.Context, []pertitle.PieceTask, func()) ([]pertitle.PieceResult, error) {
	return func(ctx context.Context, tasks []pertitle.PieceTask, done func()) ([]pertitle.PieceResult, error) {
		files := make([]string, len(tasks))
		stored := make([]pertitle.PieceTask, len(tasks))
		chunks := make([]media.Chunk, len(tasks))
		for i, t := range tasks {
			files[i] = t.File
			t.File = "" // a local path: the worker gets the piece from storage
			stored[i] = t
			chunks[i] = media.Chunk{Index: i, Frames: t.Frames}
		}
		spec, err := json.Marshal(stored)
		if err != nil {
			return nil, bus.Permanent(err)
		}
		plan, err := jobs.NewPlan(jobs.Plan{JobID: job.ID, AssetID: job.AssetID, Chunks: chunks, Analysis: spec})
		if err != nil {
			return nil, err
		}
		if err := jobs.SavePlan(ctx, b.Store, plan); err != nil {
			return nil, err
		}
		for i, f := range files {
			key := jobs.PieceKey(plan.Prefix, i)
			if _, err := b.Store.Stat(ctx, key); err == nil {
				continue // stored by an earlier coordinator
			}
			if err := storage.PutFile(ctx, b.Store, f, key); err != nil {
				return nil, fmt.Errorf("cannot store analysis piece %d: %w", i, err)
			}
		}
		if err := b.requestChunks(ctx, job, plan); err != nil {
			return nil, err
		}
		b.Log.Info("analysis pieces requested", tracing.IDs(ctx), zap.String("job_id", job.ID), zap.Int("pieces", len(tasks)), zap.String("plan", plan.Prefix))
		return b.waitPieces(ctx, plan, done)
	}
}

// waitPieces polls the analysis plan's markers until every piece is done,
// calling done once per piece finished; a piece marked failed fails the job.
func (b *Backend) waitPieces(ctx context.Context, plan *jobs.Plan, done func()) ([]pertitle.PieceResult, error) {
	seen := map[int]bool{}
	var out []pertitle.PieceResult
	err := b.watchPlan(ctx, plan, func(st *jobs.ChunkStates) (bool, error) {
		for k, f := range st.Failed {
			return false, bus.Permanent(fmt.Errorf("%w: analysis piece %d of %d: %s", errChunkFailed, k, len(plan.Chunks), f.Reason))
		}
		for k := range st.Done {
			if !seen[k] {
				seen[k] = true
				done()
			}
		}
		if len(st.Done) < len(plan.Chunks) {
			return false, nil
		}
		out = make([]pertitle.PieceResult, len(plan.Chunks))
		for k, r := range st.Done {
			if err := json.Unmarshal(r.Result, &out[k]); err != nil {
				return false, bus.Permanent(fmt.Errorf("analysis piece %d: unreadable result: %w", k, err))
			}
		}
		return true, nil
	})
	return out, err
}

// analyzePiece is a worker's side of an analysis plan: it analyses piece k
// from storage and returns the result for the piece's done marker.
func (b *Backend) analyzePiece(ctx context.Context, plan *jobs.Plan, k int) (jobs.ChunkReport, error) {
	var tasks []pertitle.PieceTask
	if err := json.Unmarshal(plan.Analysis, &tasks); err != nil || k >= len(tasks) {
		return jobs.ChunkReport{}, bus.Permanent(fmt.Errorf("analysis plan %s has no task %d (%v)", plan.Prefix, k, err))
	}
	if err := os.MkdirAll(b.WorkDir, 0o755); err != nil {
		return jobs.ChunkReport{}, err
	}
	dir, err := os.MkdirTemp(b.WorkDir, fmt.Sprintf("%s-piece%d-", plan.JobID, k))
	if err != nil {
		return jobs.ChunkReport{}, err
	}
	defer os.RemoveAll(dir)
	task := tasks[k]
	if task.File, err = b.localCopy(ctx, jobs.PieceKey(plan.Prefix, k), filepath.Join(dir, "piece.mkv")); err != nil {
		return jobs.ChunkReport{}, err
	}
	start := time.Now()
	r, err := pertitle.AnalyzePiece(ctx, task, pertitle.Options{FFmpeg: b.FFmpeg, FFprobe: b.PerTitle.FFprobe,
		Scorer: b.PerTitle.Scorer, VMAFModel: b.PerTitle.VMAFModel})
	if err != nil {
		if ctx.Err() != nil {
			return jobs.ChunkReport{}, err
		}
		// The same piece and task give the same failure on any worker
		// (workers share their configuration, and with it their scorer).
		return jobs.ChunkReport{}, bus.Permanent(err)
	}
	res, err := json.Marshal(r)
	if err != nil {
		return jobs.ChunkReport{}, bus.Permanent(err)
	}
	var cpu time.Duration
	for _, d := range r.CPU {
		cpu += d
	}
	return jobs.ChunkReport{CPU: cpu, Wall: time.Since(start), Result: res}, nil
}
