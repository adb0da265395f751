package analytics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/limit"
	"github.com/pertitle/pertitle/pkg/problem"
	"github.com/pertitle/pertitle/services/catalog/internal/analytics"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

type memStore struct {
	mu     sync.Mutex
	events []analytics.Event
	owners []string
}

func (m *memStore) AppendEvents(_ context.Context, owners map[string]string, evs []analytics.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range evs {
		m.events = append(m.events, e)
		m.owners = append(m.owners, owners[e.AssetID])
	}
	return nil
}

func (m *memStore) Report(_ context.Context, f analytics.Filter, interval time.Duration) (analytics.Report, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	agg := analytics.NewAggregator(interval)
	for i, e := range m.events {
		if (f.AssetID != "" && e.AssetID != f.AssetID) || (f.AssetID == "" && !f.All && m.owners[i] != f.Owner) ||
			e.Time().Before(f.Since) {
			continue
		}
		agg.Add(e)
	}
	return agg.Report(), nil
}

// tokens accepts "ok-<asset>" as the beacon token of asset.
type tokens struct{}

func (tokens) VerifyBeaconToken(tok, asset string) error {
	if tok != "ok-"+asset {
		return fmt.Errorf("bad token")
	}
	return nil
}

var owners = map[string]string{"a1": "alice", "a2": "alice", "b1": "bob"}

func newHandler(burst float64) (http.Handler, *memStore) {
	st := &memStore{}
	h := &analytics.Handler{Store: st, Tokens: tokens{}, Now: func() time.Time { return now },
		Limiter: limit.NewKeyed(1, int(burst), 0).WithClock(func() time.Time { return now }),
		Owner: func(_ context.Context, id string) (string, bool, error) {
			o, ok := owners[id]
			return o, ok, nil
		}}
	mux := http.NewServeMux()
	h.Register(mux, nil)
	return mux, st
}

func ev(typ analytics.Type, asset, session string, at time.Duration) analytics.Event {
	return analytics.Event{Type: typ, AssetID: asset, SessionID: session, ViewerID: "v-" + session, TS: now.Add(at).UnixMilli()}
}

func send(h http.Handler, target, ctype string, body []byte, p *auth.Principal) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if p != nil {
		req = req.WithContext(auth.WithPrincipal(req.Context(), *p))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestEventValidation(t *testing.T) {
	t.Parallel()
	good := ev(analytics.Heartbeat, "a1", "s1", -time.Minute)
	good.WatchedSeconds, good.ToBitrate, good.Width, good.Height = 10, 2_000_000, 1280, 720
	for _, tc := range []struct {
		name  string
		edit  func(e *analytics.Event)
		field string
	}{
		{"valid heartbeat", func(*analytics.Event) {}, ""},
		{"unknown type", func(e *analytics.Event) { e.Type = "pause" }, "type"},
		{"missing asset", func(e *analytics.Event) { e.AssetID = "" }, "asset_id"},
		{"missing session", func(e *analytics.Event) { e.SessionID = "" }, "session_id"},
		{"missing viewer", func(e *analytics.Event) { e.ViewerID = "" }, "viewer_id"},
		{"viewer with a space", func(e *analytics.Event) { e.ViewerID = "a b" }, "viewer_id"},
		{"ts in seconds", func(e *analytics.Event) { e.TS = now.Unix() }, "ts"},
		{"ts in the future", func(e *analytics.Event) { e.TS = now.Add(time.Hour).UnixMilli() }, "ts"},
		{"ts missing", func(e *analytics.Event) { e.TS = 0 }, "ts"},
		{"negative stall", func(e *analytics.Event) { e.StallMS = -1 }, "stall_ms"},
		{"absurd startup", func(e *analytics.Event) { e.StartupMS = 3_600_000 }, "startup_ms"},
		{"absurd bitrate", func(e *analytics.Event) { e.ToBitrate = 5_000_000_000 }, "to_bitrate"},
		{"absurd width", func(e *analytics.Event) { e.Width = 100000 }, "width"},
		{"absurd watch", func(e *analytics.Event) { e.WatchedSeconds = 86400 }, "watched_seconds"},
		{"heartbeat without watch time", func(e *analytics.Event) { e.WatchedSeconds = 0 }, "watched_seconds"},
		{"startup without time", func(e *analytics.Event) { e.Type = analytics.Startup }, "startup_ms"},
		{"stall without time", func(e *analytics.Event) { e.Type = analytics.Stall }, "stall_ms"},
		{"error without code", func(e *analytics.Event) { e.Type = analytics.Error }, "error_code"},
		{"switch without target", func(e *analytics.Event) { e.Type = analytics.BitrateSwitch; e.ToBitrate = 0 }, "to_bitrate"},
		{"long message", func(e *analytics.Event) { e.Message = strings.Repeat("x", 2000) }, "message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := good
			tc.edit(&e)
			h, st := newHandler(1000)
			rec := send(h, "/v1/analytics/events?token=ok-a1", "text/plain", mustJSON([]analytics.Event{good, e}), nil)
			if tc.field == "" {
				assert.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
				assert.JSONEq(t, `{"accepted":2}`, rec.Body.String())
				return
			}
			assert.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
			var body map[string]any
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			assert.Equal(t, "events[1]."+tc.field, body["field"], body["detail"])
			assert.Equal(t, problem.InvalidRequest.URI, body["type"])
			assert.Empty(t, st.events, "a batch with a bad event is refused whole")
		})
	}
}

