package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/testmedia"
	"github.com/pertitle/pertitle/tests/stack"
)

// TestCatalogReplicasOnPostgres runs two catalog processes on one PostgreSQL
// database, consuming the same queue: a clip goes the whole way to ready, and
// both replicas answer the same asset list and the same analytics, whichever
// one took the events and the beacons.
func TestCatalogReplicasOnPostgres(t *testing.T) {
	skipShort(t)
	t.Parallel()
	s := stack.Start(t, stack.Options{Postgres: true, Catalogs: 2})
	clip := testmedia.Clip(t, testmedia.Spec{Width: 320, Height: 180, Seconds: 2, FPS: 25})
	code, body := s.Upload(clip, "On PostgreSQL")
	require.Equal(t, http.StatusAccepted, code, body)
	id := body["id"].(string)
	a := s.WaitStatus(id, 3*time.Minute, "ready")
	assert.Equal(t, 1, a.ReadyTransitions)

	type listed struct {
		ID, Title, Status string
		ReadyTransitions  int `json:"ready_transitions"`
		Renditions        []json.RawMessage
	}
	list := func(catalog string) []listed {
		code, b := s.GetAs("alice", s.URL(catalog, "/v1/assets"))
		require.Equal(t, http.StatusOK, code, "%s: %s", catalog, b)
		var page struct{ Assets []listed }
		require.NoError(t, json.Unmarshal(b, &page))
		return page.Assets
	}
	first := list("catalog")
	require.Len(t, first, 1)
	assert.Equal(t, id, first[0].ID)
	assert.NotEmpty(t, first[0].Renditions)
	assert.Equal(t, first, list(stack.Catalog(2)), "both replicas list the same assets")

	// A beacon sent to one replica with the token the other handed out shows in
	// the other's report.
	code, b := s.GetAs("alice", s.URL("catalog", "/v1/assets/"+id))
	require.Equal(t, http.StatusOK, code)
	var withToken struct {
		BeaconToken string `json:"beacon_token"`
	}
	require.NoError(t, json.Unmarshal(b, &withToken))
	beacon := fmt.Sprintf(`[{"type":"play_start","asset_id":%q,"session_id":"s1","viewer_id":"v1","ts":%d}]`, id, time.Now().UnixMilli())
	resp, err := http.Post(s.URL(stack.Catalog(2), "/v1/analytics/events?token="+withToken.BeaconToken), "application/json", bytes.NewBufferString(beacon))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	for _, c := range []string{"catalog", stack.Catalog(2)} {
		code, b := s.GetAs("alice", s.URL(c, "/v1/analytics/assets/"+id))
		require.Equal(t, http.StatusOK, code, "%s: %s", c, b)
		var rep struct{ Plays int }
		require.NoError(t, json.Unmarshal(b, &rep))
		assert.Equal(t, 1, rep.Plays, c)
	}
}
