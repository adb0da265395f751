package app_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/services/catalog/internal/app"
	"github.com/pertitle/pertitle/services/catalog/internal/domain"
)

// FuzzDecodeCursor feeds arbitrary page cursors to the decoder behind
// GET /v1/assets?cursor=: an accepted cursor names a valid id and encodes back
// to a cursor that decodes to the same position.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(app.Cursor{CreatedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), ID: "a1"}.Encode())
	f.Add("")
	f.Add("MTIzOmE")
	f.Add("LTEyMzpi")
	f.Add("OTIyMzM3MjAzNjg1NDc3NTgwNzp4")
	f.Add("Kzc6Lg")
	f.Fuzz(func(t *testing.T, s string) {
		c, ok, err := app.DecodeCursor(s)
		if err != nil || !ok {
			return
		}
		back, ok, err := app.DecodeCursor(c.Encode())
		if err != nil || !ok || back.ID != c.ID || !back.CreatedAt.Equal(c.CreatedAt) {
			t.Fatalf("cursor %q = %+v re-encodes to %+v (%v)", s, c, back, err)
		}
		if c.ID == "" || c.ID[0] == '.' || strings.ContainsAny(c.ID, "/\\\x00") {
			t.Fatalf("cursor names id %q", c.ID)
		}
	})
}

// FuzzProjectEvent decodes arbitrary protobuf bytes as a queue body and runs
// what the catalog's consumer runs: events.Unmarshal, ToDomain, domain.Apply on
// a new asset and on one that is ready. A refusal says the event is invalid (so
// it is dead-lettered, not retried); an applied event leaves a known status and
// an asset that JSON can carry, and applying it again changes nothing.
func FuzzProjectEvent(f *testing.F) {
	at := timestamppb.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	for _, p := range []proto.Message{
		&eventsv1.AssetUploaded{Owner: "alice", Title: "t", Probe: &eventsv1.ProbeSummary{DurationSeconds: math.NaN(), Width: 640, Height: 360}},
		&eventsv1.EncodingStarted{Backend: "local", ExternalJobId: "j2", Attempt: 2},
		&eventsv1.EncodingStarted{ExternalJobId: "j2", Attempt: -1},
		&eventsv1.EncodingProgress{ExternalJobId: "j1", Percent: math.Inf(1), EtaSeconds: -5},
		&eventsv1.EncodingFinished{ExternalJobId: "j1", HlsManifestKey: "outputs/a/j1/master.m3u8",
			Renditions: []*eventsv1.Rung{{Width: 640, Height: 360, FrameRate: math.NaN(), Quality: []*eventsv1.QualityScore{{Metric: "vmaf", Value: math.Inf(-1)}}}}},
		&eventsv1.EncodingFinished{ExternalJobId: "j3"},
		&eventsv1.EncodingFailed{ExternalJobId: "j2", Reason: "boom"},
		&eventsv1.EncodingRequested{Backend: "local"},
	} {
		env, err := events.New(events.Meta{AssetID: "a1", Producer: "fuzz"}, p)
		if err != nil {
			f.Fatal(err)
		}
		env.OccurredAt = at
		raw, err := proto.Marshal(env)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	ready := domain.Asset{ID: "a1", Owner: "alice", Status: domain.StatusReady, JobID: "j1", Attempt: 1,
		JobAt: at.AsTime(), HLSKey: "outputs/a1/j1/master.m3u8", CreatedAt: at.AsTime(), UpdatedAt: at.AsTime()}
	f.Fuzz(func(t *testing.T, raw []byte) {
		env, err := events.Unmarshal([]byte(base64.StdEncoding.EncodeToString(raw)))
		if err != nil {
			return
		}
		ev, err := app.ToDomain(env)
		if err != nil {
			if !errors.Is(err, app.ErrInvalidEvent) {
				t.Fatalf("refusal is not ErrInvalidEvent: %v", err)
			}
			return
		}
		if ev == nil {
			return // a type the catalog does not project
		}
		for _, a := range []domain.Asset{{ID: env.GetAssetId()}, ready} {
			n, changed := domain.Apply(a, ev)
			if !changed {
				continue
			}
			if !n.Status.Valid() {
				t.Fatalf("status %q after %v", n.Status, env)
			}
			if _, err := json.Marshal(n); err != nil {
				t.Fatalf("the projected asset cannot be served as JSON: %v", err)
			}
			if again, changed := domain.Apply(n, ev); changed || !domain.Equal(again, n) {
				t.Fatalf("applying %v twice changed the asset again", env)
			}
		}
	})
}
