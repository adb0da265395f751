package bitmovin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/bitmovin"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/webhook"
)

// Reconciler completes encodings whose webhook never arrived (Bitmovin mutes a
// webhook after repeated delivery failures; the receiver may have been down).
//
// Its state lives where it survives restarts: pertitle's encodings carry the
// "pertitle" label in Bitmovin, and the webhook-receiver records every outcome it
// published under jobs.CompletionKey in the shared storage. Each tick lists
// the encodings that ended (FINISHED, ERROR) within Lookback, and for every one of
// pertitle's that ended more than Grace ago without a completion record, it posts
// the same signed webhook Bitmovin would have sent to the receiver: one completion
// path, whichever way the news arrives.
type Reconciler struct {
	Client *bitmovin.Client
	Store  storage.Storage
	// Sender posts to the receiver's internal URL with the webhook secret.
	Sender webhook.Sender
	Log    *zap.Logger
	// Interval between ticks; Grace is how long an ended encoding may wait for its
	// own webhook; Lookback bounds the listing; MaxPerTick bounds the work of a tick.
	Interval, Grace, Lookback time.Duration
	MaxPerTick                int
	Now                       func() time.Time
}

// Run ticks until ctx ends.
func (r *Reconciler) Run(ctx context.Context) error {
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if n, err := r.Tick(ctx); err != nil && ctx.Err() == nil {
				r.Log.Warn("reconciliation incomplete", zap.Error(err), zap.Int("completed", n))
			} else if n > 0 {
				r.Log.Info("reconciled encodings without webhook", zap.Int("completed", n))
			}
		}
	}
}

// Tick runs one reconciliation and returns how many encodings it completed.
func (r *Reconciler) Tick(ctx context.Context) (int, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	limit := r.MaxPerTick
	if limit <= 0 {
		limit = 100
	}
	done, examined := 0, 0
	var errs []error
	for _, st := range []bitmovin.Status{bitmovin.StatusFinished, bitmovin.StatusError} {
		eventType := webhook.EventEncodingFinished
		if st == bitmovin.StatusError {
			eventType = webhook.EventEncodingError
		}
		for offset := 0; examined < limit; offset += 100 {
			page, err := r.Client.ListEncodings(ctx, bitmovin.ListEncodingsParams{Status: st, Offset: offset, Limit: 100,
				Sort: "createdAt:asc", CreatedAtNewerThan: now().Add(-r.Lookback)})
			if err != nil {
				errs = append(errs, fmt.Errorf("cannot list %s encodings: %w", st, err))
				break
			}
			for _, e := range page.Items {
				if examined >= limit {
					break
				}
				if !e.HasLabel(bitmovin.LabelSystem) || e.Status != st || jobs.ValidJobID(e.ID) != nil {
					continue
				}
				examined++
				ended := e.FinishedAt
				if st == bitmovin.StatusError {
					ended = e.ErrorAt
				}
				if ended != nil && now().Sub(*ended) < r.Grace {
					continue
				}
				if _, err := r.Store.Stat(ctx, jobs.CompletionKey(e.ID, eventType)); err == nil {
					continue
				} else if !errors.Is(err, storage.ErrNotFound) {
					errs = append(errs, err)
					continue
				}
				n := webhook.Notification{EventID: "reconciler-" + e.ID + "-" + eventType, CreatedAt: now().UTC(),
					ResourceID: e.ID, ResourceType: "ENCODING", EventType: eventType}
				if err := r.Sender.Send(ctx, n); err != nil {
					errs = append(errs, fmt.Errorf("cannot complete encoding %s: %w", e.ID, err))
					continue
				}
				r.Log.Info("encoding completed by reconciliation", zap.String("encoding_id", e.ID), zap.String("event_type", eventType))
				done++
			}
			if len(page.Items) < 100 {
				break
			}
		}
	}
	return done, errors.Join(errs...)
}
