package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testenv"
	"github.com/pertitle/pertitle/services/issuer/internal/adapters/sqlstore"
	"github.com/pertitle/pertitle/services/issuer/internal/app"
	"github.com/pertitle/pertitle/services/issuer/internal/app/apptest"
)

func open(t *testing.T, dsn string) app.Store {
	s, err := sqlstore.Open(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSQLiteContract(t *testing.T) {
	t.Parallel()
	apptest.Run(t, func(t *testing.T) string { return filepath.Join(t.TempDir(), "sub", "issuer.db") }, open)
}

func TestPostgresContract(t *testing.T) {
	t.Parallel()
	apptest.Run(t, func(t *testing.T) string { return testenv.Postgres(t) }, open)
}

// TestReopenKeepsState: a store reopened on its file (a restarted issuer)
// still honours what the first handed out, and migrating again is a no-op.
func TestReopenKeepsState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := filepath.Join(t.TempDir(), "issuer.db")
	s, err := sqlstore.Open(ctx, dsn)
	require.NoError(t, err)
	require.NoError(t, s.SaveCode(ctx, "c", app.Code{Sub: "s"}))
	require.NoError(t, s.Close())
	s2 := open(t, dsn)
	got, err := s2.TakeCode(ctx, "c")
	require.NoError(t, err)
	require.Equal(t, "s", got.Sub)
}

func TestOpenRefusesBadSettings(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{"", "x.db?mode=memory", "postgres://u:secret@[bad"} {
		_, err := sqlstore.Open(context.Background(), dsn)
		require.Error(t, err, dsn)
		require.NotContains(t, err.Error(), "secret")
	}
}