func TestBatchLimitsAndAccess(t *testing.T) {
	t.Parallel()
	one := mustJSON([]analytics.Event{ev(analytics.PlayStart, "a1", "s1", 0)})
	many := make([]analytics.Event, analytics.MaxBatchEvents+1)
	for i := range many {
		many[i] = ev(analytics.PlayStart, "a1", fmt.Sprint("s", i), 0)
	}
	big := ev(analytics.Error, "a1", "s1", 0)
	big.ErrorCode, big.Message = "E", strings.Repeat("x", 1000)
	bigBatch := make([]analytics.Event, 80)
	for i := range bigBatch {
		bigBatch[i] = big
	}
	alice, bob, admin := &auth.Principal{Subject: "alice"}, &auth.Principal{Subject: "bob"}, &auth.Principal{Subject: "root", Groups: []string{auth.AdminGroup}}
	for _, tc := range []struct {
		name   string
		target string
		ctype  string
		body   []byte
		p      *auth.Principal
		code   int
		text   string
	}{
		{"token for the asset", "/v1/analytics/events?token=ok-a1", "text/plain;charset=UTF-8", one, nil, http.StatusAccepted, "accepted"},
		{"json content type", "/v1/analytics/events?token=ok-a1", "application/json", one, nil, http.StatusAccepted, "accepted"},
		{"owner without token", "/v1/analytics/events", "application/json", one, alice, http.StatusAccepted, "accepted"},
		{"admin without token", "/v1/analytics/events", "application/json", one, admin, http.StatusAccepted, "accepted"},
		{"token of another asset", "/v1/analytics/events?token=ok-a2", "text/plain", one, nil, http.StatusForbidden, "no access to asset a1"},
		{"another user without token", "/v1/analytics/events", "text/plain", one, bob, http.StatusForbidden, "no access"},
		{"nobody", "/v1/analytics/events", "text/plain", one, nil, http.StatusUnauthorized, "token"},
		{"unknown asset", "/v1/analytics/events?token=ok-zz", "text/plain", mustJSON([]analytics.Event{ev(analytics.PlayStart, "zz", "s1", 0)}), nil, http.StatusForbidden, "no access"},
		{"form content type", "/v1/analytics/events?token=ok-a1", "application/x-www-form-urlencoded", one, nil, http.StatusUnsupportedMediaType, "JSON"},
		{"too many events", "/v1/analytics/events?token=ok-a1", "text/plain", mustJSON(many), nil, http.StatusRequestEntityTooLarge, "at most 100 events"},
		{"too many bytes", "/v1/analytics/events?token=ok-a1", "text/plain", mustJSON(bigBatch), nil, http.StatusRequestEntityTooLarge, "bytes"},
		{"empty batch", "/v1/analytics/events?token=ok-a1", "text/plain", []byte(`[]`), nil, http.StatusBadRequest, "empty"},
		{"not an array", "/v1/analytics/events?token=ok-a1", "text/plain", []byte(`{"type":"play_start"}`), nil, http.StatusBadRequest, "JSON array"},
		{"wrong field type", "/v1/analytics/events?token=ok-a1", "text/plain", []byte(`[{"type":"stall","stall_ms":"long"}]`), nil, http.StatusBadRequest, "events[0].stall_ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, st := newHandler(1000)
			rec := send(h, tc.target, tc.ctype, tc.body, tc.p)
			assert.Equal(t, tc.code, rec.Code, rec.Body.String())
			assert.Contains(t, rec.Body.String(), tc.text)
			assert.Equal(t, "*", rec.Header().Get("Access-Control-Allow-Origin"))
			if tc.code != http.StatusAccepted {
				assert.Empty(t, st.events)
			}
		})
	}
}

