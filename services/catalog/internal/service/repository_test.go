package service

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/internal/testenv"
	"github.com/pertitle/pertitle/services/catalog/internal/adapters/postgres"
	"github.com/pertitle/pertitle/services/catalog/internal/adapters/sqlite"
	"github.com/pertitle/pertitle/services/catalog/internal/analytics"
)

// PERTITLE_CATALOG_DB picks the adapter, and prune applies the analytics
// retention to either.
func TestOpenRepositoryAndRetention(t *testing.T) {
	t.Parallel()
	for name, db := range map[string]string{
		"sqlite":   filepath.Join(t.TempDir(), "catalog.db"),
		"postgres": testenv.Postgres(t),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			repo, err := openRepository(context.Background(), db)
			require.NoError(t, err)
			defer repo.Close()
			switch name {
			case "sqlite":
				assert.IsType(t, &sqlite.Repository{}, repo)
			case "postgres":
				assert.IsType(t, &postgres.Repository{}, repo)
			}
			now := time.Now()
			old := analytics.Event{Type: analytics.PlayStart, AssetID: "a1", SessionID: "s1", ViewerID: "v1", TS: now.Add(-48 * time.Hour).UnixMilli()}
			fresh := old
			fresh.SessionID, fresh.TS = "s2", now.Add(-time.Hour).UnixMilli()
			require.NoError(t, repo.AppendEvents(context.Background(), map[string]string{"a1": "alice"}, []analytics.Event{old, fresh}))

			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { prune(ctx, repo, 24*time.Hour, zap.NewNop()); close(done) }()
			assert.Eventually(t, func() bool {
				r, err := repo.Report(context.Background(), analytics.Filter{All: true}, time.Hour)
				return err == nil && r.Plays == 1
			}, 10*time.Second, 20*time.Millisecond, "the event past retention is deleted, the fresh one kept")
			cancel()
			<-done
		})
	}
}
