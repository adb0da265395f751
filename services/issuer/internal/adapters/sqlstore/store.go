// Package sqlstore keeps the issuer's sign-in state in SQL: a SQLite file, or
// PostgreSQL shared by replicas (internal/sqldb). One implementation, portable
// SQL; it passes the contract suite (app/apptest) on both.
//
// Races between processes are settled by row locks: a token is spent by one
// conditional UPDATE, and issuing a token of a family and revoking it both
// write the family's row first, so one waits for the other.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/pertitle/pertitle/internal/sqldb"
	"github.com/pertitle/pertitle/services/issuer/internal/app"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store implements app.Store (Close and Ping are the database's).
type Store struct{ *sqldb.DB }

var _ app.Store = (*Store)(nil)

// Open opens dsn (a SQLite file path or a postgres:// URL) and migrates it.
func Open(ctx context.Context, dsn string) (*Store, error) {
	db, err := sqldb.Open(ctx, dsn, sqldb.Schema{Migrations: migrationFiles, Dir: "migrations", VersionTable: "issuer_goose_db_version",
		LockID: 0x6973737565720001}) // "issuer" + 1
	if err != nil {
		return nil, fmt.Errorf("issuer state: %w", err)
	}
	return &Store{db}, nil
}

func ms(t time.Time) int64 { return sqldb.Millis(t) }

// SaveCode implements app.Store.
func (s *Store) SaveCode(ctx context.Context, hash string, c app.Code) error {
	_, err := s.DB.ExecContext(ctx, s.DB.Q(`INSERT INTO issuer_codes
		(hash, client, redirect, state, nonce, scope, challenge, sub, auth_time, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		hash, c.Client, c.Redirect, c.State, c.Nonce, c.Scope, c.Challenge, c.Sub, ms(c.AuthTime), ms(c.Expires))
	return err
}

// TakeCode implements app.Store.
func (s *Store) TakeCode(ctx context.Context, hash string) (app.Code, error) {
	var c app.Code
	var authTime, expires int64
	err := s.DB.QueryRowContext(ctx, s.DB.Q(`DELETE FROM issuer_codes WHERE hash = ?
		RETURNING client, redirect, state, nonce, scope, challenge, sub, auth_time, expires_at`), hash).
		Scan(&c.Client, &c.Redirect, &c.State, &c.Nonce, &c.Scope, &c.Challenge, &c.Sub, &authTime, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return app.Code{}, app.ErrNotFound
	}
	c.AuthTime, c.Expires = sqldb.Time(authTime), sqldb.Time(expires)
	return c, err
}

// SaveRefresh implements app.Store. The family's row is written (and so
// locked) first: a concurrent revocation either precedes it, and nothing is
// saved, or follows it and deletes the new token with the others.
func (s *Store) SaveRefresh(ctx context.Context, hash string, r app.Refresh) error {
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var fam string
		err := tx.QueryRowContext(ctx, s.DB.Q(`INSERT INTO issuer_families (family, revoked, expires_at) VALUES (?, 0, ?)
			ON CONFLICT (family) DO UPDATE SET expires_at = CASE WHEN excluded.expires_at > issuer_families.expires_at
				THEN excluded.expires_at ELSE issuer_families.expires_at END
			WHERE issuer_families.revoked = 0
			RETURNING family`), r.Family, ms(r.Expires)).Scan(&fam)
		if errors.Is(err, sql.ErrNoRows) {
			return app.ErrRevoked
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.DB.Q(`INSERT INTO issuer_refresh_tokens
			(hash, family, client, sub, scope, auth_time, expires_at, used) VALUES (?, ?, ?, ?, ?, ?, ?, 0)`),
			hash, r.Family, r.Client, r.Sub, r.Scope, ms(r.AuthTime), ms(r.Expires))
		return err
	})
}

// UseRefresh implements app.Store.
func (s *Store) UseRefresh(ctx context.Context, hash, client string, now time.Time) (app.Refresh, error) {
	var r app.Refresh
	var authTime, expires int64
	err := s.DB.QueryRowContext(ctx, s.DB.Q(`UPDATE issuer_refresh_tokens SET used = 1
		WHERE hash = ? AND used = 0 AND client = ? AND expires_at > ?
		RETURNING family, client, sub, scope, auth_time, expires_at`), hash, client, ms(now)).
		Scan(&r.Family, &r.Client, &r.Sub, &r.Scope, &authTime, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return app.Refresh{}, s.whyUnusable(ctx, hash, client)
	}
	if err != nil {
		return app.Refresh{}, err
	}
	r.AuthTime, r.Expires = sqldb.Time(authTime), sqldb.Time(expires)
	return r, nil
}

// whyUnusable tells why a token could not be spent, revoking its family when
// it had been spent before.
func (s *Store) whyUnusable(ctx context.Context, hash, client string) error {
	var family, owner string
	var used int
	err := s.DB.QueryRowContext(ctx, s.DB.Q(`SELECT family, client, used FROM issuer_refresh_tokens WHERE hash = ?`), hash).
		Scan(&family, &owner, &used)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return app.ErrNotFound
	case err != nil:
		return err
	case used == 1:
		if err := s.revoke(ctx, family); err != nil {
			return fmt.Errorf("cannot revoke a replayed token's family: %w", err)
		}
		return app.ErrReplayed
	case owner != client:
		return app.ErrWrongClient
	}
	return app.ErrExpired
}

// revoke ends a family: no token of it works or is issued any more.
func (s *Store) revoke(ctx context.Context, family string) error {
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.DB.Q(`UPDATE issuer_families SET revoked = 1 WHERE family = ?`), family); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.DB.Q(`DELETE FROM issuer_refresh_tokens WHERE family = ? AND used = 0`), family)
		return err
	})
}

// Secret implements app.Store.
func (s *Store) Secret(ctx context.Context, name string, value []byte) ([]byte, error) {
	if _, err := s.DB.ExecContext(ctx, s.DB.Q(`INSERT INTO issuer_secrets (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO NOTHING`), name, base64.StdEncoding.EncodeToString(value)); err != nil {
		return nil, err
	}
	var kept string
	if err := s.DB.QueryRowContext(ctx, s.DB.Q(`SELECT value FROM issuer_secrets WHERE name = ?`), name).Scan(&kept); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(kept)
}

// Sweep implements app.Store.
func (s *Store) Sweep(ctx context.Context, now time.Time) error {
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`DELETE FROM issuer_codes WHERE expires_at <= ?`,
			`DELETE FROM issuer_refresh_tokens WHERE family IN (SELECT family FROM issuer_families WHERE expires_at <= ?)`,
			`DELETE FROM issuer_families WHERE expires_at <= ?`,
			`DELETE FROM issuer_refresh_tokens WHERE used = 0 AND expires_at <= ?`,
			`DELETE FROM issuer_signin_failures WHERE forget_at <= ?`,
		} {
			if _, err := tx.ExecContext(ctx, s.DB.Q(q), ms(now)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Failures implements app.Store.
func (s *Store) Failures(ctx context.Context, key string, now time.Time) (int, time.Time, error) {
	var n int
	var until int64
	err := s.DB.QueryRowContext(ctx, s.DB.Q(`SELECT failures, until FROM issuer_signin_failures
		WHERE key = ? AND forget_at > ?`), key, ms(now)).Scan(&n, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	return n, sqldb.Time(until), err
}

// Fail implements app.Store: one statement, so that failures counted at once
// by several replicas all count.
func (s *Store) Fail(ctx context.Context, key string, now time.Time, forgetAfter time.Duration) (int, error) {
	var n int
	err := s.DB.QueryRowContext(ctx, s.DB.Q(`INSERT INTO issuer_signin_failures (key, failures, until, forget_at)
		VALUES (?, 1, ?, ?)
		ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN issuer_signin_failures.forget_at <= excluded.until
			THEN 1 ELSE issuer_signin_failures.failures + 1 END,
			forget_at = CASE WHEN issuer_signin_failures.forget_at < excluded.forget_at
			THEN excluded.forget_at ELSE issuer_signin_failures.forget_at END
		RETURNING failures`), key, ms(now), ms(now.Add(forgetAfter))).Scan(&n)
	return n, err
}

// Wait implements app.Store.
func (s *Store) Wait(ctx context.Context, key string, until, forgetAt time.Time) error {
	_, err := s.DB.ExecContext(ctx, s.DB.Q(`UPDATE issuer_signin_failures SET until = ?, forget_at = ? WHERE key = ?`),
		ms(until), ms(forgetAt), key)
	return err
}

// Succeed implements app.Store.
func (s *Store) Succeed(ctx context.Context, key string) error {
	_, err := s.DB.ExecContext(ctx, s.DB.Q(`DELETE FROM issuer_signin_failures WHERE key = ?`), key)
	return err
}
