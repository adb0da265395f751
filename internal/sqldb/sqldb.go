// Package sqldb opens the small state databases of the services that keep one
// (the issuer's sign-in state, ingest's upload sessions): a SQLite file by
// default, or PostgreSQL when the setting is a postgres:// URL, as the catalog
// chooses. Both are reached through database/sql, so that one store
// implementation with portable SQL serves both, and its schema is kept by goose
// migrations applied at start by one process at a time.
//
// Portable SQL here means: ? placeholders (rewritten to $n for PostgreSQL),
// integers for times (Unix milliseconds) and booleans, text for the rest,
// INSERT … ON CONFLICT, and UPDATE/DELETE … RETURNING (SQLite 3.35 and later).
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// IsPostgresURL reports whether s names a PostgreSQL database rather than a file.
func IsPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Check reports what is wrong with a database setting: a postgres:// URL that
// does not parse, or a file path that is empty or carries '?' or '#'. The error
// never quotes a URL (its password).
func Check(dsn string) error {
	if IsPostgresURL(dsn) {
		if _, err := pgx.ParseConfig(dsn); err != nil {
			return errors.New("not a valid postgres:// URL")
		}
		return nil
	}
	if dsn == "" || strings.ContainsAny(dsn, "?#") {
		return errors.New("must be a file path without '?' or '#', or a postgres:// URL")
	}
	return nil
}

// Schema is what a store migrates: goose migrations with the version table
// and the PostgreSQL advisory lock id of its own, so that several stores may
// share one database without sharing versions or waiting on each other.
type Schema struct {
	Migrations   fs.FS  // holds the .sql files in Dir
	Dir          string // "." for its root
	VersionTable string
	LockID       int64
}

// DB is an open state database.
type DB struct {
	*sql.DB
	Postgres bool
	name     string // for errors: a path, or the URL without its password
}

// Open opens dsn (a SQLite file, created with its directory, or a postgres://
// URL) and migrates it to schema.
func Open(ctx context.Context, dsn string, schema Schema) (*DB, error) {
	if err := Check(dsn); err != nil {
		return nil, err
	}
	sub, err := fs.Sub(schema.Migrations, schema.Dir)
	if err != nil {
		return nil, err
	}
	schema.Migrations = sub
	if IsPostgresURL(dsn) {
		return openPostgres(ctx, dsn, schema)
	}
	return openSQLite(ctx, dsn, schema)
}

func openPostgres(ctx context.Context, dsn string, schema Schema) (*DB, error) {
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("not a valid postgres:// URL")
	}
	db := &DB{DB: stdlib.OpenDB(*cc), Postgres: true,
		name: fmt.Sprintf("postgres %s@%s:%d/%s", cc.User, cc.Host, cc.Port, cc.Database)}
	// A replica that finds another migrating retries every second for up to five minutes.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300), lock.WithLockID(schema.LockID))
	if err == nil {
		err = migrate(ctx, db.DB, goose.DialectPostgres, schema, goose.WithSessionLocker(locker))
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("%s: %w", db.name, err)
	}
	return db, nil
}

func openSQLite(ctx context.Context, path string, schema Schema) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("cannot create the directory of %s: %w", path, err)
	}
	// One connection: SQLite has one writer anyway, and queuing in Go beats
	// spinning on SQLITE_BUSY. BEGIN IMMEDIATE takes the write lock at once, so
	// a read-then-write transaction cannot deadlock against another process.
	q := "?_txlock=immediate&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
	sdb, err := sql.Open("sqlite", path+q)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", path, err)
	}
	sdb.SetMaxOpenConns(1)
	sdb.SetConnMaxLifetime(0)
	sdb.SetConnMaxIdleTime(0)
	db := &DB{DB: sdb, name: path}
	unlock, err := lockFile(path + ".migrate-lock")
	if err == nil {
		err = migrate(ctx, sdb, goose.DialectSQLite3, schema)
		err = errors.Join(err, unlock())
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return db, nil
}

// migrate applies the migrations db lacks, each in its own transaction, and
// refuses a database migrated by a newer binary.
func migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, schema Schema, opts ...goose.ProviderOption) error {
	opts = append([]goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithTableName(schema.VersionTable)}, opts...)
	p, err := goose.NewProvider(dialect, db, schema.Migrations, opts...)
	if err != nil {
		return fmt.Errorf("cannot read migrations: %w", err)
	}
	current, target, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("cannot read the schema version: %w", err)
	}
	if current > target {
		return fmt.Errorf("schema version %d is newer than this binary knows (%d)", current, target)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("cannot migrate: %w", err)
	}
	return nil
}

// Name is the database for messages (a PostgreSQL URL without its password).
func (db *DB) Name() string { return db.name }

// Ping checks the database answers (readiness).
func (db *DB) Ping(ctx context.Context) error {
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("%s: %w", db.name, err)
	}
	return nil
}

// Q rewrites a query's ? placeholders for the database: $1, $2, … on PostgreSQL.
// Queries must not hold a literal '?'.
func (db *DB) Q(query string) string {
	if !db.Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Tx runs fn in a transaction, committed when fn returns nil.
func (db *DB) Tx(ctx context.Context, fn func(*sql.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: cannot begin: %w", db.name, err)
	}
	if err = fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Millis is t as the integer the stores keep times in.
func Millis(t time.Time) int64 { return t.UnixMilli() }

// Time is the time kept as Millis.
func Time(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
