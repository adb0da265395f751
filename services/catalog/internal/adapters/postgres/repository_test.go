package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testenv"
	"github.com/pertitle/pertitle/services/catalog/internal/adapters/postgres"
	"github.com/pertitle/pertitle/services/catalog/internal/analytics/analyticstest"
	"github.com/pertitle/pertitle/services/catalog/internal/app"
	"github.com/pertitle/pertitle/services/catalog/internal/app/apptest"
	"github.com/pertitle/pertitle/services/catalog/internal/domain"
)

func open(t *testing.T, url string) *postgres.Repository {
	t.Helper()
	repo, err := postgres.Open(context.Background(), url, postgres.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = repo.Close() })
	return repo
}

func TestRepositoryContract(t *testing.T) {
	t.Parallel()
	apptest.RunRepositoryContract(t, func(t *testing.T) app.Repository {
		return open(t, testenv.Postgres(t))
	})
}

// Not parallel: the suite measures the process's allocations.
func TestAnalyticsStoreContract(t *testing.T) {
	analyticstest.RunStoreContract(t, func(t *testing.T) analyticstest.Store {
		return open(t, testenv.Postgres(t))
	}, analyticstest.Options{})
}

// Replicas starting at once on a fresh database: goose's advisory lock lets one
// migrate, and each version is recorded once.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	t.Parallel()
	url := testenv.Postgres(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			repo, err := postgres.Open(context.Background(), url, postgres.Options{MaxConns: 2})
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
	assert.Equal(t, []int64{0, 1, 2, 3, 4, 5, 6}, versions(t, url))
}

func versions(t *testing.T, url string) []int64 {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer c.Close(ctx)
	rows, err := c.Query(ctx, `SELECT version_id FROM catalog_goose_db_version ORDER BY id`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	return out
}

func TestRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.Postgres(t)
	require.NoError(t, open(t, url).Close())
	c, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	_, err = c.Exec(ctx, `INSERT INTO catalog_goose_db_version (version_id, is_applied) VALUES (999, true)`)
	require.NoError(t, err)
	require.NoError(t, c.Close(ctx))
	_, err = postgres.Open(ctx, url, postgres.Options{})
	assert.ErrorContains(t, err, "newer")
}

// Two repositories on one database (two catalog replicas) see each other's
// writes, and an event delivered to both applies once.
func TestReplicasShareOneDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.Postgres(t)
	a, b := open(t, url), open(t, url)
	var wg sync.WaitGroup
	applied := make([]bool, 2)
	for i, repo := range []*postgres.Repository{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := repo.Update(ctx, app.EventKey{Consumer: "catalog", EventID: "e1"}, "x", func(cur domain.Asset) (domain.Asset, bool, error) {
				cur.Status, cur.CreatedAt, cur.ReadyTransitions = domain.StatusReady, time.Unix(5, 0).UTC(), cur.ReadyTransitions+1
				return cur, true, nil
			})
			assert.NoError(t, err)
			applied[i] = ok
		}()
	}
	wg.Wait()
	assert.ElementsMatch(t, []bool{true, false}, applied, "one replica applies the event")
	for _, repo := range []*postgres.Repository{a, b} {
		got, err := repo.Get(ctx, "x")
		require.NoError(t, err)
		assert.Equal(t, 1, got.ReadyTransitions)
		p, err := repo.List(ctx, app.ListFilter{Limit: 10})
		require.NoError(t, err)
		require.Len(t, p.Assets, 1)
	}
}

func TestPruneProcessed(t *testing.T) {
	t.Parallel()
	repo := open(t, testenv.Postgres(t))
	apptest.Put(t, repo, domain.Asset{ID: "a1", Status: domain.StatusUploaded, CreatedAt: time.Unix(10, 0).UTC()})
	n, err := repo.PruneProcessed(context.Background(), time.Now().Add(time.Hour))
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
}

func TestInvalidURL(t *testing.T) {
	t.Parallel()
	_, err := postgres.Open(context.Background(), "postgres://user:hunter2@127.0.0.1:1/x?sslmode=nonsense", postgres.Options{})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2", "the password never shows in an error")
}
