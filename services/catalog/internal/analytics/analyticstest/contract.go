// Package analyticstest holds the contract every analytics.Store must pass: its
// reports agree with the in-memory Aggregator fed the same events, stay within
// their bounds, forget what retention deletes, and do not grow Go's memory with
// the number of events. Call RunStoreContract from the adapter's tests.
package analyticstest

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/services/catalog/internal/analytics"
)

// Store is an analytics.Store with retention.
type Store interface {
	analytics.Store
	// DeleteEventsBefore deletes the events whose ts is before t, returning how many.
	DeleteEventsBefore(ctx context.Context, t time.Time) (int64, error)
}

// NewStore returns an empty store for one test; the test cleans up.
type NewStore func(t *testing.T) Store

// Options tune the suite.
type Options struct {
	// LargeEvents is how many events the bounded-memory report reads (default 200,000).
	LargeEvents int
}

var base = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// owned is an event with the owner of its asset.
type owned struct {
	analytics.Event
	owner string
}

// fixture is a small set of plays over three assets of two owners, with the
// cases that make a report subtle: a resent play_start, a viewer with two
// sessions, events either side of bucket edges, repeated error codes.
func fixture() []owned {
	ev := func(typ analytics.Type, asset, session string, at time.Duration) analytics.Event {
		return analytics.Event{Type: typ, AssetID: asset, SessionID: session, ViewerID: "v-" + session, TS: base.Add(at).UnixMilli()}
	}
	hb := func(asset, session string, at time.Duration, secs float64, w, h int, br int64) analytics.Event {
		e := ev(analytics.Heartbeat, asset, session, at)
		e.WatchedSeconds, e.Width, e.Height, e.ToBitrate, e.BytesDownloaded = secs, w, h, br, int64(secs*float64(br)/8)
		return e
	}
	startup := func(asset, session string, ms int64) analytics.Event {
		e := ev(analytics.Startup, asset, session, time.Second)
		e.StartupMS = ms
		return e
	}
	stall := func(asset, session string, at time.Duration, ms int64) analytics.Event {
		e := ev(analytics.Stall, asset, session, at)
		e.StallMS = ms
		return e
	}
	fail := func(asset, session, code string) analytics.Event {
		e := ev(analytics.Error, asset, session, 2*time.Minute)
		e.ErrorCode, e.Message = code, "segment 404"
		return e
	}
	sameViewer := ev(analytics.PlayStart, "a1", "s4", 2*time.Hour)
	sameViewer.ViewerID = "v-s1"
	events := []analytics.Event{
		ev(analytics.PlayStart, "a1", "s1", 0), ev(analytics.PlayStart, "a1", "s1", time.Second),
		ev(analytics.PlayStart, "a1", "s2", 30*time.Minute), ev(analytics.PlayStart, "a1", "s3", time.Hour+time.Minute), sameViewer,
		startup("a1", "s1", 400), startup("a1", "s2", 1000), startup("a1", "s3", 700), startup("a1", "s4", 300),
		hb("a1", "s1", 10*time.Second, 30, 1920, 1080, 6_000_000), hb("a1", "s1", 40*time.Second, 30, 1280, 720, 3_000_000),
		hb("a1", "s2", 31*time.Minute, 60, 1280, 720, 3_000_000), hb("a1", "s3", time.Hour+2*time.Minute, 80, 640, 360, 1_000_000),
		hb("a1", "s3", time.Hour+3*time.Minute, 9.5, 0, 0, 0), // no rendition named
		stall("a1", "s1", 20*time.Second, 2000), stall("a1", "s3", time.Hour+90*time.Second, 8000),
		fail("a1", "s2", "NETWORK"), fail("a1", "s3", "NETWORK"), fail("a1", "s3", "DECODE"),
		// alice's second asset, seven hours later, and bob's.
		ev(analytics.PlayStart, "a2", "s5", 7*time.Hour), startup("a2", "s5", 250),
		hb("a2", "s5", 7*time.Hour+10*time.Second, 12.25, 1280, 720, 3_000_000),
		ev(analytics.BitrateSwitch, "a2", "s5", 7*time.Hour+11*time.Second),
		ev(analytics.PlayStart, "b1", "s6", 3*time.Hour), startup("b1", "s6", 900), fail("b1", "s6", "DECODE"),
		stall("b1", "s6", 3*time.Hour+time.Minute, 1500),
	}
	owners := map[string]string{"a1": "alice", "a2": "alice", "b1": "bob"}
	out := make([]owned, len(events))
	for i, e := range events {
		out[i] = owned{e, owners[e.AssetID]}
	}
	return out
}

