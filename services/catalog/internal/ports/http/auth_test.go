package http_test

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/storage"
	cataloghttp "github.com/pertitle/pertitle/services/catalog/internal/ports/http"
)

func TestAPICallerScoping(t *testing.T) {
	t.Parallel()
	fs, err := storage.NewFS(filepath.Join(t.TempDir(), "storage"))
	require.NoError(t, err)
	q := fixture() // a-ready is alice's, a-enc bob's
	h := cataloghttp.New(cataloghttp.Config{}, q, fs, nil).Handler(nil)

	t.Run("no caller", func(t *testing.T) {
		for _, target := range []string{"/v1/assets", "/v1/assets/a-ready", "/v1/assets/unknown"} {
			rec := do(h, http.MethodGet, target)
			assert.Equal(t, http.StatusUnauthorized, rec.Code, target)
			assert.Equal(t, `Bearer realm="pertitle"`, rec.Header().Get("WWW-Authenticate"))
		}
	})
	t.Run("get", func(t *testing.T) {
		tests := []struct {
			name   string
			caller auth.Principal
			id     string
			code   int
		}{
			{"owner", alice, "a-ready", http.StatusOK},
			{"other user", bob, "a-ready", http.StatusNotFound},
			{"missing", bob, "unknown", http.StatusNotFound},
			{"admin", admin, "a-enc", http.StatusOK},
		}
		missing := do(as(bob, h), http.MethodGet, "/v1/assets/unknown")
		for _, tc := range tests {
			rec := do(as(tc.caller, h), http.MethodGet, "/v1/assets/"+tc.id)
			assert.Equal(t, tc.code, rec.Code, tc.name)
			if tc.code == http.StatusNotFound {
				assert.Equal(t, missing.Body.String(), rec.Body.String(), "%s: same answer as a missing asset", tc.name)
				assert.Equal(t, missing.Header(), rec.Header(), tc.name)
			}
		}
	})
	t.Run("list", func(t *testing.T) {
		tests := []struct {
			name      string
			caller    auth.Principal
			query     string
			wantOwner string
		}{
			{"user sees their own", alice, "", "alice"},
			{"owner filter is ignored for users", bob, "?owner=alice", "bob"},
			{"admin sees all", admin, "", ""},
			{"admin filters by owner", admin, "?owner=bob", "bob"},
		}
		for _, tc := range tests {
			rec := do(as(tc.caller, h), http.MethodGet, "/v1/assets"+tc.query)
			require.Equal(t, http.StatusOK, rec.Code, tc.name)
			assert.Equal(t, tc.wantOwner, q.last.Owner, tc.name)
		}
	})
}
