package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/services/catalog/internal/analytics"
)

func TestPlaybackEventsStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	repo := open(t, filepath.Join(t.TempDir(), "catalog.db"))
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	hb := analytics.Event{Type: analytics.Heartbeat, AssetID: "a1", SessionID: "s1", ViewerID: "v1", TS: t0.Add(time.Minute).UnixMilli(),
		ToBitrate: 3_000_000, Width: 1280, Height: 720, WatchedSeconds: 9.5, BytesDownloaded: 123456}
	fail := analytics.Event{Type: analytics.Error, AssetID: "b1", SessionID: "s2", ViewerID: "v2", TS: t0.UnixMilli(),
		ErrorCode: "NETWORK", Message: "segment 404"}
	start := analytics.Event{Type: analytics.Startup, AssetID: "a2", SessionID: "s3", ViewerID: "v1", TS: t0.UnixMilli(), StartupMS: 640}
	require.NoError(t, repo.AppendEvents(ctx, map[string]string{"a1": "alice", "a2": "alice"}, []analytics.Event{hb, start}))
	require.NoError(t, repo.AppendEvents(ctx, map[string]string{"b1": "bob"}, []analytics.Event{fail}))

	scan := func(f analytics.Filter) []analytics.Event {
		var out []analytics.Event
		require.NoError(t, repo.ScanEvents(ctx, f, func(e analytics.Event) error { out = append(out, e); return nil }))
		return out
	}
	for _, tc := range []struct {
		name string
		f    analytics.Filter
		want []analytics.Event
	}{
		{"one asset", analytics.Filter{AssetID: "a1"}, []analytics.Event{hb}},
		{"one owner, oldest first", analytics.Filter{Owner: "alice"}, []analytics.Event{start, hb}},
		{"everyone", analytics.Filter{All: true}, []analytics.Event{start, fail, hb}},
		{"since", analytics.Filter{All: true, Since: t0.Add(time.Second)}, []analytics.Event{hb}},
		{"nobody's", analytics.Filter{Owner: "carol"}, nil},
	} {
		assert.Equal(t, tc.want, scan(tc.f), tc.name)
	}
}
