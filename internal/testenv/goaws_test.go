package testenv_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testenv"
)

func TestRepoRoot(t *testing.T) {
	root := testenv.RepoRoot(t)
	require.FileExists(t, root+"/go.work")
}

// TestFreePort: ports come from below the kernel's ephemeral range (where
// no other process's ":0" or outgoing connection can take them), are free,
// and are never handed out twice.
func TestFreePort(t *testing.T) {
	seen := map[int]bool{}
	for range 50 {
		p := testenv.FreePort(t)
		require.GreaterOrEqual(t, p, 20000)
		require.Less(t, p, 32768, "below the ephemeral range")
		require.False(t, seen[p], "port %d handed out twice", p)
		seen[p] = true
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		require.NoError(t, err, "port %d is free", p)
		require.NoError(t, l.Close())
	}
}

func TestGoaws(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a goaws process")
	}
	endpoint := testenv.Goaws(t)
	require.True(t, strings.HasPrefix(endpoint, "http://127.0.0.1:"))
	resp, err := http.Post(endpoint+"/", "application/x-www-form-urlencoded",
		strings.NewReader("Action=ListTopics&Version=2010-03-31"))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestPostgresGivesEachTestItsOwnDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a PostgreSQL server")
	}
	ctx := context.Background()
	a, b := testenv.Postgres(t), testenv.Postgres(t)
	require.NotEqual(t, a, b)
	ca, err := pgx.Connect(ctx, a)
	require.NoError(t, err)
	defer ca.Close(ctx)
	_, err = ca.Exec(ctx, "CREATE TABLE only_here (x int)")
	require.NoError(t, err)
	cb, err := pgx.Connect(ctx, b)
	require.NoError(t, err)
	defer cb.Close(ctx)
	var n int
	require.NoError(t, cb.QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'only_here'").Scan(&n))
	assert.Zero(t, n, "a table made in one test's database is not in another's")
}
