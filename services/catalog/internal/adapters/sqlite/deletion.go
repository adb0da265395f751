package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pertitle/pertitle/services/catalog/internal/app"
	"github.com/pertitle/pertitle/services/catalog/internal/domain"
)

// Delete implements app.Repository.
func (r *Repository) Delete(ctx context.Context, key app.EventKey, id string, at time.Time) (applied bool, err error) {
	tx, fresh, err := r.beginEvent(ctx, key)
	if err != nil || !fresh {
		return false, err // processed before: nothing to do
	}
	defer func() {
		if err != nil || !applied {
			_ = tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, `INSERT INTO deleted_assets (id, deleted_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`,
		id, toNanos(at)); err != nil {
		return false, fmt.Errorf("cannot delete asset %s: %w", id, err)
	}
	// Its renditions go with it (ON DELETE CASCADE).
	if _, err := tx.ExecContext(ctx, `DELETE FROM assets WHERE id = ?`, id); err != nil {
		return false, fmt.Errorf("cannot delete asset %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM encoding_requests WHERE asset_id = ?`, id); err != nil {
		return false, fmt.Errorf("cannot delete asset %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("cannot commit the deletion of %s: %w", id, err)
	}
	return true, nil
}

// Deleted implements app.Repository.
func (r *Repository) Deleted(ctx context.Context, id string) (bool, error) {
	return tombstoned(ctx, r.reader, id)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func tombstoned(ctx context.Context, q querier, id string) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM deleted_assets WHERE id = ?`, id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("cannot read the tombstone of %s: %w", id, err)
	}
	return true, nil
}

// SaveRequest implements app.Repository.
func (r *Repository) SaveRequest(ctx context.Context, id string, req domain.Request) (err error) {
	tx, err := r.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cannot begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if gone, err := tombstoned(ctx, tx, id); err != nil || gone {
		return errors.Join(err, deletedErr(gone, id))
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO encoding_requests (asset_id, event_id, occurred_at, body) VALUES (?, ?, ?, ?)
		ON CONFLICT (asset_id) DO UPDATE SET event_id = excluded.event_id, occurred_at = excluded.occurred_at, body = excluded.body
		WHERE excluded.occurred_at > encoding_requests.occurred_at`, id, req.EventID, toNanos(req.At), req.Body); err != nil {
		return fmt.Errorf("cannot keep the request of %s: %w", id, err)
	}
	return tx.Commit()
}

func deletedErr(gone bool, id string) error {
	if !gone {
		return nil
	}
	return fmt.Errorf("%w: %s", domain.ErrDeleted, id)
}

// LatestRequest implements app.Repository.
func (r *Repository) LatestRequest(ctx context.Context, id string) (domain.Request, error) {
	var req domain.Request
	var at int64
	err := r.reader.QueryRowContext(ctx, `SELECT event_id, occurred_at, body FROM encoding_requests WHERE asset_id = ?`, id).
		Scan(&req.EventID, &at, &req.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return req, fmt.Errorf("no encoding request of %s: %w", id, domain.ErrNotFound)
	}
	req.At = fromNanos(at)
	return req, err
}
