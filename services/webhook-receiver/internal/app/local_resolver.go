package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/storage"
)

// StorageResolver reads the job records the local backend writes before its webhook.
type StorageResolver struct{ Store storage.Storage }

// Resolve loads the record of encodingID.
func (s StorageResolver) Resolve(ctx context.Context, encodingID string) (*jobs.Result, error) {
	res, err := jobs.Load(ctx, s.Store, encodingID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrUnknownEncoding, encodingID)
	}
	return res, err
}
