package pertitle

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/pertitle/pertitle/pkg/media"
)

// runFFmpeg runs ffmpeg and returns the frames it reported on its -progress
// stream and its CPU time.
func runFFmpeg(ctx context.Context, ffmpeg string, args []string) (int64, time.Duration, error) {
	res, err := (&media.Cmd{Bin: ffmpeg, Args: args}).Run(ctx)
	if ctx.Err() != nil {
		return 0, res.CPU, ctx.Err()
	}
	return max(res.Frames, 0), res.CPU, err
}

// runPool runs fn(0..n-1) on at most workers goroutines and returns the first
// error; the others see a cancelled context.
func runPool(ctx context.Context, workers, n int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(ctx, i); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// removeAll is os.RemoveAll without the error, for deferred cleanup.
func removeAll(p string) { _ = os.RemoveAll(p) }