func TestAggregation(t *testing.T) {
	t.Parallel()
	hb := func(session string, at time.Duration, secs float64, w, h int, br int64) analytics.Event {
		e := ev(analytics.Heartbeat, "a1", session, at)
		e.WatchedSeconds, e.Width, e.Height, e.ToBitrate, e.BytesDownloaded = secs, w, h, br, int64(secs*float64(br)/8)
		return e
	}
	startup := func(session string, ms int64) analytics.Event {
		e := ev(analytics.Startup, "a1", session, 0)
		e.StartupMS = ms
		return e
	}
	stall := func(session string, at time.Duration, ms int64) analytics.Event {
		e := ev(analytics.Stall, "a1", session, at)
		e.StallMS = ms
		return e
	}
	fail := func(session, code string) analytics.Event {
		e := ev(analytics.Error, "a1", session, 0)
		e.ErrorCode = code
		return e
	}
	again := ev(analytics.PlayStart, "a1", "s1", time.Second) // a resent play_start is one play
	sameViewer := ev(analytics.PlayStart, "a1", "s4", 2*time.Hour)
	sameViewer.ViewerID = "v-s1"
	events := []analytics.Event{
		ev(analytics.PlayStart, "a1", "s1", 0), again, ev(analytics.PlayStart, "a1", "s2", 30*time.Minute),
		ev(analytics.PlayStart, "a1", "s3", time.Hour+time.Minute), sameViewer,
		startup("s1", 400), startup("s2", 1000), startup("s3", 700), startup("s4", 300),
		hb("s1", 10*time.Second, 30, 1920, 1080, 6_000_000), hb("s1", 40*time.Second, 30, 1280, 720, 3_000_000),
		hb("s2", 31*time.Minute, 60, 1280, 720, 3_000_000), hb("s3", time.Hour+2*time.Minute, 80, 640, 360, 1_000_000),
		stall("s1", 20*time.Second, 2000), stall("s3", time.Hour+90*time.Second, 8000),
		fail("s2", "NETWORK"), fail("s3", "NETWORK"), fail("s3", "DECODE"),
	}
	agg := analytics.NewAggregator(time.Hour)
	for _, e := range events {
		agg.Add(e)
	}
	r := agg.Report()
	assert.Equal(t, 4, r.Plays)
	assert.Equal(t, 3, r.UniqueViewers)
	assert.Equal(t, 550.0, r.MedianStartupMS, "median of 300, 400, 700, 1000")
	assert.Equal(t, 200.0, r.WatchedSeconds)
	assert.Equal(t, 10.0, r.StallSeconds)
	assert.InDelta(t, 0.05, r.RebufferRatio, 1e-9, "10 s stalled over 200 s watched")
	assert.InDelta(t, (30*6e6+90*3e6+80*1e6)/200, r.AvgDeliveredBitrate, 1e-6, "time-weighted")
	assert.Equal(t, []analytics.RenditionTime{
		{Width: 1920, Height: 1080, Bitrate: 6_000_000, Seconds: 30},
		{Width: 1280, Height: 720, Bitrate: 3_000_000, Seconds: 90},
		{Width: 640, Height: 360, Bitrate: 1_000_000, Seconds: 80},
	}, r.TimePerRendition)
	assert.Equal(t, []analytics.ErrorCount{{Code: "NETWORK", Count: 2}, {Code: "DECODE", Count: 1}}, r.Errors)
	assert.Equal(t, []analytics.Bucket{
		{T: now, Plays: 2, Stalls: 1},
		{T: now.Add(time.Hour), Plays: 1, Stalls: 1},
		{T: now.Add(2 * time.Hour), Plays: 1},
	}, r.Timeline)

	empty := analytics.NewAggregator(time.Hour).Report()
	assert.Zero(t, empty.RebufferRatio, "no division by zero")
	assert.Equal(t, []analytics.RenditionTime{}, empty.TimePerRendition)
	assert.Equal(t, 700.0, func() float64 {
		a := analytics.NewAggregator(time.Hour)
		for _, ms := range []int64{1000, 300, 700} {
			a.Add(startup("x", ms))
		}
		return a.Report().MedianStartupMS
	}(), "odd count: the middle value")
}