// selects is the filter as the stores apply it.
func selects(f analytics.Filter, e owned) bool {
	switch {
	case f.AssetID != "" && e.AssetID != f.AssetID:
		return false
	case f.AssetID == "" && !f.All && e.owner != f.Owner:
		return false
	}
	return !e.Time().Before(f.Since)
}

func appendAll(t *testing.T, s Store, events []owned) {
	t.Helper()
	owners := map[string]string{}
	batch := make([]analytics.Event, len(events))
	for i, e := range events {
		owners[e.AssetID] = e.owner
		batch[i] = e.Event
	}
	require.NoError(t, s.AppendEvents(context.Background(), owners, batch))
}

// expected is the report an Aggregator makes of events in the order the stores
// used to read them: by ts, then as appended.
func expected(events []owned, f analytics.Filter, interval time.Duration) analytics.Report {
	events = slices.Clone(events)
	slices.SortStableFunc(events, func(a, b owned) int { return cmp.Compare(a.TS, b.TS) })
	agg := analytics.NewAggregator(interval)
	for _, e := range events {
		if selects(f, e) {
			agg.Add(e.Event)
		}
	}
	return agg.Report()
}

// RunStoreContract runs the suite against stores made by newStore. Its
// bounded-memory case measures the process's allocations: call it from a test
// that is not parallel.
func RunStoreContract(t *testing.T, newStore NewStore, opt Options) {
	ctx := context.Background()
	if opt.LargeEvents <= 0 {
		opt.LargeEvents = 200_000
	}

	t.Run("reports agree with the aggregator", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		events := fixture()
		appendAll(t, s, events[:10])
		appendAll(t, s, events[10:])
		for _, f := range []analytics.Filter{
			{AssetID: "a1"}, {AssetID: "b1"}, {AssetID: "nope"}, {Owner: "alice"}, {Owner: "bob"}, {Owner: "carol"},
			{All: true}, {All: true, Since: base.Add(time.Hour)}, {Owner: "alice", Since: base.Add(3 * time.Hour)},
			{All: true, Since: base.Add(24 * time.Hour)},
		} {
			for _, interval := range []time.Duration{time.Hour, time.Minute, 7 * time.Hour, 24 * time.Hour} {
				got, err := s.Report(ctx, f, interval)
				require.NoError(t, err)
				AssertSameReport(t, expected(events, f, interval), got, fmt.Sprintf("filter %+v, interval %s", f, interval))
			}
		}
		// The numbers themselves, for one asset: the aggregator is checked too.
		got, err := s.Report(ctx, analytics.Filter{AssetID: "a1"}, time.Hour)
		require.NoError(t, err)
		assert.Equal(t, 4, got.Plays, "a resent play_start is one play")
		assert.Equal(t, 3, got.UniqueViewers)
		assert.Equal(t, 550.0, got.MedianStartupMS, "median of 300, 400, 700, 1000")
		assert.Equal(t, 209.5, got.WatchedSeconds)
		assert.Equal(t, []analytics.ErrorCount{{Code: "NETWORK", Count: 2}, {Code: "DECODE", Count: 1}}, got.Errors)
		assert.Equal(t, []analytics.Bucket{{T: base, Plays: 2, Stalls: 1}, {T: base.Add(time.Hour), Plays: 1, Stalls: 1},
			{T: base.Add(2 * time.Hour), Plays: 1}}, got.Timeline)
		odd, err := s.Report(ctx, analytics.Filter{Owner: "alice"}, time.Hour)
		require.NoError(t, err)
		assert.Equal(t, 400.0, odd.MedianStartupMS, "odd count: the middle of 250, 300, 400, 700, 1000")
		assert.Equal(t, 2, odd.Assets)
	})

	t.Run("an empty report", func(t *testing.T) {
		t.Parallel()
		got, err := newStore(t).Report(ctx, analytics.Filter{All: true}, time.Hour)
		require.NoError(t, err)
		assert.Equal(t, analytics.NewAggregator(time.Hour).Report(), got)
	})

	t.Run("lists stay within their bounds", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var events []owned
		for i := range analytics.MaxRenditions + 20 {
			e := analytics.Event{Type: analytics.Heartbeat, AssetID: "a1", SessionID: "s", ViewerID: "v",
				TS: base.Add(time.Duration(i) * time.Second).UnixMilli(), WatchedSeconds: float64(1 + i%7),
				Width: 100 + i, Height: 100, ToBitrate: int64(1000 * (1 + i%3))}
			events = append(events, owned{e, "alice"})
		}
		for i := range analytics.MaxErrorCodes + 20 {
			for range 1 + i%4 {
				e := analytics.Event{Type: analytics.Error, AssetID: "a1", SessionID: "s", ViewerID: "v",
					TS: base.UnixMilli(), ErrorCode: fmt.Sprintf("E%03d", i)}
				events = append(events, owned{e, "alice"})
			}
		}
		for i := range analytics.MaxBuckets + 30 {
			e := analytics.Event{Type: analytics.PlayStart, AssetID: "a1", SessionID: fmt.Sprintf("p%d", i), ViewerID: "v",
				TS: base.Add(time.Duration(i) * time.Minute).UnixMilli()}
			events = append(events, owned{e, "alice"})
		}
		for i := 0; i < len(events); i += 500 {
			appendAll(t, s, events[i:min(i+500, len(events))])
		}
		got, err := s.Report(ctx, analytics.Filter{AssetID: "a1"}, time.Minute)
		require.NoError(t, err)
		assert.Len(t, got.TimePerRendition, analytics.MaxRenditions)
		assert.Len(t, got.Errors, analytics.MaxErrorCodes)
		assert.Len(t, got.Timeline, analytics.MaxBuckets)
		assert.Equal(t, analytics.MaxBuckets+30, got.Plays, "the totals count every event")
		AssertSameReport(t, expected(events, analytics.Filter{AssetID: "a1"}, time.Minute), got, "bounded lists")
	})

	t.Run("retention deletes old events only", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		events := fixture()
		appendAll(t, s, events)
		cut := base.Add(time.Hour)
		var old int64
		var kept []owned
		for _, e := range events {
			if e.Time().Before(cut) {
				old++
			} else {
				kept = append(kept, e)
			}
		}
		n, err := s.DeleteEventsBefore(ctx, cut)
		require.NoError(t, err)
		assert.Equal(t, old, n)
		got, err := s.Report(ctx, analytics.Filter{All: true}, time.Hour)
		require.NoError(t, err)
		AssertSameReport(t, expected(kept, analytics.Filter{All: true}, time.Hour), got, "after retention")
		n, err = s.DeleteEventsBefore(ctx, cut)
		require.NoError(t, err)
		assert.Zero(t, n, "nothing left to delete")
	})

	// Not parallel: it measures the allocations of the whole process.
	t.Run("a large report in bounded memory", func(t *testing.T) {
		s := newStore(t)
		rng := rand.New(rand.NewPCG(13, 13))
		all := make([]owned, 0, opt.LargeEvents)
		types := []analytics.Type{analytics.PlayStart, analytics.Startup, analytics.Heartbeat, analytics.Heartbeat,
			analytics.Heartbeat, analytics.Heartbeat, analytics.Stall, analytics.Error, analytics.BitrateSwitch}
		heights := []int{360, 540, 720, 1080}
		const chunk = 10_000
		start := time.Now()
		for done := 0; done < opt.LargeEvents; done += chunk {
			batch := make([]analytics.Event, 0, chunk)
			for i := done; i < min(done+chunk, opt.LargeEvents); i++ {
				session := rng.IntN(opt.LargeEvents/10 + 1)
				h := heights[rng.IntN(len(heights))]
				e := analytics.Event{Type: types[rng.IntN(len(types))], AssetID: fmt.Sprintf("a%d", session%7),
					SessionID: fmt.Sprintf("s%d", session), ViewerID: fmt.Sprintf("v%d", session%5000),
					TS: base.Add(time.Duration(rng.IntN(48*3600)) * time.Second).UnixMilli()}
				switch e.Type {
				case analytics.Startup:
					e.StartupMS = int64(100 + rng.IntN(3000))
				case analytics.Heartbeat:
					e.WatchedSeconds, e.Width, e.Height = float64(1+rng.IntN(40))/4, h*16/9, h
					e.ToBitrate, e.BytesDownloaded = int64(h)*5000, int64(rng.IntN(4_000_000))
				case analytics.Stall:
					e.StallMS = int64(1 + rng.IntN(5000))
				case analytics.Error:
					e.ErrorCode = fmt.Sprintf("E%d", rng.IntN(12))
				}
				all = append(all, owned{e, "alice"})
				batch = append(batch, e)
			}
			owners := map[string]string{}
			for i := range 7 {
				owners[fmt.Sprintf("a%d", i)] = "alice"
			}
			require.NoError(t, s.AppendEvents(ctx, owners, batch))
		}
		t.Logf("stored %d events in %s", opt.LargeEvents, time.Since(start).Round(time.Millisecond))
		want := expected(all, analytics.Filter{Owner: "alice"}, time.Hour)
		all = nil

		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start = time.Now()
		got, err := s.Report(ctx, analytics.Filter{Owner: "alice"}, time.Hour)
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		require.NoError(t, err)
		allocated := after.TotalAlloc - before.TotalAlloc
		t.Logf("report over %d events: %s, %d KiB allocated in Go, %d allocations", opt.LargeEvents, took.Round(time.Millisecond),
			allocated>>10, after.Mallocs-before.Mallocs)
		// Reading the events into Go would allocate at least their ids: several MiB.
		assert.Less(t, allocated, uint64(1<<20), "the report allocates in Go as if it read the events")
		AssertSameReport(t, want, got, "large report")
	})
}

