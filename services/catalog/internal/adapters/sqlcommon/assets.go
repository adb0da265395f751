package sqlcommon

import (
	"context"
	"fmt"
	"time"

	"github.com/pertitle/pertitle/services/catalog/internal/app"
	"github.com/pertitle/pertitle/services/catalog/internal/domain"
)

// AssetColumns are the columns of an asset every read selects, in ScanAsset's
// order; each adapter follows them with its own aggregate of the renditions
// as a JSON array (the dialects' JSON functions differ).
const AssetColumns = `a.id, a.owner, a.title, a.source_key, a.duration_seconds, a.width, a.height, a.source_bytes,
	a.status, a.error, a.retryable, a.progress_percent, a.progress_eta, a.progress_at,
	a.progress_chunks_done, a.progress_chunks, a.progress_workers,
	a.backend, a.job_id, a.attempt, a.job_at, a.hls_key, a.dash_key, a.hls_url, a.dash_url,
	a.created_at, a.updated_at, a.ready_at, a.ready_transitions, a.ladder_mode`

// ScanAsset reads a row of AssetColumns and the renditions' JSON.
func ScanAsset(s Scanner) (domain.Asset, error) {
	var a domain.Asset
	var status string
	var rends *string
	var progressAt, jobAt, createdAt, updatedAt, readyAt int64
	err := s.Scan(&a.ID, &a.Owner, &a.Title, &a.SourceKey, &a.DurationSeconds, &a.Width, &a.Height, &a.SourceBytes,
		&status, &a.Error, &a.Retryable, &a.ProgressPercent, &a.ProgressETA, &progressAt,
		&a.ProgressChunksDone, &a.ProgressChunks, &a.ProgressWorkers,
		&a.Backend, &a.JobID, &a.Attempt, &jobAt, &a.HLSKey, &a.DASHKey, &a.HLSURL, &a.DASHURL,
		&createdAt, &updatedAt, &readyAt, &a.ReadyTransitions, &a.LadderMode, &rends)
	if err != nil {
		return domain.Asset{}, err
	}
	a.Status = domain.Status(status)
	a.ProgressAt, a.JobAt = FromNanos(progressAt), FromNanos(jobAt)
	a.CreatedAt, a.UpdatedAt, a.ReadyAt = FromNanos(createdAt), FromNanos(updatedAt), FromNanos(readyAt)
	if rends != nil {
		if a.Renditions, err = DecodeRenditions(*rends); err != nil {
			return domain.Asset{}, fmt.Errorf("asset %s: %w", a.ID, err)
		}
	}
	return a, nil
}

// Get reads asset id with getQuery (AssetColumns and renditions of one id).
func Get(ctx context.Context, q Querier, getQuery, id string) (domain.Asset, error) {
	a, err := ScanAsset(q.QueryRow(ctx, getQuery, id))
	if isNoRows(err) {
		return domain.Asset{}, fmt.Errorf("%w: %s", domain.ErrNotFound, id)
	}
	if err != nil {
		return domain.Asset{}, fmt.Errorf("cannot get asset %s: %w", id, err)
	}
	return a, nil
}

// ListArgs reads a list filter: its cursor (after=false on the first page)
// and its page size.
func ListArgs(f app.ListFilter) (c app.Cursor, after bool, limit int, err error) {
	c, after, err = app.DecodeCursor(f.Cursor)
	limit = f.Limit
	if limit <= 0 {
		limit = app.DefaultLimit
	}
	return c, after, limit, err
}

// ListPage runs a list query that asks for limit+1 assets and returns the
// page of limit they make.
func ListPage(ctx context.Context, q Querier, query string, args []any, limit int) (app.Page, error) {
	assets := make([]domain.Asset, 0, min(limit, 64))
	err := q.Each(ctx, query, args, func(s Scanner) error {
		a, err := ScanAsset(s)
		assets = append(assets, a)
		return err
	})
	if err != nil {
		return app.Page{}, fmt.Errorf("cannot list assets: %w", err)
	}
	return app.PageOf(assets, limit), nil
}