func TestReportsAreOwnerChecked(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(1000)
	for _, e := range []analytics.Event{ev(analytics.PlayStart, "a1", "s1", 0), ev(analytics.PlayStart, "a2", "s2", 0)} {
		require.Equal(t, http.StatusAccepted, send(h, "/v1/analytics/events?token=ok-"+e.AssetID, "", mustJSON([]analytics.Event{e}), nil).Code)
	}
	require.Equal(t, http.StatusAccepted, send(h, "/v1/analytics/events?token=ok-b1", "", mustJSON([]analytics.Event{ev(analytics.PlayStart, "b1", "s3", 0)}), nil).Code)

	get := func(target string, p *auth.Principal) (int, analytics.Report) {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		if p != nil {
			req = req.WithContext(auth.WithPrincipal(req.Context(), *p))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var r analytics.Report
		if rec.Code == http.StatusOK {
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &r))
		}
		return rec.Code, r
	}
	alice, bob, admin := &auth.Principal{Subject: "alice"}, &auth.Principal{Subject: "bob"}, &auth.Principal{Subject: "root", Groups: []string{auth.AdminGroup}}
	for _, tc := range []struct {
		name   string
		target string
		p      *auth.Principal
		code   int
		plays  int
		assets int
	}{
		{"owner's asset", "/v1/analytics/assets/a1", alice, http.StatusOK, 1, 0},
		{"another user's asset", "/v1/analytics/assets/a1", bob, http.StatusNotFound, 0, 0},
		{"unknown asset", "/v1/analytics/assets/zz", alice, http.StatusNotFound, 0, 0},
		{"admin, any asset", "/v1/analytics/assets/b1", admin, http.StatusOK, 1, 0},
		{"anonymous", "/v1/analytics/assets/a1", nil, http.StatusUnauthorized, 0, 0},
		{"summary: own assets", "/v1/analytics/summary", alice, http.StatusOK, 2, 2},
		{"summary: bob", "/v1/analytics/summary", bob, http.StatusOK, 1, 1},
		{"summary: admin sees all", "/v1/analytics/summary", admin, http.StatusOK, 3, 3},
		{"summary: anonymous", "/v1/analytics/summary", nil, http.StatusUnauthorized, 0, 0},
		{"bad interval", "/v1/analytics/summary?interval=1s", alice, http.StatusBadRequest, 0, 0},
	} {
		code, r := get(tc.target, tc.p)
		assert.Equal(t, tc.code, code, tc.name)
		assert.Equal(t, tc.plays, r.Plays, tc.name)
		assert.Equal(t, tc.assets, r.Assets, tc.name)
	}
}
