package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testmedia"
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

// TestReplicasShareTheirStateOnPostgres: two encoder workers and two
// catalogs, every service claiming its events in one PostgreSQL state
// database. A chunked title becomes ready once, and the claims show that
// every consuming service, on every queue the title went through, recorded
// its work there as done, each event once.
func TestReplicasShareTheirStateOnPostgres(t *testing.T) {
	skipShort(t)
	t.Parallel()
	s := stack.Start(t, stack.Options{Postgres: true, Catalogs: 2, Workers: 2, StateDB: true,
		Env: map[string]string{"PERTITLE_CHUNK_SECONDS": "8", "PERTITLE_LADDER_MODE": "fixed"}})
	clip := testmedia.Scenes(t, testmedia.ScenesSpec{Width: 320, Height: 180, Rate: "25", Scenes: []float64{9, 9}, Audio: true})
	code, body := s.Upload(clip, "Shared state")
	require.Equal(t, http.StatusAccepted, code, body)
	id := body["id"].(string)
	a := s.WaitStatus(id, 4*time.Minute, "ready", "failed")
	require.Equal(t, "ready", a.Status, a.Error)
	assert.Equal(t, 1, a.ReadyTransitions)

	ctx := context.Background()
	db, err := pgx.Connect(ctx, s.StateDB)
	require.NoError(t, err)
	defer db.Close(ctx)
	states := map[string]map[string]int{} // queue -> state -> claims
	rows, err := db.Query(ctx, `SELECT key, state, attempts FROM idempotency_claims`)
	require.NoError(t, err)
	for rows.Next() {
		var key, state string
		var attempts int
		require.NoError(t, rows.Scan(&key, &state, &attempts))
		queue, _, _ := strings.Cut(key, "/")
		if states[queue] == nil {
			states[queue] = map[string]int{}
		}
		states[queue][state]++
		assert.Equal(t, 1, attempts, "%s: claimed once", key)
	}
	require.NoError(t, rows.Err())
	for _, q := range []string{"encoder-dispatch--asset-uploaded", "encoder-dispatch--encoding-requested",
		"encoder-dispatch--chunk-requested", "catalog--asset-uploaded", "catalog--encoding-finished"} {
		var done int
		for queue, byState := range states {
			if strings.HasSuffix(queue, q) {
				done += byState["done"]
			}
		}
		assert.Positive(t, done, "%s: its events are claimed done in the shared state database (%v)", q, states)
	}
}
