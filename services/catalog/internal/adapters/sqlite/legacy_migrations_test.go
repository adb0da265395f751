package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// The hand-rolled migrator the catalog used before goose, kept verbatim as the
// fixture that makes "a database of the old code" in the upgrade tests.
var legacyMigrations = []string{
	// 1: assets, their renditions, and the events already projected.
	`CREATE TABLE assets (
		id                TEXT PRIMARY KEY,
		owner             TEXT    NOT NULL DEFAULT '',
		title             TEXT    NOT NULL DEFAULT '',
		source_key        TEXT    NOT NULL DEFAULT '',
		duration_seconds  REAL    NOT NULL DEFAULT 0,
		width             INTEGER NOT NULL DEFAULT 0,
		height            INTEGER NOT NULL DEFAULT 0,
		source_bytes      INTEGER NOT NULL DEFAULT 0,
		status            TEXT    NOT NULL CHECK (status IN ('uploaded', 'encoding', 'ready', 'failed')),
		error             TEXT    NOT NULL DEFAULT '',
		retryable         INTEGER NOT NULL DEFAULT 0,
		progress_percent  REAL    NOT NULL DEFAULT 0,
		progress_eta      REAL    NOT NULL DEFAULT 0,
		progress_at       INTEGER NOT NULL DEFAULT 0,
		backend           TEXT    NOT NULL DEFAULT '',
		job_id            TEXT    NOT NULL DEFAULT '',
		attempt           INTEGER NOT NULL DEFAULT 0,
		job_at            INTEGER NOT NULL DEFAULT 0,
		hls_key           TEXT    NOT NULL DEFAULT '',
		dash_key          TEXT    NOT NULL DEFAULT '',
		hls_url           TEXT    NOT NULL DEFAULT '',
		dash_url          TEXT    NOT NULL DEFAULT '',
		created_at        INTEGER NOT NULL,
		updated_at        INTEGER NOT NULL,
		ready_at          INTEGER NOT NULL DEFAULT 0,
		ready_transitions INTEGER NOT NULL DEFAULT 0
	) WITHOUT ROWID;
	CREATE INDEX assets_by_created ON assets (created_at DESC, id DESC);
	CREATE INDEX assets_by_status ON assets (status, created_at DESC, id DESC);
	CREATE INDEX assets_by_owner ON assets (owner, created_at DESC, id DESC);
	CREATE TABLE renditions (
		asset_id        TEXT    NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
		position        INTEGER NOT NULL,
		width           INTEGER NOT NULL,
		height          INTEGER NOT NULL,
		bitrate         INTEGER NOT NULL,
		average_bitrate INTEGER NOT NULL,
		codec           TEXT    NOT NULL,
		codecs          TEXT    NOT NULL,
		frame_rate      REAL    NOT NULL,
		bytes           INTEGER NOT NULL,
		quality         TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(quality)),
		PRIMARY KEY (asset_id, position)
	) WITHOUT ROWID;
	CREATE TABLE processed_events (
		consumer     TEXT    NOT NULL,
		event_id     TEXT    NOT NULL,
		processed_at INTEGER NOT NULL,
		PRIMARY KEY (consumer, event_id)
	) WITHOUT ROWID;
	CREATE INDEX processed_events_by_time ON processed_events (processed_at);`,
	// 2: player analytics beacons (services/catalog/internal/analytics). The owner is
	// copied from the asset when the beacon arrives, so summaries need no join.
	`CREATE TABLE playback_events (
		seq              INTEGER PRIMARY KEY AUTOINCREMENT,
		asset_id         TEXT    NOT NULL,
		owner            TEXT    NOT NULL DEFAULT '',
		type             TEXT    NOT NULL,
		session_id       TEXT    NOT NULL,
		viewer_id        TEXT    NOT NULL,
		ts               INTEGER NOT NULL,
		received_at      INTEGER NOT NULL,
		startup_ms       INTEGER NOT NULL DEFAULT 0,
		from_bitrate     INTEGER NOT NULL DEFAULT 0,
		to_bitrate       INTEGER NOT NULL DEFAULT 0,
		width            INTEGER NOT NULL DEFAULT 0,
		height           INTEGER NOT NULL DEFAULT 0,
		stall_ms         INTEGER NOT NULL DEFAULT 0,
		error_code       TEXT    NOT NULL DEFAULT '',
		message          TEXT    NOT NULL DEFAULT '',
		watched_seconds  REAL    NOT NULL DEFAULT 0,
		bytes_downloaded INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX playback_events_by_asset ON playback_events (asset_id, ts);
	CREATE INDEX playback_events_by_owner ON playback_events (owner, ts);`,
	// 3: a chunked encode's progress: chunks done out of all, and its workers.
	`ALTER TABLE assets ADD COLUMN progress_chunks_done INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE assets ADD COLUMN progress_chunks INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE assets ADD COLUMN progress_workers INTEGER NOT NULL DEFAULT 0;`,
}

// legacyMigrate is the old migrate, stopping at version upTo.
func legacyMigrate(ctx context.Context, db *sql.DB, upTo int) (err error) {
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see dsn): one migrator at a time
	if err != nil {
		return fmt.Errorf("cannot begin migration: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err = tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("cannot create schema_migrations: %w", err)
	}
	var current int
	if err = tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("cannot read schema version: %w", err)
	}
	for v := current + 1; v <= upTo; v++ {
		if _, err = tx.ExecContext(ctx, legacyMigrations[v-1]); err != nil {
			return fmt.Errorf("cannot apply migration %d: %w", v, err)
		}
		if _, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
			v, time.Now().UnixNano()); err != nil {
			return fmt.Errorf("cannot record migration %d: %w", v, err)
		}
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("cannot commit migrations: %w", err)
	}
	return nil
}
