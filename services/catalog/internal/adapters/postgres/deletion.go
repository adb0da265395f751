package postgres

import (
	"context"
	"time"

	"github.com/pertitle/pertitle/services/catalog/internal/adapters/sqlcommon"
	"github.com/pertitle/pertitle/services/catalog/internal/app"
	"github.com/pertitle/pertitle/services/catalog/internal/domain"
)

// Delete implements app.Repository.
func (r *Repository) Delete(ctx context.Context, key app.EventKey, id string, at time.Time) (applied bool, err error) {
	tx, fresh, err := r.beginEvent(ctx, key, id)
	if err != nil || !fresh {
		return false, err // processed before: nothing to do
	}
	return sqlcommon.Delete(ctx, tx, id, at)
}

// Deleted implements app.Repository.
func (r *Repository) Deleted(ctx context.Context, id string) (bool, error) {
	return sqlcommon.Tombstoned(ctx, r.db(), id)
}

// SaveRequest implements app.Repository, under the asset's lock.
func (r *Repository) SaveRequest(ctx context.Context, id string, req domain.Request) error {
	tx, err := r.begin(ctx, id)
	if err != nil {
		return err
	}
	return sqlcommon.SaveRequest(ctx, tx, id, req)
}

// LatestRequest implements app.Repository.
func (r *Repository) LatestRequest(ctx context.Context, id string) (domain.Request, error) {
	return sqlcommon.LatestRequest(ctx, r.db(), id)
}
