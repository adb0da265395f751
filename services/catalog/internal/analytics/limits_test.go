package analytics_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/services/catalog/internal/analytics"
)

// sendFrom posts a batch from a client address.
func sendFrom(h http.Handler, addr, target string, body []byte, p *auth.Principal) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	req.RemoteAddr = addr + ":40000"
	if p != nil {
		req = req.WithContext(auth.WithPrincipal(req.Context(), *p))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// batchOf is n play_start events of asset, each from a fresh viewer_id, as a
// sender who picks its own ids would send them.
func batchOf(asset string, n int, viewerPrefix string) []byte {
	evs := make([]analytics.Event, n)
	for i := range evs {
		evs[i] = ev(analytics.PlayStart, asset, "s1", 0)
		evs[i].ViewerID = viewerPrefix + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	return mustJSON(evs)
}

// TestBeaconLimitIgnoresViewerID (issue 10, finding 3): fresh viewer ids do not
// buy fresh buckets; the bucket is the asset's and the client address's.
func TestBeaconLimitIgnoresViewerID(t *testing.T) {
	t.Parallel()
	h, st := newHandler(100) // 100 at once, then 1 a second
	const attacker, neighbour = "203.0.113.9", "198.51.100.20"
	require.Equal(t, http.StatusAccepted, sendFrom(h, attacker, "/v1/analytics/events?token=ok-a1", batchOf("a1", 60, "x"), nil).Code)
	rec := sendFrom(h, attacker, "/v1/analytics/events?token=ok-a1", batchOf("a1", 60, "y"), nil)
	assert.Equal(t, http.StatusTooManyRequests, rec.Code, "new viewer ids, same asset and address")
	assert.Equal(t, "20", rec.Header().Get("Retry-After"), "40 tokens left, 60 needed, 1 a second")
	assert.Equal(t, http.StatusAccepted, sendFrom(h, attacker, "/v1/analytics/events?token=ok-a1", batchOf("a1", 40, "z"), nil).Code,
		"what is left is still spendable")
	assert.Equal(t, http.StatusAccepted, sendFrom(h, neighbour, "/v1/analytics/events?token=ok-a1", batchOf("a1", 100, "n"), nil).Code,
		"an honest viewer elsewhere has a full bucket")
	assert.Equal(t, http.StatusAccepted, sendFrom(h, attacker, "/v1/analytics/events?token=ok-a2", batchOf("a2", 100, "w"), nil).Code,
		"another asset has its own bucket")
	assert.Len(t, st.events, 300)
}

// TestBeaconLimitChargedAfterAuthorisation (finding 3): requests that are not let
// in spend nothing, so anonymous or forged beacons from a viewer's own network
// cannot drain the viewer's bucket.
func TestBeaconLimitChargedAfterAuthorisation(t *testing.T) {
	t.Parallel()
	h, st := newHandler(100)
	const viewer = "203.0.113.50"
	for range 20 {
		require.Equal(t, http.StatusUnauthorized, sendFrom(h, viewer, "/v1/analytics/events", batchOf("a1", 100, "x"), nil).Code)
		require.Equal(t, http.StatusForbidden, sendFrom(h, viewer, "/v1/analytics/events?token=forged", batchOf("a1", 100, "x"), nil).Code)
		require.Equal(t, http.StatusForbidden, sendFrom(h, viewer, "/v1/analytics/events?token=ok-a2", batchOf("a1", 100, "x"), nil).Code)
	}
	assert.Equal(t, http.StatusAccepted, sendFrom(h, viewer, "/v1/analytics/events?token=ok-a1", batchOf("a1", 100, "v"), nil).Code,
		"the real viewer's full burst is intact")
	assert.Len(t, st.events, 100)
}

// TestBeaconLimitPerSignedInUser: a signed-in sender is counted as itself, not by
// the address it shares with others.
func TestBeaconLimitPerSignedInUser(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(100)
	alice := &auth.Principal{Subject: "alice"}
	const office = "192.0.2.77"
	require.Equal(t, http.StatusAccepted, sendFrom(h, office, "/v1/analytics/events", batchOf("a1", 100, "a"), alice).Code)
	rec := sendFrom(h, office, "/v1/analytics/events", batchOf("a1", 1, "a"), alice)
	assert.Equal(t, http.StatusTooManyRequests, rec.Code)
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	assert.Equal(t, http.StatusAccepted, sendFrom(h, office, "/v1/analytics/events?token=ok-a1", batchOf("a1", 100, "b"), nil).Code,
		"a token viewer at the same address has the address's own bucket")
}
