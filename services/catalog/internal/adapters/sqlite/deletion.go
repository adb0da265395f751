package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/pertitle/pertitle/services/catalog/internal/adapters/sqlcommon"
	"github.com/pertitle/pertitle/services/catalog/internal/app"
	"github.com/pertitle/pertitle/services/catalog/internal/domain"
)

// Delete implements app.Repository.
func (r *Repository) Delete(ctx context.Context, key app.EventKey, id string, at time.Time) (applied bool, err error) {
	tx, fresh, err := r.beginEvent(ctx, key)
	if err != nil || !fresh {
		return false, err // processed before: nothing to do
	}
	return sqlcommon.Delete(ctx, tx, id, at)
}

// Deleted implements app.Repository.
func (r *Repository) Deleted(ctx context.Context, id string) (bool, error) {
	return sqlcommon.Tombstoned(ctx, querier{r.reader}, id)
}

// SaveRequest implements app.Repository.
func (r *Repository) SaveRequest(ctx context.Context, id string, req domain.Request) error {
	tx, err := r.begin(ctx)
	if err != nil {
		return fmt.Errorf("cannot begin: %w", err)
	}
	return sqlcommon.SaveRequest(ctx, tx, id, req)
}

// LatestRequest implements app.Repository.
func (r *Repository) LatestRequest(ctx context.Context, id string) (domain.Request, error) {
	return sqlcommon.LatestRequest(ctx, querier{r.reader}, id)
}
