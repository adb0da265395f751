// Package postgres stores the catalog projection and the player analytics in
// PostgreSQL (pgx v5), for catalogs that run as several replicas on one
// database. It passes the same contract suites as the SQLite adapter.
//
// Concurrent updates of one asset, from any number of processes, are
// serialised by a transaction-scoped advisory lock on the asset id: a row lock
// cannot do it for an asset that does not exist yet.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/pertitle/pertitle/services/catalog/internal/adapters/sqlcommon"
	"github.com/pertitle/pertitle/services/catalog/internal/app"
	"github.com/pertitle/pertitle/services/catalog/internal/domain"
)

// migrationFiles are the schema, one goose file per version, numbered as
// SQLite's. Never edit an applied migration: add a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockID is the advisory lock the catalog's migrations run under.
const migrationLockID int64 = 0x7065727469746c65 // "pertitle"

// Options tune the repository; the zero value is sensible.
type Options struct {
	// MaxConns is the size of the connection pool (default: pgxpool's, or the
	// URL's pool_max_conns).
	MaxConns int32
}

// Repository implements app.Repository and analytics.Store.
type Repository struct {
	pool *pgxpool.Pool
	name string // the URL without its password, for errors
}

var _ app.Repository = (*Repository)(nil)

// IsURL reports whether s names a PostgreSQL database rather than a file.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open connects to the database at url (postgres://…) and migrates its schema;
// several processes may open it at once (goose takes an advisory lock).
func Open(ctx context.Context, url string, opt Options) (*Repository, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("invalid PostgreSQL URL: %w", err) // pgx leaves the password out
	}
	if opt.MaxConns > 0 {
		cfg.MaxConns = opt.MaxConns
	}
	name := fmt.Sprintf("postgres %s@%s:%d/%s", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	if err := migrate(ctx, cfg.ConnConfig); err != nil {
		return nil, fmt.Errorf("cannot migrate %s: %w", name, err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to %s: %w", name, err)
	}
	r := &Repository{pool: pool, name: name}
	if err := r.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return r, nil
}

func migrate(ctx context.Context, cc *pgx.ConnConfig) error {
	db := stdlib.OpenDB(*cc) // goose speaks database/sql; a pool of its own, closed at once
	defer db.Close()
	// A replica that finds another migrating retries every second (goose's
	// default: 5 s), for up to five minutes. The lock is the catalog's own, not
	// goose's default, which other stores in the same database may take.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300), lock.WithLockID(migrationLockID))
	if err != nil {
		return err
	}
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	return sqlcommon.Migrate(ctx, db, goose.DialectPostgres, sub, goose.WithSessionLocker(locker))
}

// Close closes the pool; in-flight calls finish first.
func (r *Repository) Close() error {
	r.pool.Close()
	return nil
}

// Ping checks the database answers.
func (r *Repository) Ping(ctx context.Context) error {
	if err := r.pool.Ping(ctx); err != nil {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	return nil
}

// assetColumns is the column list every read selects, in scanAsset's order; the
// last one is the renditions as a JSON array, aggregated in the same statement.
const assetColumns = `a.id, a.owner, a.title, a.source_key, a.duration_seconds, a.width, a.height, a.source_bytes,
	a.status, a.error, a.retryable, a.progress_percent, a.progress_eta, a.progress_at,
	a.progress_chunks_done, a.progress_chunks, a.progress_workers,
	a.backend, a.job_id, a.attempt, a.job_at, a.hls_key, a.dash_key, a.hls_url, a.dash_url,
	a.created_at, a.updated_at, a.ready_at, a.ready_transitions,
	(SELECT COALESCE(json_agg(json_build_object('w', r.width, 'h', r.height, 'b', r.bitrate, 'ab', r.average_bitrate,
		'c', r.codec, 'cs', r.codecs, 'fr', r.frame_rate, 'n', r.bytes, 'q', r.quality) ORDER BY r.position), '[]')::text
	 FROM renditions r WHERE r.asset_id = a.id)`

const getQuery = `SELECT ` + assetColumns + ` FROM assets a WHERE a.id = $1`

func scanAsset(row pgx.Row) (domain.Asset, error) {
	var a domain.Asset
	var status, rends string
	var progressAt, jobAt, createdAt, updatedAt, readyAt int64
	err := row.Scan(&a.ID, &a.Owner, &a.Title, &a.SourceKey, &a.DurationSeconds, &a.Width, &a.Height, &a.SourceBytes,
		&status, &a.Error, &a.Retryable, &a.ProgressPercent, &a.ProgressETA, &progressAt,
		&a.ProgressChunksDone, &a.ProgressChunks, &a.ProgressWorkers,
		&a.Backend, &a.JobID, &a.Attempt, &jobAt, &a.HLSKey, &a.DASHKey, &a.HLSURL, &a.DASHURL,
		&createdAt, &updatedAt, &readyAt, &a.ReadyTransitions, &rends)
	if err != nil {
		return domain.Asset{}, err
	}
	a.Status = domain.Status(status)
	a.ProgressAt, a.JobAt = fromNanos(progressAt), fromNanos(jobAt)
	a.CreatedAt, a.UpdatedAt, a.ReadyAt = fromNanos(createdAt), fromNanos(updatedAt), fromNanos(readyAt)
	if a.Renditions, err = sqlcommon.DecodeRenditions(rends); err != nil {
		return domain.Asset{}, fmt.Errorf("asset %s: %w", a.ID, err)
	}
	return a, nil
}

// Get returns one asset.
func (r *Repository) Get(ctx context.Context, id string) (domain.Asset, error) {
	a, err := scanAsset(r.pool.QueryRow(ctx, getQuery, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Asset{}, fmt.Errorf("%w: %s", domain.ErrNotFound, id)
	}
	if err != nil {
		return domain.Asset{}, fmt.Errorf("cannot get asset %s: %w", id, err)
	}
	return a, nil
}

// List returns a page of assets, newest first. The conditions are only those
// the filter sets, so that the planner picks the index that serves them.
func (r *Repository) List(ctx context.Context, f app.ListFilter) (app.Page, error) {
	c, after, err := app.DecodeCursor(f.Cursor)
	if err != nil {
		return app.Page{}, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = app.DefaultLimit
	}
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Owner != "" {
		conds = append(conds, "a.owner = "+arg(f.Owner))
	}
	if f.Status != "" {
		conds = append(conds, "a.status = "+arg(string(f.Status)))
	}
	if after {
		conds = append(conds, "(a.created_at, a.id) < ("+arg(toNanos(c.CreatedAt))+", "+arg(c.ID)+")")
	}
	q := `SELECT ` + assetColumns + ` FROM assets a`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	// One more than asked tells whether another page exists.
	q += " ORDER BY a.created_at DESC, a.id DESC LIMIT " + arg(limit+1)
	rows, err := r.pool.Query(ctx, q, args...)
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
	tx, fresh, err := r.beginEvent(ctx, key, id)
	if err != nil || !fresh {
		return false, err // processed before: nothing to do
	}
	defer func() {
		if err != nil || !applied {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if _, err := tombstoned(ctx, tx, id); err != nil {
		return false, err
	}
	cur, err := scanAsset(tx.QueryRow(ctx, getQuery, id))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
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

// beginEvent begins the transaction that applies the event key to asset id:
// it takes the asset's lock and records key. A key recorded before gets
// fresh=false and no transaction.
func (r *Repository) beginEvent(ctx context.Context, key app.EventKey, id string) (tx pgx.Tx, fresh bool, err error) {
	tx, err = r.pool.Begin(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("cannot begin: %w", err)
	}
	defer func() {
		if err != nil || !fresh {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	// Every writer of this asset queues here, in this process or another one,
	// until the holder commits; a duplicate of the event then finds its record.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, id); err != nil {
		return nil, false, fmt.Errorf("cannot lock asset %s: %w", id, err)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO processed_events (consumer, event_id, processed_at) VALUES ($1, $2, $3)
		ON CONFLICT (consumer, event_id) DO NOTHING`, key.Consumer, key.EventID, time.Now().UnixNano())
	if err != nil {
		return nil, false, fmt.Errorf("cannot record event %s: %w", key.EventID, err)
	}
	return tx, tag.RowsAffected() > 0, nil
}

func save(ctx context.Context, tx pgx.Tx, cur, a domain.Asset) error {
	if !a.Status.Valid() {
		return fmt.Errorf("cannot save asset %s with status %q", a.ID, a.Status)
	}
	_, err := tx.Exec(ctx, `INSERT INTO assets (id, owner, title, source_key, duration_seconds, width, height,
		source_bytes, status, error, retryable, progress_percent, progress_eta, progress_at,
		progress_chunks_done, progress_chunks, progress_workers, backend, job_id, attempt,
		job_at, hls_key, dash_key, hls_url, dash_url, created_at, updated_at, ready_at, ready_transitions)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
			$21, $22, $23, $24, $25, $26, $27, $28, $29)
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
	if _, err := tx.Exec(ctx, `DELETE FROM renditions WHERE asset_id = $1`, a.ID); err != nil {
		return fmt.Errorf("cannot replace renditions of %s: %w", a.ID, err)
	}
	for i, rd := range a.Renditions {
		q, err := sqlcommon.EncodeQuality(rd.Quality)
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

// PruneProcessed forgets processed events older than before; redeliveries happen
// within minutes, so a retention of days is plenty.
func (r *Repository) PruneProcessed(ctx context.Context, before time.Time) (int64, error) {
	tag, err := r.pool.Exec(ctx, `DELETE FROM processed_events WHERE processed_at < $1`, before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("cannot prune processed events: %w", err)
	}
	return tag.RowsAffected(), nil
}

// toNanos stores a time as UTC Unix nanoseconds; 0 is the zero time (as in SQLite).
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
