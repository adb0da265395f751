// Package sqlite stores the catalog projection in SQLite (modernc.org/sqlite, pure Go).
//
// One writer connection serialises every projection transaction (SQLite allows one
// writer anyway, and queuing in Go beats spinning on SQLITE_BUSY); a small pool of
// read-only connections serves queries concurrently thanks to WAL.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/pertitle/pertitle/services/catalog/internal/adapters/sqlcommon"
	"github.com/pertitle/pertitle/services/catalog/internal/app"
	"github.com/pertitle/pertitle/services/catalog/internal/domain"
)

// Options tune the repository; the zero value is sensible.
type Options struct {
	// Readers is the size of the read pool (default 4).
	Readers int
	// BusyTimeout is how long a connection waits for another process's lock (default 5s).
	BusyTimeout time.Duration
}

// Repository implements app.Repository.
type Repository struct {
	path   string
	writer *sql.DB
	reader *sql.DB

	getStmt  *sql.Stmt
	listStmt *sql.Stmt
}

var _ app.Repository = (*Repository)(nil)

// Open opens (creating it and its directory if needed) the database at path and
// migrates its schema.
func Open(ctx context.Context, path string, opt Options) (*Repository, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("invalid sqlite path %q", path)
	}
	if opt.Readers <= 0 {
		opt.Readers = 4
	}
	if opt.BusyTimeout <= 0 {
		opt.BusyTimeout = 5 * time.Second
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("cannot create directory for %s: %w", path, err)
		}
	}
	common := url.Values{}
	common.Set("_busy_timeout", fmt.Sprint(opt.BusyTimeout.Milliseconds()))
	common.Set("_foreign_keys", "1")
	common.Set("_synchronous", "NORMAL")

	w := url.Values{}
	for k, v := range common {
		w[k] = v
	}
	w.Set("_journal_mode", "WAL")
	w.Set("_txlock", "immediate") // take the write lock at BEGIN: no upgrade deadlocks
	writer, err := sql.Open("sqlite", path+"?"+w.Encode())
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	r := &Repository{path: path, writer: writer}
	if err := writer.PingContext(ctx); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("cannot open %s: %w", path, err)
	}
	if err := migrate(ctx, writer, path); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("cannot migrate %s: %w", path, err)
	}

	rd := url.Values{}
	for k, v := range common {
		rd[k] = v
	}
	rd.Set("_query_only", "1")
	// Reports read every event of an owner through an index: through mmap (the
	// OS's page cache, not this process's heap) rather than a read call per
	// page, a 200k-event report took 2.3 s instead of 13.5 s.
	rd.Add("_pragma", "mmap_size(268435456)")
	reader, err := sql.Open("sqlite", path+"?"+rd.Encode())
	if err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("cannot open %s for reading: %w", path, err)
	}
	reader.SetMaxOpenConns(opt.Readers)
	reader.SetMaxIdleConns(opt.Readers)
	reader.SetConnMaxLifetime(0)
	reader.SetConnMaxIdleTime(0)
	r.reader = reader
	if r.getStmt, err = reader.PrepareContext(ctx, getQuery); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("cannot prepare get: %w", err)
	}
	if r.listStmt, err = reader.PrepareContext(ctx, listQuery); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("cannot prepare list: %w", err)
	}
	return r, nil
}

// Close closes the database; in-flight calls finish first.
func (r *Repository) Close() error {
	var errs []error
	for _, s := range []*sql.Stmt{r.getStmt, r.listStmt} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	if r.reader != nil {
		errs = append(errs, r.reader.Close())
	}
	if r.writer != nil {
		// Fold the WAL back into the database so that a copied file is complete.
		_, _ = r.writer.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
		errs = append(errs, r.writer.Close())
	}
	return errors.Join(errs...)
}

// Ping checks both pools answer.
func (r *Repository) Ping(ctx context.Context) error {
	var one int
	if err := r.reader.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("sqlite %s: %w", r.path, err)
	}
	if err := r.writer.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite %s: %w", r.path, err)
	}
	return nil
}

