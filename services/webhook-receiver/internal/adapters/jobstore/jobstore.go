// Package jobstore is the webhook-receiver's view of the shared storage: the
// job records the local backend writes before its webhook, and the ledger of
// published outcomes that the Bitmovin reconciler (in encoder-dispatch) reads.
package jobstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/services/webhook-receiver/internal/app"
)

// Resolver reads the job records the local backend writes before its webhook.
type Resolver struct{ Store storage.Storage }

// Resolve loads the record of encodingID.
func (s Resolver) Resolve(ctx context.Context, encodingID string) (*jobs.Result, error) {
	res, err := jobs.Load(ctx, s.Store, encodingID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", app.ErrUnknownEncoding, encodingID)
	}
	return res, err
}

// Ledger keeps the ledger as empty objects in the shared storage, where the
// Bitmovin reconciler (in encoder-dispatch) reads it too.
type Ledger struct{ Store storage.Storage }

// Published implements app.Ledger.
func (l Ledger) Published(ctx context.Context, encodingID, eventType string) (bool, error) {
	_, err := l.Store.Stat(ctx, jobs.CompletionKey(encodingID, eventType))
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// MarkPublished implements app.Ledger with a conditional create: a marker already
// there (another replica's, an earlier delivery's) is left as it is.
func (l Ledger) MarkPublished(ctx context.Context, encodingID, eventType string) error {
	_, err := l.Store.Create(ctx, jobs.CompletionKey(encodingID, eventType), strings.NewReader(""))
	if errors.Is(err, storage.ErrExists) {
		return nil
	}
	return err
}