// Update applies fn to asset id in tx, which has recorded the event key
// already, and commits; getQuery reads the asset. A tombstoned id returns
// domain.ErrDeleted.
func Update(ctx context.Context, tx Tx, getQuery string, key app.EventKey, id string, fn app.UpdateFunc) (applied bool, err error) {
	defer rollbackUnless(ctx, tx, &applied, &err)
	if err := notDeleted(ctx, tx, id); err != nil {
		return false, err
	}
	cur, err := ScanAsset(tx.QueryRow(ctx, getQuery, id))
	switch {
	case isNoRows(err):
		cur = domain.Asset{ID: id}
	case err != nil:
		return false, fmt.Errorf("cannot read asset %s: %w", id, err)
	}
	next, changed, err := fn(cur)
	if err != nil {
		return false, err
	}
	if changed {
		if next.ID != id {
			return false, fmt.Errorf("update of asset %s returned asset %q", id, next.ID)
		}
		if err := save(ctx, tx, cur, next); err != nil {
			return false, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("cannot commit event %s: %w", key.EventID, err)
	}
	return true, nil
}

func save(ctx context.Context, tx Tx, cur, a domain.Asset) error {
	if !a.Status.Valid() {
		return fmt.Errorf("cannot save asset %s with status %q", a.ID, a.Status)
	}
	_, err := tx.Exec(ctx, `INSERT INTO assets (id, owner, title, source_key, duration_seconds, width, height,
		source_bytes, status, error, retryable, progress_percent, progress_eta, progress_at,
		progress_chunks_done, progress_chunks, progress_workers, backend, job_id, attempt,
		job_at, hls_key, dash_key, hls_url, dash_url, created_at, updated_at, ready_at, ready_transitions, ladder_mode)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
			$21, $22, $23, $24, $25, $26, $27, $28, $29, $30)
		ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, title = excluded.title, source_key = excluded.source_key,
		duration_seconds = excluded.duration_seconds, width = excluded.width, height = excluded.height,
		source_bytes = excluded.source_bytes, status = excluded.status, error = excluded.error,
		retryable = excluded.retryable, progress_percent = excluded.progress_percent,
		progress_eta = excluded.progress_eta, progress_at = excluded.progress_at,
		progress_chunks_done = excluded.progress_chunks_done, progress_chunks = excluded.progress_chunks,
		progress_workers = excluded.progress_workers, backend = excluded.backend,
		job_id = excluded.job_id, attempt = excluded.attempt, job_at = excluded.job_at, hls_key = excluded.hls_key,
		dash_key = excluded.dash_key, hls_url = excluded.hls_url, dash_url = excluded.dash_url,
		created_at = excluded.created_at, updated_at = excluded.updated_at, ready_at = excluded.ready_at,
		ready_transitions = excluded.ready_transitions, ladder_mode = excluded.ladder_mode`,
		a.ID, a.Owner, a.Title, a.SourceKey, a.DurationSeconds, a.Width, a.Height, a.SourceBytes,
		string(a.Status), a.Error, a.Retryable, a.ProgressPercent, a.ProgressETA, ToNanos(a.ProgressAt),
		a.ProgressChunksDone, a.ProgressChunks, a.ProgressWorkers,
		a.Backend, a.JobID, a.Attempt, ToNanos(a.JobAt), a.HLSKey, a.DASHKey, a.HLSURL, a.DASHURL,
		ToNanos(a.CreatedAt), ToNanos(a.UpdatedAt), ToNanos(a.ReadyAt), a.ReadyTransitions, a.LadderMode)
	if err != nil {
		return fmt.Errorf("cannot save asset %s: %w", a.ID, err)
	}
	// Progress reports are frequent; only a finished encode changes renditions.
	if domain.RenditionsEqual(cur.Renditions, a.Renditions) {
		return nil
	}
	return saveRenditions(ctx, tx, a)
}

func saveRenditions(ctx context.Context, tx Tx, a domain.Asset) error {
	if _, err := tx.Exec(ctx, `DELETE FROM renditions WHERE asset_id = $1`, a.ID); err != nil {
		return fmt.Errorf("cannot replace renditions of %s: %w", a.ID, err)
	}
	for i, rd := range a.Renditions {
		q, err := EncodeQuality(rd.Quality)
		if err != nil {
			return fmt.Errorf("rendition %d of %s: %w", i, a.ID, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO renditions (asset_id, position, width, height, bitrate,
			average_bitrate, codec, codecs, frame_rate, bytes, quality) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			a.ID, i, rd.Width, rd.Height, rd.Bitrate, rd.AverageBitrate, rd.Codec, rd.Codecs, rd.FrameRate,
			rd.Bytes, q); err != nil {
			return fmt.Errorf("cannot save rendition %d of %s: %w", i, a.ID, err)
		}
	}
	return nil
}

// Delete removes asset id in tx, which has recorded the event key already,
// leaves its tombstone, and commits.
func Delete(ctx context.Context, tx Tx, id string, at time.Time) (applied bool, err error) {
	defer rollbackUnless(ctx, tx, &applied, &err)
	if _, err := tx.Exec(ctx, `INSERT INTO deleted_assets (id, deleted_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`,
		id, ToNanos(at)); err != nil {
		return false, fmt.Errorf("cannot delete asset %s: %w", id, err)
	}
	// Its renditions go with it (ON DELETE CASCADE).
	for _, stmt := range []string{`DELETE FROM assets WHERE id = $1`, `DELETE FROM encoding_requests WHERE asset_id = $1`} {
		if _, err := tx.Exec(ctx, stmt, id); err != nil {
			return false, fmt.Errorf("cannot delete asset %s: %w", id, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("cannot commit the deletion of %s: %w", id, err)
	}
	return true, nil
}

// Tombstoned reports whether id has a tombstone.
func Tombstoned(ctx context.Context, q Querier, id string) (bool, error) {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM deleted_assets WHERE id = $1`, id).Scan(&one)
	switch {
	case isNoRows(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("cannot read the tombstone of %s: %w", id, err)
	}
	return true, nil
}

// notDeleted is domain.ErrDeleted for a tombstoned id.
func notDeleted(ctx context.Context, q Querier, id string) error {
	gone, err := Tombstoned(ctx, q, id)
	if err == nil && gone {
		err = fmt.Errorf("%w: %s", domain.ErrDeleted, id)
	}
	return err
}

// SaveRequest keeps req as the latest encoding request of asset id in tx
// unless a newer one is kept already, and commits. A tombstoned id returns
// domain.ErrDeleted.
func SaveRequest(ctx context.Context, tx Tx, id string, req domain.Request) (err error) {
	ok := true
	defer rollbackUnless(ctx, tx, &ok, &err)
	if err := notDeleted(ctx, tx, id); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO encoding_requests (asset_id, event_id, occurred_at, body) VALUES ($1, $2, $3, $4)
		ON CONFLICT (asset_id) DO UPDATE SET event_id = excluded.event_id, occurred_at = excluded.occurred_at, body = excluded.body
		WHERE excluded.occurred_at > encoding_requests.occurred_at`, id, req.EventID, ToNanos(req.At), req.Body); err != nil {
		return fmt.Errorf("cannot keep the request of %s: %w", id, err)
	}
	return tx.Commit(ctx)
}

// LatestRequest returns the latest request of asset id, or domain.ErrNotFound.
func LatestRequest(ctx context.Context, q Querier, id string) (domain.Request, error) {
	var req domain.Request
	var at int64
	err := q.QueryRow(ctx, `SELECT event_id, occurred_at, body FROM encoding_requests WHERE asset_id = $1`, id).
		Scan(&req.EventID, &at, &req.Body)
	if isNoRows(err) {
		return req, fmt.Errorf("no encoding request of %s: %w", id, domain.ErrNotFound)
	}
	req.At = FromNanos(at)
	return req, err
}
