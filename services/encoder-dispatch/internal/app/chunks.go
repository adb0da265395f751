package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/tracing"
)

// ChunkState is where chunked jobs keep their plans, markers and leases
// (pkg/jobs over storage).
type ChunkState interface {
	LoadPlan(ctx context.Context, key string) (*jobs.Plan, error)
	Done(ctx context.Context, plan *jobs.Plan, chunk int) (bool, error)
	// MarkDone records that chunk r.Chunk is stored; marking it twice (two
	// workers finished copies of it) is not an error.
	MarkDone(ctx context.Context, plan *jobs.Plan, r jobs.ChunkReport) error
	MarkFailed(ctx context.Context, plan *jobs.Plan, f jobs.ChunkFailure) error
	// Acquire takes the chunk's lease; a *jobs.HeldError when another
	// worker's runs.
	Acquire(ctx context.Context, plan *jobs.Plan, chunk int, owner string, ttl time.Duration) error
	// Leased reports whether a worker holds the chunk's lease now.
	Leased(ctx context.Context, plan *jobs.Plan, chunk int) bool
	Renew(ctx context.Context, plan *jobs.Plan, chunk int, owner string, ttl time.Duration) error
	Release(ctx context.Context, plan *jobs.Plan, chunk int) error
}

// ChunkEncoder encodes one chunk of a plan and stores its rungs.
type ChunkEncoder interface {
	EncodeChunk(ctx context.Context, plan *jobs.Plan, chunk int) (jobs.ChunkReport, error)
}

// ChunkWorker encodes the chunks that chunk tasks ask for, on any worker: a chunk already done is not encoded again, a copy of a task whose
// chunk another worker holds comes back once that lease lapses, a chunk whose
// encode can never succeed is marked failed (its title then fails, naming
// it), and a worker stopped mid-chunk gives the chunk back at once.
type ChunkWorker struct {
	State   ChunkState
	Encoder ChunkEncoder
	// Worker names this process in leases and done markers.
	Worker string
	// Lease is how long a lease lasts without renewal (renewed every third):
	// the bus's visibility timeout, so that a dead worker's lease lapses about
	// when its message comes back.
	Lease time.Duration
	Log   *zap.Logger
}

// ChunkTask asks for one chunk of a chunked job.
type ChunkTask struct {
	JobID   string
	PlanKey string
	Chunk   int
}

// Encode encodes the chunk a task asks for, unless it is done already or in
// another worker's hands (then the task comes back once that lease lapses).
func (w *ChunkWorker) Encode(ctx context.Context, task ChunkTask) error {
	plan, err := w.State.LoadPlan(ctx, task.PlanKey)
	if err != nil {
		// Storage trouble, or a plan removed once its job finished: retried,
		// then dead-lettered, which marks nothing (there is no plan).
		return fmt.Errorf("chunk %d of %s: %w", task.Chunk, task.JobID, err)
	}
	k := task.Chunk
	if k < 0 || k >= len(plan.Chunks) || plan.JobID != task.JobID {
		return bus.Permanent(fmt.Errorf("chunk %d is not in the plan of job %s", k, task.JobID))
	}
	kind := "encode"
	if len(plan.Analysis) > 0 {
		kind = "analysis" // a sampled piece of the title's analysis
	}
	log := tracing.Logger(ctx, w.Log).With(zap.String("job_id", plan.JobID), zap.Int("chunk", k), zap.String("kind", kind))
	if done, err := w.State.Done(ctx, plan, k); err != nil {
		return err
	} else if done {
		log.Info("chunk already encoded: not again")
		return nil
	}
	err = w.State.Acquire(ctx, plan, k, w.Worker, w.Lease)
	var held *jobs.HeldError
	if errors.As(err, &held) {
		// A copy of this task is in hand elsewhere. Dropping this one would
		// lose the chunk if that worker had died (a dead worker's message can
		// come back before its lease lapses); waiting for it here would keep
		// this worker from other chunks. It comes back once the lease lapses:
		// done by then, or taken over.
		log.Info("chunk in hand elsewhere: handed back for later", zap.Error(err))
		return bus.Later(time.Until(held.Until)+time.Second, err)
	}
	if err != nil {
		return err
	}
	// The holder may have finished between our look and our lease.
	if done, err := w.State.Done(ctx, plan, k); err != nil || done {
		_ = w.State.Release(ctx, plan, k)
		return err
	}
	return w.encode(ctx, plan, k, log)
}

func (w *ChunkWorker) encode(ctx context.Context, plan *jobs.Plan, k int, log *zap.Logger) error {
	log.Info("encoding chunk")
	renewCtx, stopRenew := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() { defer close(renewed); w.renew(renewCtx, plan, k, log) }()
	r, err := w.Encoder.EncodeChunk(ctx, plan, k)
	stopRenew()
	<-renewed
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err == nil {
		r.Chunk, r.Worker, r.At = k, w.Worker, time.Now().UTC()
		err = w.State.MarkDone(bg, plan, r)
	}
	if rerr := w.State.Release(bg, plan, k); rerr != nil {
		log.Warn("cannot release chunk lease", zap.Error(rerr))
	}
	switch {
	case err == nil:
		log.Info("chunk encoded", zap.Duration("cpu", r.CPU), zap.Duration("took", r.Wall))
		return nil
	case ctx.Err() != nil:
		// Stopped (SIGTERM, drain deadline): the lease is released, and the
		// bus hands the message back at once for another worker.
		return fmt.Errorf("chunk %d of %s interrupted: %w", k, plan.JobID, err)
	case bus.IsPermanent(err):
		if merr := w.State.MarkFailed(bg, plan, jobs.ChunkFailure{Chunk: k, Reason: err.Error(), At: time.Now().UTC()}); merr != nil {
			return fmt.Errorf("cannot mark chunk %d failed (%v): %w", k, err, merr)
		}
		return err
	}
	return err
}

// renew extends the lease every third of its length until ctx ends.
func (w *ChunkWorker) renew(ctx context.Context, plan *jobs.Plan, k int, log *zap.Logger) {
	t := time.NewTicker(w.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := w.State.Renew(ctx, plan, k, w.Worker, w.Lease); err != nil && ctx.Err() == nil {
				log.Warn("cannot renew chunk lease", zap.Error(err))
			}
		}
	}
}

// Abandoned marks failed a chunk whose task was given up on (why), so that
// its title fails naming it instead of waiting for it for ever.
func (w *ChunkWorker) Abandoned(ctx context.Context, task ChunkTask, why string) error {
	plan, err := w.State.LoadPlan(ctx, task.PlanKey)
	if err != nil {
		w.Log.Warn("dead chunk of a plan that is gone: nothing to mark", tracing.IDs(ctx), zap.String("job_id", task.JobID), zap.Error(err))
		return nil
	}
	k := task.Chunk
	if done, err := w.State.Done(ctx, plan, k); err != nil {
		return err
	} else if done || w.State.Leased(ctx, plan, k) {
		// A copy that kept coming back while the chunk was in hand: the
		// holder's own message still stands for the chunk.
		w.Log.Info("dead copy of a chunk done or in hand: dropped", tracing.IDs(ctx), zap.String("job_id", plan.JobID), zap.Int("chunk", k))
		return nil
	}
	return w.State.MarkFailed(ctx, plan, jobs.ChunkFailure{Chunk: k,
		Reason: fmt.Sprintf("chunk %d was given up on: %s", k, why), At: time.Now().UTC()})
}
