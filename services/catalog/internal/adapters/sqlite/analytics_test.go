package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/pertitle/pertitle/services/catalog/internal/analytics/analyticstest"
)

// Not parallel: the suite measures the process's allocations.
func TestAnalyticsStoreContract(t *testing.T) {
	analyticstest.RunStoreContract(t, func(t *testing.T) analyticstest.Store {
		return open(t, filepath.Join(t.TempDir(), "catalog.db"))
	}, analyticstest.Options{})
}
