package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pertitle/pertitle/services/catalog/internal/app"
	"github.com/pertitle/pertitle/services/catalog/internal/domain"
)

// Delete implements app.Repository.
func (r *Repository) Delete(ctx context.Context, key app.EventKey, id string, at time.Time) (applied bool, err error) {
	tx, fresh, err := r.beginEvent(ctx, key, id)
	if err != nil || !fresh {
		return false, err // processed before: nothing to do
	}
	defer func() {
		if err != nil || !applied {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if _, err := tx.Exec(ctx, `INSERT INTO deleted_assets (id, deleted_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`,
		id, toNanos(at)); err != nil {
		return false, fmt.Errorf("cannot delete asset %s: %w", id, err)
	}
	// Its renditions go with it (ON DELETE CASCADE).
	if _, err := tx.Exec(ctx, `DELETE FROM assets WHERE id = $1`, id); err != nil {
		return false, fmt.Errorf("cannot delete asset %s: %w", id, err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM encoding_requests WHERE asset_id = $1`, id); err != nil {
		return false, fmt.Errorf("cannot delete asset %s: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("cannot commit the deletion of %s: %w", id, err)
	}
	return true, nil
}

// Deleted implements app.Repository.
func (r *Repository) Deleted(ctx context.Context, id string) (bool, error) {
	gone, err := tombstoned(ctx, r.pool, id)
	if gone {
		return true, nil
	}
	return false, err
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func tombstoned(ctx context.Context, q querier, id string) (bool, error) {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM deleted_assets WHERE id = $1`, id).Scan(&one)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("cannot read the tombstone of %s: %w", id, err)
	}
	return true, fmt.Errorf("%w: %s", domain.ErrDeleted, id)
}

// SaveRequest implements app.Repository.
func (r *Repository) SaveRequest(ctx context.Context, id string, req domain.Request) (err error) {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("cannot begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, id); err != nil {
		return fmt.Errorf("cannot lock asset %s: %w", id, err)
	}
	if gone, err := tombstoned(ctx, tx, id); gone || err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO encoding_requests (asset_id, event_id, occurred_at, body) VALUES ($1, $2, $3, $4)
		ON CONFLICT (asset_id) DO UPDATE SET event_id = excluded.event_id, occurred_at = excluded.occurred_at, body = excluded.body
		WHERE excluded.occurred_at > encoding_requests.occurred_at`, id, req.EventID, toNanos(req.At), req.Body); err != nil {
		return fmt.Errorf("cannot keep the request of %s: %w", id, err)
	}
	return tx.Commit(ctx)
}

// LatestRequest implements app.Repository.
func (r *Repository) LatestRequest(ctx context.Context, id string) (domain.Request, error) {
	var req domain.Request
	var at int64
	err := r.pool.QueryRow(ctx, `SELECT event_id, occurred_at, body FROM encoding_requests WHERE asset_id = $1`, id).
		Scan(&req.EventID, &at, &req.Body)
	if errors.Is(err, pgx.ErrNoRows) {
		return req, fmt.Errorf("no encoding request of %s: %w", id, domain.ErrNotFound)
	}
	req.At = fromNanos(at)
	return req, err
}
