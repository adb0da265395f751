package sqldb_test

import (
	"context"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/sqldb"
	"github.com/pertitle/pertitle/internal/testenv"
)

func schema(files ...string) sqldb.Schema {
	fsys := fstest.MapFS{}
	for i, sql := range files {
		fsys[filepath.Join("m", []string{"00001_a.sql", "00002_b.sql"}[i])] = &fstest.MapFile{Data: []byte(sql)}
	}
	return sqldb.Schema{Migrations: fsys, Dir: "m", VersionTable: "t_goose", LockID: 42}
}

const v1 = "-- +goose Up\nCREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT NOT NULL);\n-- +goose Down\nDROP TABLE t;\n"
const v2 = "-- +goose Up\nALTER TABLE t ADD COLUMN w TEXT NOT NULL DEFAULT '';\n-- +goose Down\nSELECT 1;\n"

// TestOpenMigratesOnceAndRefusesNewer: both databases take the same portable
// SQL with ? placeholders, migrate forward on reopen, and a binary that knows
// fewer migrations than the database refuses it.
func TestOpenMigratesOnceAndRefusesNewer(t *testing.T) {
	t.Parallel()
	for name, dsn := range map[string]string{"sqlite": filepath.Join(t.TempDir(), "d", "x.db"), "postgres": testenv.Postgres(t)} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db, err := sqldb.Open(ctx, dsn, schema(v1))
			require.NoError(t, err)
			_, err = db.ExecContext(ctx, db.Q(`INSERT INTO t (k, v) VALUES (?, ?)`), "a", 1)
			require.NoError(t, err)
			require.NoError(t, db.Close())

			db, err = sqldb.Open(ctx, dsn, schema(v1, v2))
			require.NoError(t, err)
			var w string
			var v int64
			require.NoError(t, db.QueryRowContext(ctx, db.Q(`SELECT v, w FROM t WHERE k = ?`), "a").Scan(&v, &w))
			assert.EqualValues(t, 1, v, "the data survives the migration")
			require.NoError(t, db.Ping(ctx))
			require.NoError(t, db.Close())

			_, err = sqldb.Open(ctx, dsn, schema(v1))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "newer than this binary")
		})
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	assert.NoError(t, sqldb.Check("var/x.db"))
	assert.NoError(t, sqldb.Check("postgres://u@h/db"))
	for _, bad := range []string{"", "x.db?mode=memory", "x#y", "postgres://u:secret@[::1"} {
		err := sqldb.Check(bad)
		require.Error(t, err, bad)
		assert.NotContains(t, err.Error(), "secret")
	}
}
