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

// assetColumns is the column list every read selects, in ScanAsset's order;
// the last one is the renditions as a JSON array, aggregated in the same statement.
const assetColumns = sqlcommon.AssetColumns + `,
	(SELECT COALESCE(json_agg(json_build_object('w', r.width, 'h', r.height, 'b', r.bitrate, 'ab', r.average_bitrate,
		'c', r.codec, 'cs', r.codecs, 'fr', r.frame_rate, 'n', r.bytes, 'q', r.quality) ORDER BY r.position), '[]')::text
	 FROM renditions r WHERE r.asset_id = a.id)`

const getQuery = `SELECT ` + assetColumns + ` FROM assets a WHERE a.id = $1`

// Get returns one asset.
func (r *Repository) Get(ctx context.Context, id string) (domain.Asset, error) {
	return sqlcommon.Get(ctx, r.db(), getQuery, id)
}

// List returns a page of assets, newest first. The conditions are only those
// the filter sets, so that the planner picks the index that serves them.
func (r *Repository) List(ctx context.Context, f app.ListFilter) (app.Page, error) {
	c, after, limit, err := sqlcommon.ListArgs(f)
	if err != nil {
		return app.Page{}, err
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
		conds = append(conds, "(a.created_at, a.id) < ("+arg(sqlcommon.ToNanos(c.CreatedAt))+", "+arg(c.ID)+")")
	}
	q := `SELECT ` + assetColumns + ` FROM assets a`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	// One more than asked tells whether another page exists.
	q += " ORDER BY a.created_at DESC, a.id DESC LIMIT " + arg(limit+1)
	return sqlcommon.ListPage(ctx, r.db(), q, args, limit)
}

// Update applies fn to asset id and records key, in one transaction.
func (r *Repository) Update(ctx context.Context, key app.EventKey, id string, fn app.UpdateFunc) (applied bool, err error) {
	tx, fresh, err := r.beginEvent(ctx, key, id)
	if err != nil || !fresh {
		return false, err // processed before: nothing to do
	}
	return sqlcommon.Update(ctx, tx, getQuery, key, id, fn)
}

// begin begins a transaction that holds asset id's lock: every writer of
// this asset queues there, in this process or another one, until the holder
// commits.
func (r *Repository) begin(ctx context.Context, id string) (sqlcommon.Tx, error) {
	ptx, err := r.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot begin: %w", err)
	}
	tx := txOf(ptx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, id); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("cannot lock asset %s: %w", id, err)
	}
	return tx, nil
}

// beginEvent begins the transaction that applies the event key to asset id:
// it takes the asset's lock and records key, so that a duplicate of the
// event finds its record. A key recorded before gets fresh=false and no
// transaction.
func (r *Repository) beginEvent(ctx context.Context, key app.EventKey, id string) (tx sqlcommon.Tx, fresh bool, err error) {
	tx, err = r.begin(ctx, id)
	if err != nil {
		return nil, false, err
	}
	n, err := tx.Exec(ctx, `INSERT INTO processed_events (consumer, event_id, processed_at) VALUES ($1, $2, $3)
		ON CONFLICT (consumer, event_id) DO NOTHING`, key.Consumer, key.EventID, time.Now().UnixNano())
	if err != nil || n == 0 {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		if err != nil {
			return nil, false, fmt.Errorf("cannot record event %s: %w", key.EventID, err)
		}
		return nil, false, nil
	}
	return tx, true, nil
}

// PruneProcessed forgets processed events older than before.
func (r *Repository) PruneProcessed(ctx context.Context, before time.Time) (int64, error) {
	return sqlcommon.PruneProcessed(ctx, r.db(), before)
}