// AssertSameReport compares two reports, floating-point sums to a relative 1e-9
// (SQL may add them in another order).
func AssertSameReport(t *testing.T, want, got analytics.Report, msg string) {
	t.Helper()
	near := func(field string, w, g float64) {
		t.Helper()
		if w == g {
			return
		}
		if math.Abs(w-g) > 1e-9*math.Max(math.Abs(w), math.Abs(g)) {
			t.Errorf("%s: %s = %v, want %v", msg, field, g, w)
		}
	}
	assert.Equal(t, want.Assets, got.Assets, msg+": assets")
	assert.Equal(t, want.Plays, got.Plays, msg+": plays")
	assert.Equal(t, want.UniqueViewers, got.UniqueViewers, msg+": unique viewers")
	assert.Equal(t, want.BytesDownloaded, got.BytesDownloaded, msg+": bytes")
	near("median_startup_ms", want.MedianStartupMS, got.MedianStartupMS)
	near("watched_seconds", want.WatchedSeconds, got.WatchedSeconds)
	near("stall_seconds", want.StallSeconds, got.StallSeconds)
	near("rebuffer_ratio", want.RebufferRatio, got.RebufferRatio)
	near("avg_delivered_bitrate", want.AvgDeliveredBitrate, got.AvgDeliveredBitrate)
	assert.Equal(t, want.Errors, got.Errors, msg+": errors")
	assert.Equal(t, want.Timeline, got.Timeline, msg+": timeline")
	if assert.Len(t, got.TimePerRendition, len(want.TimePerRendition), msg+": renditions") {
		for i, w := range want.TimePerRendition {
			g := got.TimePerRendition[i]
			assert.Equal(t, [3]int64{int64(w.Width), int64(w.Height), w.Bitrate}, [3]int64{int64(g.Width), int64(g.Height), g.Bitrate}, msg)
			near(fmt.Sprintf("time_per_rendition[%d]", i), w.Seconds, g.Seconds)
		}
	}
}
