package analytics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/pertitle/pertitle/services/catalog/internal/adapters/sqlite"
	"github.com/pertitle/pertitle/services/catalog/internal/analytics"
	catalog "github.com/pertitle/pertitle/services/catalog/internal/ports/http"
)

// appendSpy is the real SQLite store, remembering the last batch it stored.
type appendSpy struct {
	analytics.Store
	mu   sync.Mutex
	last []analytics.Event
}

func (s *appendSpy) AppendEvents(ctx context.Context, owners map[string]string, evs []analytics.Event) error {
	s.mu.Lock()
	s.last = append([]analytics.Event(nil), evs...)
	s.mu.Unlock()
	return s.Store.AppendEvents(ctx, owners, evs)
}

func (s *appendSpy) take() []analytics.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	got := s.last
	s.last = nil
	return got
}

var beaconID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// checkBeacon re-checks an accepted event against the README's bounds,
// independently of Event.Validate.
func checkBeacon(t *testing.T, e analytics.Event) {
	t.Helper()
	at := time.UnixMilli(e.TS)
	inRange := func(v, hi int64) bool { return v >= 0 && v <= hi }
	switch {
	case e.AssetID != "a1":
		t.Fatalf("stored an event of asset %q with a token for a1", e.AssetID)
	case !beaconID.MatchString(e.SessionID) || !beaconID.MatchString(e.ViewerID):
		t.Fatalf("stored ids %q, %q", e.SessionID, e.ViewerID)
	case at.Before(now.Add(-7*24*time.Hour)) || at.After(now.Add(10*time.Minute)):
		t.Fatalf("stored time %v", at)
	case !inRange(e.StartupMS, 600_000) || !inRange(e.StallMS, 3_600_000) || !inRange(e.FromBitrate, 1e9) ||
		!inRange(e.ToBitrate, 1e9) || !inRange(int64(e.Width), 16384) || !inRange(int64(e.Height), 16384) ||
		!inRange(e.BytesDownloaded, 1<<40):
		t.Fatalf("stored values out of bounds: %+v", e)
	case math.IsNaN(e.WatchedSeconds) || e.WatchedSeconds < 0 || e.WatchedSeconds > 900:
		t.Fatalf("stored watched_seconds %v", e.WatchedSeconds)
	case len(e.ErrorCode) > 64 || len(e.Message) > 1024:
		t.Fatalf("stored an error code or message too long")
	}
	switch e.Type {
	case analytics.PlayStart, analytics.Startup, analytics.BitrateSwitch, analytics.Stall, analytics.Error, analytics.Heartbeat:
	default:
		t.Fatalf("stored type %q", e.Type)
	}
}

// FuzzPostEvents sends arbitrary beacon batches with a real beacon token for
// asset a1 to the real handler over the catalog's SQLite store. The answer is
// 202 or a 4xx, never a 5xx; a 202 stores exactly the batch, every event within
// the documented bounds and for a1 only, and the stored events, encoded again,
// are accepted again as they are.
func FuzzPostEvents(f *testing.F) {
	ts := now.UnixMilli()
	for _, s := range []string{
		`[{"type":"play_start","asset_id":"a1","session_id":"s1","viewer_id":"v1","ts":` + itoa(ts) + `}]`,
		`[{"type":"startup","asset_id":"a1","session_id":"s1","viewer_id":"v1","ts":` + itoa(ts) + `,"startup_ms":850},` +
			`{"type":"heartbeat","asset_id":"a1","session_id":"s1","viewer_id":"v1","ts":` + itoa(ts) + `,"watched_seconds":10.5,"width":1280,"height":720,"to_bitrate":3000000}]`,
		`[{"type":"error","asset_id":"a1","session_id":"s","viewer_id":"v","ts":` + itoa(ts) + `,"error_code":"E1","message":"boom"}]`,
		`[{"type":"stall","asset_id":"a2","session_id":"s","viewer_id":"v","ts":` + itoa(ts) + `,"stall_ms":10}]`,
		`[{"type":"heartbeat","asset_id":"a1","session_id":"s","viewer_id":"v","ts":` + itoa(ts) + `,"watched_seconds":1e-320}]`,
		`[{"type":"startup","asset_id":"a1","session_id":"s","viewer_id":"v","ts":9223372036854775807,"startup_ms":1}]`,
		`[{"TYPE":"play_start","Asset_ID":"a1","session_id":"s","viewer_id":"v","ts":` + itoa(ts) + `}]`,
		`[1]`, `[null]`, `[]`, `{}`, `[{"ts":"1"}]`, ``,
	} {
		f.Add([]byte(s), "application/json")
	}
	f.Add([]byte(`[]`), "text/plain; charset=utf-8")
	f.Add([]byte(`[]`), "application/x-www-form-urlencoded")
	repo, err := sqlite.Open(context.Background(), filepath.Join(f.TempDir(), "catalog.db"), sqlite.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = repo.Close() })
	signer := catalog.NewSigner([]byte("fuzz-secret-fuzz-secret"), time.Hour)
	signer.Now = func() time.Time { return now }
	token, _ := signer.BeaconToken("a1")
	store := &appendSpy{Store: repo}
	h := &analytics.Handler{Store: store, Tokens: signer, Now: func() time.Time { return now },
		Owner: func(_ context.Context, id string) (string, bool, error) {
			o, ok := owners[id]
			return o, ok, nil
		}}
	mux := http.NewServeMux()
	h.Register(mux, nil)
	post := func(body []byte, contentType string) (int, []analytics.Event) {
		req := httptest.NewRequest(http.MethodPost, "/v1/analytics/events?token="+token, bytes.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec.Code, store.take()
	}
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		if !validHeaderValue(contentType) {
			return
		}
		code, stored := post(body, contentType)
		if code != http.StatusAccepted {
			if code < 400 || code >= 500 {
				t.Fatalf("answered %d", code)
			}
			if len(stored) > 0 {
				t.Fatalf("answered %d and stored %d events", code, len(stored))
			}
			return
		}
		var batch []json.RawMessage
		if json.Unmarshal(body, &batch) != nil || len(batch) != len(stored) || len(stored) > analytics.MaxBatchEvents {
			t.Fatalf("stored %d events of a batch of %d", len(stored), len(batch))
		}
		for _, e := range stored {
			checkBeacon(t, e)
		}
		again, err := json.Marshal(stored)
		if err != nil {
			t.Fatalf("stored events cannot be encoded: %v", err)
		}
		code, back := post(again, "application/json")
		if code != http.StatusAccepted || len(back) != len(stored) {
			t.Fatalf("re-encoded events answered %d", code)
		}
		for i := range back {
			if back[i] != stored[i] {
				t.Fatalf("event %d changed in a round trip:\n%+v\n%+v", i, stored[i], back[i])
			}
		}
	})
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// validHeaderValue reports whether v can travel as a header value.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
