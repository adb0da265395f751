package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/pertitle/pertitle/services/catalog/internal/adapters/sqlite"
	"github.com/pertitle/pertitle/services/catalog/internal/app"
	"github.com/pertitle/pertitle/services/catalog/internal/app/apptest"
	"github.com/pertitle/pertitle/services/catalog/internal/domain"
)

func open(t *testing.T, path string) *sqlite.Repository {
	t.Helper()
	repo, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = repo.Close() })
	return repo
}

func TestRepositoryContract(t *testing.T) {
	t.Parallel()
	apptest.RunRepositoryContract(t, func(t *testing.T) app.Repository {
		return open(t, filepath.Join(t.TempDir(), "catalog.db"))
	})
}

func TestMigrationsIdempotentAcrossReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nested", "dir", "catalog.db") // parent directories are created
	repo, err := sqlite.Open(ctx, path, sqlite.Options{})
	require.NoError(t, err)
	apptest.Put(t, repo, domain.Asset{ID: "a1", Status: domain.StatusUploaded, CreatedAt: time.Unix(10, 0).UTC(), UpdatedAt: time.Unix(10, 0).UTC()})
	require.NoError(t, repo.Close())

	for range 2 {
		repo, err = sqlite.Open(ctx, path, sqlite.Options{})
		require.NoError(t, err)
		a, err := repo.Get(ctx, "a1")
		require.NoError(t, err)
		assert.Equal(t, domain.StatusUploaded, a.Status)
		require.NoError(t, repo.Close())
	}

	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	var versions, maxVersion int
	require.NoError(t, db.QueryRow(`SELECT COUNT(*), MAX(version_id) FROM catalog_goose_db_version WHERE version_id > 0`).Scan(&versions, &maxVersion))
	assert.Equal(t, versions, maxVersion, "each migration recorded once")
	assert.Equal(t, 6, maxVersion)
	var mode string
	require.NoError(t, db.QueryRow(`PRAGMA journal_mode`).Scan(&mode))
	assert.Equal(t, "wal", mode)
}

func TestRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.db")
	repo := open(t, path)
	require.NoError(t, repo.Close())
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO catalog_goose_db_version (version_id, is_applied) VALUES (999, 1)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	_, err = sqlite.Open(ctx, path, sqlite.Options{})
	assert.ErrorContains(t, err, "newer")
}

func TestPruneProcessed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	repo := open(t, filepath.Join(t.TempDir(), "catalog.db"))
	apptest.Put(t, repo, domain.Asset{ID: "a1", Status: domain.StatusUploaded, CreatedAt: time.Unix(10, 0).UTC()})
	n, err := repo.PruneProcessed(ctx, time.Now().Add(time.Hour))
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
}

func TestInvalidPath(t *testing.T) {
	t.Parallel()
	_, err := sqlite.Open(context.Background(), "var/cat?alog.db", sqlite.Options{})
	assert.Error(t, err)
}

func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	repo, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "catalog.db"), sqlite.Options{})
	require.NoError(b, err)
	defer repo.Close()
	a := domain.Asset{ID: "a1", Status: domain.StatusReady, CreatedAt: time.Unix(10, 0).UTC(),
		Renditions: make([]domain.Rendition, 6)}
	for i := range a.Renditions {
		a.Renditions[i] = domain.Rendition{Width: 640 * (i + 1), Height: 360 * (i + 1), Bitrate: int64(i) * 1e6, Codec: "h264",
			Quality: []domain.Quality{{Metric: "vmaf", Value: 90}}}
	}
	_, err = repo.Update(ctx, app.EventKey{Consumer: "b", EventID: "1"}, "a1", func(domain.Asset) (domain.Asset, bool, error) { return a, true, nil })
	require.NoError(b, err)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := repo.Get(ctx, "a1"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
