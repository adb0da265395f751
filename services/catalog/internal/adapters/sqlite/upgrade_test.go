package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/services/catalog/internal/adapters/sqlite"
	"github.com/pertitle/pertitle/services/catalog/internal/analytics"
	"github.com/pertitle/pertitle/services/catalog/internal/app"
	"github.com/pertitle/pertitle/services/catalog/internal/domain"
)

// legacyDatabase makes a database as the catalog before goose left it, at
// schema version upTo, with an asset and a playback event in it.
func legacyDatabase(t *testing.T, upTo int) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.db")
	db, err := sql.Open("sqlite", path+"?_txlock=immediate&_foreign_keys=1")
	require.NoError(t, err)
	defer db.Close()
	db.SetMaxOpenConns(1)
	require.NoError(t, legacyMigrate(ctx, db, upTo))
	_, err = db.Exec(`INSERT INTO assets (id, owner, title, status, created_at, updated_at, ready_transitions)
		VALUES ('old', 'alice', 'From before goose', 'ready', 1000, 2000, 1)`)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO renditions (asset_id, position, width, height, bitrate, average_bitrate, codec, codecs,
		frame_rate, bytes, quality) VALUES ('old', 0, 640, 360, 900000, 800000, 'h264', 'avc1.64001e', 25, 1234,
		'[{"metric":"vmaf","value":93.5}]')`)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO processed_events (consumer, event_id, processed_at) VALUES ('catalog', 'e-old', 1)`)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO playback_events (asset_id, owner, type, session_id, viewer_id, ts, received_at)
		VALUES ('old', 'alice', 'play_start', 's1', 'v1', ?, 0)`, time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).UnixMilli())
	require.NoError(t, err)
	return path
}

func gooseVersions(t *testing.T, path string) []int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT version_id FROM catalog_goose_db_version ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		require.NoError(t, rows.Scan(&v))
		out = append(out, v)
	}
	require.NoError(t, rows.Err())
	return out
}

// A laptop's database from before goose opens with its data, goose records the
// versions it had without running them again, and only what is new is applied.
func TestUpgradeFromHandRolledMigrations(t *testing.T) {
	t.Parallel()
	for _, upTo := range []int{2, 3} {
		ctx := context.Background()
		path := legacyDatabase(t, upTo)
		for range 2 { // and it stays good across restarts
			repo, err := sqlite.Open(ctx, path, sqlite.Options{})
			require.NoError(t, err, "legacy version %d", upTo)
			a, err := repo.Get(ctx, "old")
			require.NoError(t, err)
			assert.Equal(t, "From before goose", a.Title)
			assert.Equal(t, domain.StatusReady, a.Status)
			require.Len(t, a.Renditions, 1)
			assert.Equal(t, []domain.Quality{{Metric: "vmaf", Value: 93.5}}, a.Renditions[0].Quality)
			applied, err := repo.Update(ctx, app.EventKey{Consumer: "catalog", EventID: "e-old"}, "old", func(domain.Asset) (domain.Asset, bool, error) {
				t.Error("an event processed before the upgrade is applied again")
				return domain.Asset{}, false, nil
			})
			require.NoError(t, err)
			assert.False(t, applied)
			rep, err := repo.Report(ctx, analytics.Filter{AssetID: "old"}, time.Hour)
			require.NoError(t, err)
			assert.Equal(t, 1, rep.Plays, "playback events kept")
			require.NoError(t, repo.Close())
		}
		assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6}, gooseVersions(t, path), "legacy version %d: each version recorded once, in order", upTo)
	}
}

func TestRefusesNewerLegacySchema(t *testing.T) {
	t.Parallel()
	path := legacyDatabase(t, 3)
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (4, 0)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	_, err = sqlite.Open(context.Background(), path, sqlite.Options{})
	assert.ErrorContains(t, err, "newer")
}

// Two catalogs starting at once on a new file: one migrates, the other waits
// and finds the schema done.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "catalog.db")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			repo, err := sqlite.Open(context.Background(), path, sqlite.Options{})
			if err == nil {
				err = repo.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6}, gooseVersions(t, path))
}
