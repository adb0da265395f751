package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/pertitle/pertitle/services/catalog/internal/analytics/analyticstest"
)

// Not parallel: the suite measures the process's allocations. 10,000 events:
// SQLite (transpiled C) is slow under -race, and reading that many events into
// Go would already allocate several times the suite's bound; PostgreSQL's run
// reads 200,000.
func TestAnalyticsStoreContract(t *testing.T) {
	analyticstest.RunStoreContract(t, func(t *testing.T) analyticstest.Store {
		return open(t, filepath.Join(t.TempDir(), "catalog.db"))
	}, analyticstest.Options{LargeEvents: 10_000})
}
