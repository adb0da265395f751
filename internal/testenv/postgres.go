package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultPostgresURL is the server tests use when PERTITLE_TEST_POSTGRES_URL
// is not set: the one scripts/deps.sh --test installs and starts.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// PostgresServer returns the URL of the test server (PERTITLE_TEST_POSTGRES_URL,
// else DefaultPostgresURL).
func PostgresServer() string {
	if u := os.Getenv("PERTITLE_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// Postgres creates a fresh database on the test server for this test and
// returns its URL; the database is dropped when the test ends. A server that
// does not answer fails the test: PostgreSQL is a real part of what is
// tested, never silently skipped (scripts/deps.sh --test provides one).
func Postgres(t testing.TB) string {
	t.Helper()
	server := PostgresServer()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("testenv: no PostgreSQL at %s (set PERTITLE_TEST_POSTGRES_URL, or run scripts/deps.sh --test): %v", redact(server), err)
	}
	defer admin.Close(context.Background())
	name := "t_" + strings.ToLower(randomHex(8))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: cannot create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Logf("testenv: cannot drop database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("testenv: cannot drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("testenv: PERTITLE_TEST_POSTGRES_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// redact hides a password in a connection URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}