// assetColumns is the column list every read selects, in scan order; the last one
// is the renditions as a JSON array, aggregated in the same statement.
const assetColumns = `a.id, a.owner, a.title, a.source_key, a.duration_seconds, a.width, a.height, a.source_bytes,
	a.status, a.error, a.retryable, a.progress_percent, a.progress_eta, a.progress_at,
	a.progress_chunks_done, a.progress_chunks, a.progress_workers,
	a.backend, a.job_id, a.attempt, a.job_at, a.hls_key, a.dash_key, a.hls_url, a.dash_url,
	a.created_at, a.updated_at, a.ready_at, a.ready_transitions,
	(SELECT json_group_array(json_object('w', r.width, 'h', r.height, 'b', r.bitrate, 'ab', r.average_bitrate,
		'c', r.codec, 'cs', r.codecs, 'fr', r.frame_rate, 'n', r.bytes, 'q', json(r.quality)) ORDER BY r.position)
	 FROM renditions r WHERE r.asset_id = a.id)`

const getQuery = `SELECT ` + assetColumns + ` FROM assets a WHERE a.id = ?`

// listQuery serves every filter combination with one prepared statement: empty
// parameters disable their condition.
const listQuery = `SELECT ` + assetColumns + ` FROM assets a
	WHERE (?1 = '' OR a.owner = ?1)
	  AND (?2 = '' OR a.status = ?2)
	  AND (?3 = 0 OR a.created_at < ?4 OR (a.created_at = ?4 AND a.id < ?5))
	ORDER BY a.created_at DESC, a.id DESC
	LIMIT ?6`

type scanner interface{ Scan(dest ...any) error }

func scanAsset(s scanner) (domain.Asset, error) {
	var a domain.Asset
	var status string
	var retryable bool
	var progressAt, jobAt, createdAt, updatedAt, readyAt int64
	var rendsStr sql.NullString
	err := s.Scan(&a.ID, &a.Owner, &a.Title, &a.SourceKey, &a.DurationSeconds, &a.Width, &a.Height, &a.SourceBytes,
		&status, &a.Error, &retryable, &a.ProgressPercent, &a.ProgressETA, &progressAt,
		&a.ProgressChunksDone, &a.ProgressChunks, &a.ProgressWorkers,
		&a.Backend, &a.JobID, &a.Attempt, &jobAt, &a.HLSKey, &a.DASHKey, &a.HLSURL, &a.DASHURL,
		&createdAt, &updatedAt, &readyAt, &a.ReadyTransitions, &rendsStr)
	if err != nil {
		return domain.Asset{}, err
	}
	a.Status = domain.Status(status)
	a.Retryable = retryable
	a.ProgressAt, a.JobAt = fromNanos(progressAt), fromNanos(jobAt)
	a.CreatedAt, a.UpdatedAt, a.ReadyAt = fromNanos(createdAt), fromNanos(updatedAt), fromNanos(readyAt)
	if a.Renditions, err = sqlcommon.DecodeRenditions(rendsStr.String); err != nil {
		return domain.Asset{}, fmt.Errorf("asset %s: %w", a.ID, err)
	}
	return a, nil
}

// Get returns one asset.
func (r *Repository) Get(ctx context.Context, id string) (domain.Asset, error) {
	a, err := scanAsset(r.getStmt.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Asset{}, fmt.Errorf("%w: %s", domain.ErrNotFound, id)
	}
	if err != nil {
		return domain.Asset{}, fmt.Errorf("cannot get asset %s: %w", id, err)
	}
	return a, nil
}

// List returns a page of assets, newest first.
func (r *Repository) List(ctx context.Context, f app.ListFilter) (app.Page, error) {
	c, after, err := app.DecodeCursor(f.Cursor)
	if err != nil {
		return app.Page{}, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = app.DefaultLimit
	}
	var afterFlag int
	if after {
		afterFlag = 1
	}
	// One more than asked tells whether another page exists.
	rows, err := r.listStmt.QueryContext(ctx, f.Owner, string(f.Status), afterFlag, toNanos(c.CreatedAt), c.ID, limit+1)
	if err != nil {
		return app.Page{}, fmt.Errorf("cannot list assets: %w", err)
	}
	defer rows.Close()
	p := app.Page{Assets: make([]domain.Asset, 0, min(limit, 64))}
	for rows.Next() {
		a, err := scanAsset(rows)
		if err != nil {
			return app.Page{}, fmt.Errorf("cannot list assets: %w", err)
		}
		p.Assets = append(p.Assets, a)
	}
	if err := rows.Err(); err != nil {
		return app.Page{}, fmt.Errorf("cannot list assets: %w", err)
	}
	return app.PageOf(p.Assets, limit), nil
}

