package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/pertitle/pertitle/pkg/encoding"
	"github.com/pertitle/pertitle/pkg/storage"
)

// StorageResolver reads the job records the local backend writes before its webhook.
type StorageResolver struct{ Store storage.Storage }

// Resolve loads the record of encodingID.
func (s StorageResolver) Resolve(ctx context.Context, encodingID string) (*encoding.Result, error) {
	res, err := encoding.Load(ctx, s.Store, encodingID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrUnknownEncoding, encodingID)
	}
	return res, err
}
