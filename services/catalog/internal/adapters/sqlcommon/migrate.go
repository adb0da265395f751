package sqlcommon

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// VersionTable is goose's version table in every catalog database: named for
// the catalog, so that other stores sharing a PostgreSQL database (each with its
// own goose migrations) keep their own versions.
const VersionTable = "catalog_goose_db_version"

// Migrate applies, with goose, the migrations in fsys that db lacks, each in its
// own transaction. A database migrated by a newer binary (a version this one does
// not have) is refused rather than run with a schema this code does not know.
// opts add a locker, so that two processes starting at once migrate one at a time.
func Migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, fsys fs.FS, opts ...goose.ProviderOption) error {
	opts = append([]goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithTableName(VersionTable)}, opts...)
	p, err := goose.NewProvider(dialect, db, fsys, opts...)
	if err != nil {
		return fmt.Errorf("cannot read migrations: %w", err)
	}
	current, target, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("cannot read schema version: %w", err)
	}
	if current > target {
		return fmt.Errorf("database schema version %d is newer than this binary knows (%d)", current, target)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("cannot migrate: %w", err)
	}
	return nil
}