// Update applies fn to asset id and records key, in one transaction.
func (r *Repository) Update(ctx context.Context, key app.EventKey, id string, fn app.UpdateFunc) (applied bool, err error) {
	tx, fresh, err := r.beginEvent(ctx, key)
	if err != nil || !fresh {
		return false, err // processed before: nothing to do
	}
	defer func() {
		if err != nil || !applied {
			_ = tx.Rollback()
		}
	}()
	if gone, err := tombstoned(ctx, tx, id); err != nil || gone {
		return false, errors.Join(err, deletedErr(gone, id))
	}
	cur, err := scanAsset(tx.QueryRowContext(ctx, getQuery, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
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
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("cannot commit event %s: %w", key.EventID, err)
	}
	return true, nil
}

// beginEvent begins the transaction that applies the event key and records
// key in it. A key recorded before gets fresh=false and no transaction.
func (r *Repository) beginEvent(ctx context.Context, key app.EventKey) (tx *sql.Tx, fresh bool, err error) {
	tx, err = r.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, fmt.Errorf("cannot begin: %w", err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO processed_events (consumer, event_id, processed_at) VALUES (?, ?, ?)
		ON CONFLICT (consumer, event_id) DO NOTHING`, key.Consumer, key.EventID, time.Now().UnixNano())
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err != nil || n == 0 {
		_ = tx.Rollback()
		if err != nil {
			return nil, false, fmt.Errorf("cannot record event %s: %w", key.EventID, err)
		}
		return nil, false, nil
	}
	return tx, true, nil
}

func save(ctx context.Context, tx *sql.Tx, cur, a domain.Asset) error {
	if !a.Status.Valid() {
		return fmt.Errorf("cannot save asset %s with status %q", a.ID, a.Status)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO assets (id, owner, title, source_key, duration_seconds, width, height,
		source_bytes, status, error, retryable, progress_percent, progress_eta, progress_at,
		progress_chunks_done, progress_chunks, progress_workers, backend, job_id, attempt,
		job_at, hls_key, dash_key, hls_url, dash_url, created_at, updated_at, ready_at, ready_transitions)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
		ready_transitions = excluded.ready_transitions`,
		a.ID, a.Owner, a.Title, a.SourceKey, a.DurationSeconds, a.Width, a.Height, a.SourceBytes,
		string(a.Status), a.Error, a.Retryable, a.ProgressPercent, a.ProgressETA, toNanos(a.ProgressAt),
		a.ProgressChunksDone, a.ProgressChunks, a.ProgressWorkers,
		a.Backend, a.JobID, a.Attempt, toNanos(a.JobAt), a.HLSKey, a.DASHKey, a.HLSURL, a.DASHURL,
		toNanos(a.CreatedAt), toNanos(a.UpdatedAt), toNanos(a.ReadyAt), a.ReadyTransitions)
	if err != nil {
		return fmt.Errorf("cannot save asset %s: %w", a.ID, err)
	}
	// Progress reports are frequent; only a finished encode changes renditions.
	if domain.RenditionsEqual(cur.Renditions, a.Renditions) {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM renditions WHERE asset_id = ?`, a.ID); err != nil {
		return fmt.Errorf("cannot replace renditions of %s: %w", a.ID, err)
	}
	for i, rd := range a.Renditions {
		qj, err := sqlcommon.EncodeQuality(rd.Quality)
		if err != nil {
			return fmt.Errorf("rendition %d of %s: %w", i, a.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO renditions (asset_id, position, width, height, bitrate,
			average_bitrate, codec, codecs, frame_rate, bytes, quality) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, i, rd.Width, rd.Height, rd.Bitrate, rd.AverageBitrate, rd.Codec, rd.Codecs, rd.FrameRate,
			rd.Bytes, qj); err != nil {
			return fmt.Errorf("cannot save rendition %d of %s: %w", i, a.ID, err)
		}
	}
	return nil
}

// PruneProcessed forgets processed events older than before; redeliveries happen
// within minutes, so a retention of days is plenty.
func (r *Repository) PruneProcessed(ctx context.Context, before time.Time) (int64, error) {
	res, err := r.writer.ExecContext(ctx, `DELETE FROM processed_events WHERE processed_at < ?`, before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("cannot prune processed events: %w", err)
	}
	return res.RowsAffected()
}

// toNanos stores a time as UTC Unix nanoseconds; 0 is the zero time.
func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
