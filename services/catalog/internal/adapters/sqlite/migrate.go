package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"

	"github.com/pertitle/pertitle/services/catalog/internal/adapters/sqlcommon"
)

// migrationFiles are the schema, one goose file per version. Never edit an
// applied migration: add a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// legacyVersions is the last version the hand-rolled migrator (table
// schema_migrations, before goose) could have written: its versions 1 to 3
// are goose's 00001 to 00003, the same SQL.
const legacyVersions = 3

// migrate brings the schema up to date. A file lock next to the database lets
// one process migrate at a time, so that two catalogs starting at once on the
// same file never both apply a migration; each migration is one transaction.
func migrate(ctx context.Context, db *sql.DB, path string) (err error) {
	unlock, err := lockFile(ctx, path+".migrate-lock")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, unlock()) }()
	if err := adoptLegacy(ctx, db); err != nil {
		return err
	}
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	return sqlcommon.Migrate(ctx, db, goose.DialectSQLite3, sub)
}

// adoptLegacy records in goose's version table the versions a database created
// by the hand-rolled migrator has, so that goose applies only what it lacks and
// an upgraded database keeps its data. schema_migrations is left as it was.
func adoptLegacy(ctx context.Context, db *sql.DB) (err error) {
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see the writer's dsn)
	if err != nil {
		return fmt.Errorf("cannot begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	exists := func(table string) (bool, error) {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&n)
		return n > 0, err
	}
	legacy, err := exists("schema_migrations")
	if err != nil {
		return fmt.Errorf("cannot look for schema_migrations: %w", err)
	}
	adopted, err := exists(sqlcommon.VersionTable)
	if err != nil {
		return fmt.Errorf("cannot look for %s: %w", sqlcommon.VersionTable, err)
	}
	if !legacy || adopted {
		return tx.Rollback()
	}
	var current int64
	if err = tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("cannot read the legacy schema version: %w", err)
	}
	if current > legacyVersions {
		return fmt.Errorf("database schema version %d (schema_migrations) is newer than this binary knows (%d)", current, legacyVersions)
	}
	store, err := database.NewStore(database.DialectSQLite3, sqlcommon.VersionTable)
	if err != nil {
		return err
	}
	if err = store.CreateVersionTable(ctx, tx); err != nil {
		return fmt.Errorf("cannot create %s: %w", sqlcommon.VersionTable, err)
	}
	for v := int64(0); v <= current; v++ { // goose's table starts with version 0
		if err = store.Insert(ctx, tx, database.InsertRequest{Version: v}); err != nil {
			return fmt.Errorf("cannot record legacy version %d: %w", v, err)
		}
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("cannot commit the legacy schema version: %w", err)
	}
	return nil
}
