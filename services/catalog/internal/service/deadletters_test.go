package service

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
)

// loopback publishes into the catalog's own projection, as the bus would.
type loopback struct {
	s   *Service
	got []*eventsv1.Envelope
}

func (l *loopback) Publish(ctx context.Context, env *eventsv1.Envelope) error {
	l.got = append(l.got, env)
	return l.s.Messages(nil).Project(ctx, env)
}

func TestDeadLettersEndTheAttemptTheyBelongTo(t *testing.T) {
	t.Parallel()
	s, _ := component(t)
	ctx := context.Background()
	j := journey(t, assetID)
	pub := &loopback{s: s}
	sweep := s.Messages(pub).OnDeadLetter

	// Uploaded and started; the Finished that follows could not be recorded.
	require.NoError(t, s.Messages(nil).Project(ctx, j[0]))
	require.NoError(t, s.Messages(nil).Project(ctx, j[1]))
	require.NoError(t, sweep(ctx, bus.DeadLetter{Env: j[3], Queue: "catalog--encoding-finished", MaxReceives: 5}))
	code, a := getJSON(t, s.Handler(), "/v1/assets/"+assetID)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "failed", a["status"], "an asset whose end could not be recorded does not stay encoding")
	assert.Contains(t, a["error"], "could not record EncodingFinished: not handled after 5 deliveries")

	// Swept again: the same failure, collapsed.
	require.NoError(t, sweep(ctx, bus.DeadLetter{Env: j[3], MaxReceives: 5}))
	require.Len(t, pub.got, 2)
	assert.Equal(t, pub.got[0].GetEventId(), pub.got[1].GetEventId())

	// A failure that cannot be recorded is not answered with another one.
	require.NoError(t, sweep(ctx, bus.DeadLetter{Env: pub.got[0]}))
	assert.Len(t, pub.got, 2)
}

func TestADeadProgressReportDoesNotUndoAReadyAsset(t *testing.T) {
	t.Parallel()
	s, _ := component(t)
	ctx := context.Background()
	j := journey(t, assetID)
	for _, e := range []*eventsv1.Envelope{j[0], j[1], j[3]} {
		require.NoError(t, s.Messages(nil).Project(ctx, e))
	}
	require.NoError(t, s.Messages(&loopback{s: s}).OnDeadLetter(ctx, bus.DeadLetter{Env: j[2], Reason: "boom"}))
	_, a := getJSON(t, s.Handler(), "/v1/assets/"+assetID)
	assert.Equal(t, "ready", a["status"])
}

// TestDeadDeletionsAndRequestsAnnounceNoFailure: a dead AssetDeleted or
// EncodingRequested says nothing of how an encode went: the asset that is
// encoding stays so.
func TestDeadDeletionsAndRequestsAnnounceNoFailure(t *testing.T) {
	t.Parallel()
	s, _ := component(t)
	ctx := context.Background()
	j := journey(t, assetID)
	pub := &loopback{s: s}
	sweep := s.Messages(pub).OnDeadLetter
	require.NoError(t, s.Messages(nil).Project(ctx, j[0]))
	require.NoError(t, s.Messages(nil).Project(ctx, j[1]))
	for _, payload := range []proto.Message{&eventsv1.AssetDeleted{Owner: "alice"},
		&eventsv1.EncodingRequested{Owner: "alice", Backend: "local", LadderMode: "fixed"}} {
		require.NoError(t, sweep(ctx, bus.DeadLetter{Env: envelope(t, assetID, payload), MaxReceives: 5}))
	}
	assert.Empty(t, pub.got)
	code, a := getJSON(t, s.Handler(), "/v1/assets/"+assetID)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "encoding", a["status"])
}
