// Package sqlsessions keeps ingest's direct upload sessions in SQL: a SQLite
// file, or PostgreSQL shared by replicas (internal/sqldb), one implementation
// in portable SQL that passes app/apptest's contract on both.
package sqlsessions

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/pertitle/pertitle/internal/sqldb"
	"github.com/pertitle/pertitle/services/ingest/internal/app"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store implements app.SessionStore (Close and Ping are the database's).
type Store struct{ *sqldb.DB }

var _ app.SessionStore = (*Store)(nil)

// Open opens dsn (a SQLite file path or a postgres:// URL) and migrates it.
func Open(ctx context.Context, dsn string) (*Store, error) {
	db, err := sqldb.Open(ctx, dsn, sqldb.Schema{Migrations: migrationFiles, Dir: "migrations", VersionTable: "ingest_goose_db_version",
		LockID: 0x696e676573740001}) // "ingest" + 1
	if err != nil {
		return nil, fmt.Errorf("upload sessions: %w", err)
	}
	return &Store{db}, nil
}

func ms(t time.Time) int64 { return sqldb.Millis(t) }

const columns = `id, owner, filename, content_type, title, size, part_size, parts_total, status,
	created_at, expires_at, lease_until, asset_id, object_key, upload_id, object_done, announcing`

// Create implements app.SessionStore.
func (s *Store) Create(ctx context.Context, d app.DirectSession) error {
	_, err := s.DB.ExecContext(ctx, s.DB.Q(`INSERT INTO ingest_upload_sessions (`+columns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		d.ID, d.Owner, d.Filename, d.ContentType, d.Title, d.Size, d.PartSize, d.PartsTotal, d.Status,
		ms(d.CreatedAt), ms(d.ExpiresAt), ms(d.LeaseUntil), d.AssetID, d.Key, d.UploadID, boolInt(d.ObjectDone), boolInt(d.Announcing))
	return err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

type scanner interface{ Scan(dest ...any) error }

func scan(r scanner) (app.DirectSession, error) {
	var d app.DirectSession
	var created, expires, lease int64
	var done, announcing int
	err := r.Scan(&d.ID, &d.Owner, &d.Filename, &d.ContentType, &d.Title, &d.Size, &d.PartSize, &d.PartsTotal, &d.Status,
		&created, &expires, &lease, &d.AssetID, &d.Key, &d.UploadID, &done, &announcing)
	d.CreatedAt, d.ExpiresAt, d.ObjectDone, d.Announcing = sqldb.Time(created), sqldb.Time(expires), done == 1, announcing == 1
	if lease > 0 {
		d.LeaseUntil = sqldb.Time(lease)
	}
	return d, err
}

// Get implements app.SessionStore.
func (s *Store) Get(ctx context.Context, id string) (app.DirectSession, error) {
	d, err := scan(s.DB.QueryRowContext(ctx, s.DB.Q(`SELECT `+columns+` FROM ingest_upload_sessions WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return app.DirectSession{}, app.ErrSessionNotFound
	}
	return d, err
}

// Claim implements app.SessionStore.
func (s *Store) Claim(ctx context.Context, id string, now, leaseUntil time.Time) (bool, error) {
	res, err := s.DB.ExecContext(ctx, s.DB.Q(`UPDATE ingest_upload_sessions SET status = ?, lease_until = ?
		WHERE id = ? AND (status = ? OR (status = ? AND lease_until < ?))`),
		app.SessionCompleting, ms(leaseUntil), id, app.SessionUploading, app.SessionCompleting, ms(now))
	return affected(res, err)
}

// Extend implements app.SessionStore: a compare-and-set on the lease, so a
// holder whose lease was taken over cannot extend the new holder's.
func (s *Store) Extend(ctx context.Context, id string, held, until time.Time) (bool, error) {
	res, err := s.DB.ExecContext(ctx, s.DB.Q(`UPDATE ingest_upload_sessions SET lease_until = ?
		WHERE id = ? AND status = ? AND lease_until = ?`), ms(until), id, app.SessionCompleting, ms(held))
	return affected(res, err)
}

func affected(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Release implements app.SessionStore.
func (s *Store) Release(ctx context.Context, id string, objectDone bool, expires time.Time) error {
	_, err := s.DB.ExecContext(ctx, s.DB.Q(`UPDATE ingest_upload_sessions
		SET status = ?, lease_until = 0, object_done = ?, announcing = 0, expires_at = ? WHERE id = ?`),
		app.SessionUploading, boolInt(objectDone), ms(expires), id)
	return err
}

// Announcing implements app.SessionStore.
func (s *Store) Announcing(ctx context.Context, id string) error {
	_, err := s.DB.ExecContext(ctx, s.DB.Q(`UPDATE ingest_upload_sessions SET announcing = 1 WHERE id = ?`), id)
	return err
}

// Touch implements app.SessionStore.
func (s *Store) Touch(ctx context.Context, id string, expires time.Time) error {
	_, err := s.DB.ExecContext(ctx, s.DB.Q(`UPDATE ingest_upload_sessions SET expires_at = ? WHERE id = ? AND expires_at < ?`),
		ms(expires), id, ms(expires))
	return err
}

// Delete implements app.SessionStore.
func (s *Store) Delete(ctx context.Context, id string) error {
	_, err := s.DB.ExecContext(ctx, s.DB.Q(`DELETE FROM ingest_upload_sessions WHERE id = ?`), id)
	return err
}

// Usage implements app.SessionStore.
func (s *Store) Usage(ctx context.Context, owner string, now time.Time) (int, int64, error) {
	var n int
	var bytes int64
	err := s.DB.QueryRowContext(ctx, s.DB.Q(`SELECT COUNT(*), COALESCE(SUM(size), 0) FROM ingest_upload_sessions
		WHERE owner = ? AND expires_at > ?`), owner, ms(now)).Scan(&n, &bytes)
	return n, bytes, err
}

// Expired implements app.SessionStore.
func (s *Store) Expired(ctx context.Context, now time.Time, limit int) ([]app.DirectSession, error) {
	rows, err := s.DB.QueryContext(ctx, s.DB.Q(`SELECT `+columns+` FROM ingest_upload_sessions
		WHERE expires_at <= ? AND lease_until < ? ORDER BY expires_at LIMIT ?`), ms(now), ms(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []app.DirectSession
	for rows.Next() {
		d, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
