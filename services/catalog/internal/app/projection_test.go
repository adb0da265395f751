package app_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/services/catalog/internal/adapters/sqlite"
	"github.com/pertitle/pertitle/services/catalog/internal/app"
	"github.com/pertitle/pertitle/services/catalog/internal/domain"
)

const assetID = "0b6f1c2e-7d1a-4c39-9a55-2f1d3c4b5a69"

var t0 = time.Date(2025, 4, 1, 10, 0, 0, 0, time.UTC)

func newProjection(t *testing.T) (*app.Projection, *app.Queries) {
	t.Helper()
	repo, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "catalog.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = repo.Close() })
	return app.NewProjection(repo, "", nil), app.NewQueries(repo)
}

// ev builds an envelope with events.New and pins its time to t0+sec.
func ev(t *testing.T, sec int, payload proto.Message) *eventsv1.Envelope {
	t.Helper()
	env, err := events.New(events.Meta{AssetID: assetID, Producer: "test"}, payload)
	require.NoError(t, err)
	env.OccurredAt = timestamppb.New(t0.Add(time.Duration(sec) * time.Second))
	return env
}

func uploadedEv(t *testing.T, sec int) *eventsv1.Envelope {
	return ev(t, sec, &eventsv1.AssetUploaded{Owner: "alice", Title: "Sintel", SourceKey: "sources/" + assetID + "/src.mov",
		Probe: &eventsv1.ProbeSummary{DurationSeconds: 888, Width: 4096, Height: 1744, SizeBytes: 5 << 30}})
}

func startedEv(t *testing.T, sec int, job string, attempt int32) *eventsv1.Envelope {
	return ev(t, sec, &eventsv1.EncodingStarted{Owner: "alice", Backend: "local", ExternalJobId: job, Attempt: attempt})
}

func progressEv(t *testing.T, sec int, job string, pct float64) *eventsv1.Envelope {
	return ev(t, sec, &eventsv1.EncodingProgress{Backend: "local", ExternalJobId: job, Percent: pct, EtaSeconds: 30})
}

func finishedEv(t *testing.T, sec int, job string) *eventsv1.Envelope {
	return ev(t, sec, &eventsv1.EncodingFinished{Backend: "local", ExternalJobId: job,
		HlsManifestKey:  "outputs/" + assetID + "/" + job + "/master.m3u8",
		DashManifestKey: "outputs/" + assetID + "/" + job + "/manifest.mpd",
		Renditions: []*eventsv1.Rung{
			{Width: 640, Height: 272, Bitrate: 600_000, AverageBitrate: 500_000, Codec: "h264", Codecs: "avc1.64001e",
				FrameRate: 24, SizeBytes: 1 << 20, Quality: []*eventsv1.QualityScore{{Metric: "vmaf", Value: 90.5}}},
			{Width: 1920, Height: 818, Bitrate: 4_000_000, AverageBitrate: 3_000_000, Codec: "h264", Codecs: "avc1.640028",
				FrameRate: 24, SizeBytes: 8 << 20},
		}})
}

func failedEv(t *testing.T, sec int, job, reason string, retryable bool) *eventsv1.Envelope {
	return ev(t, sec, &eventsv1.EncodingFailed{Backend: "local", ExternalJobId: job, Reason: reason, Retryable: retryable})
}

func project(t *testing.T, p *app.Projection, envs ...*eventsv1.Envelope) {
	t.Helper()
	for _, e := range envs {
		require.NoError(t, p.Handle(context.Background(), e), e.GetType())
	}
}

func get(t *testing.T, q *app.Queries) domain.Asset {
	t.Helper()
	a, err := q.Get(context.Background(), assetID)
	require.NoError(t, err)
	return a
}

func TestProjectionHappyPath(t *testing.T) {
	t.Parallel()
	p, q := newProjection(t)
	project(t, p, uploadedEv(t, 0))
	a := get(t, q)
	assert.Equal(t, domain.StatusUploaded, a.Status)
	assert.Equal(t, "Sintel", a.Title)
	assert.Equal(t, 888.0, a.DurationSeconds)
	assert.Equal(t, int64(5<<30), a.SourceBytes)

	project(t, p, startedEv(t, 1, "job-1", 1), progressEv(t, 2, "job-1", 55.5))
	a = get(t, q)
	assert.Equal(t, domain.StatusEncoding, a.Status)
	assert.Equal(t, 55.5, a.ProgressPercent)
	assert.Equal(t, 30.0, a.ProgressETA)
	assert.Equal(t, "local", a.Backend)
	assert.Equal(t, "job-1", a.JobID)

	project(t, p, finishedEv(t, 3, "job-1"))
	a = get(t, q)
	assert.Equal(t, domain.StatusReady, a.Status)
	assert.Equal(t, "outputs/"+assetID+"/job-1/master.m3u8", a.HLSKey)
	require.Len(t, a.Renditions, 2)
	assert.Equal(t, []domain.Quality{{Metric: "vmaf", Value: 90.5}}, a.Renditions[0].Quality)
	assert.Equal(t, int64(8<<20), a.Renditions[1].Bytes)
	assert.Equal(t, t0.Add(3*time.Second), a.ReadyAt)
	assert.Equal(t, t0, a.CreatedAt)
	assert.Equal(t, 1, a.ReadyTransitions)
}

func TestProjectionOrders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		build func(t *testing.T) []*eventsv1.Envelope
		check func(t *testing.T, a domain.Asset)
	}{
		{"finished before everything", func(t *testing.T) []*eventsv1.Envelope {
			return []*eventsv1.Envelope{finishedEv(t, 3, "j1"), progressEv(t, 2, "j1", 50), startedEv(t, 1, "j1", 1), uploadedEv(t, 0)}
		}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusReady, a.Status)
			assert.Equal(t, "Sintel", a.Title, "a late upload still fills in its facts")
			assert.Equal(t, "alice", a.Owner)
			assert.Equal(t, 4096, a.Width)
			assert.Equal(t, 1, a.Attempt)
			assert.Equal(t, 1, a.ReadyTransitions)
			assert.Equal(t, t0, a.CreatedAt)
		}},
		{"started before uploaded", func(t *testing.T) []*eventsv1.Envelope {
			return []*eventsv1.Envelope{startedEv(t, 1, "j1", 1), uploadedEv(t, 0)}
		}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusEncoding, a.Status)
			assert.Equal(t, "Sintel", a.Title)
		}},
		{"duplicate finished counts one ready", func(t *testing.T) []*eventsv1.Envelope {
			f := finishedEv(t, 3, "j1")
			again := proto.Clone(f).(*eventsv1.Envelope)
			redelivered := proto.Clone(f).(*eventsv1.Envelope)
			redelivered.EventId = "another-id-same-fact" // republished by a retrying producer
			return []*eventsv1.Envelope{uploadedEv(t, 0), startedEv(t, 1, "j1", 1), f, again, redelivered}
		}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusReady, a.Status)
			assert.Equal(t, 1, a.ReadyTransitions)
		}},
		{"failed with reason", func(t *testing.T) []*eventsv1.Envelope {
			return []*eventsv1.Envelope{uploadedEv(t, 0), startedEv(t, 1, "j1", 1), failedEv(t, 2, "j1", "decoder error: invalid NAL", false)}
		}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusFailed, a.Status)
			assert.Equal(t, "decoder error: invalid NAL", a.Error)
			assert.False(t, a.Retryable)
		}},
		{"retry after a retryable failure", func(t *testing.T) []*eventsv1.Envelope {
			return []*eventsv1.Envelope{uploadedEv(t, 0), startedEv(t, 1, "j1", 1), failedEv(t, 2, "j1", "spot instance lost", true),
				startedEv(t, 10, "j2", 2), failedEv(t, 2, "j1", "spot instance lost", true), finishedEv(t, 20, "j2")}
		}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusReady, a.Status)
			assert.Empty(t, a.Error)
			assert.Equal(t, 2, a.Attempt)
			assert.Equal(t, "j2", a.JobID)
		}},
		{"late progress after ready is ignored", func(t *testing.T) []*eventsv1.Envelope {
			return []*eventsv1.Envelope{startedEv(t, 1, "j1", 1), finishedEv(t, 5, "j1"), progressEv(t, 3, "j1", 70)}
		}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusReady, a.Status)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, q := newProjection(t)
			project(t, p, tc.build(t)...)
			tc.check(t, get(t, q))
		})
	}
}

func TestProjectionConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	p, q := newProjection(t)
	envs := []*eventsv1.Envelope{uploadedEv(t, 0), startedEv(t, 1, "j1", 1), progressEv(t, 2, "j1", 10), finishedEv(t, 3, "j1")}
	var wg sync.WaitGroup
	for range 4 { // every event delivered four times, concurrently, in every order
		for _, e := range envs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				assert.NoError(t, p.Handle(context.Background(), e))
			}()
		}
	}
	wg.Wait()
	a := get(t, q)
	assert.Equal(t, domain.StatusReady, a.Status)
	assert.Equal(t, 1, a.ReadyTransitions)
	assert.Equal(t, "Sintel", a.Title)
}

func TestProjectionRejectsInvalid(t *testing.T) {
	t.Parallel()
	p, _ := newProjection(t)
	ctx := context.Background()

	noTime := uploadedEv(t, 0)
	noTime.OccurredAt = nil
	badID := uploadedEv(t, 0)
	badID.AssetId = "../etc"
	negative := startedEv(t, 1, "j1", -1)
	noManifest := ev(t, 3, &eventsv1.EncodingFinished{ExternalJobId: "j1"})
	noPayload := uploadedEv(t, 0)
	noPayload.Payload = nil

	for name, e := range map[string]*eventsv1.Envelope{"no time": noTime, "bad id": badID, "negative attempt": negative,
		"no manifest": noManifest, "no payload": noPayload} {
		err := p.Handle(ctx, e)
		assert.ErrorIs(t, err, app.ErrInvalidEvent, name)
	}
	// The catalog does not project encoding requests: acknowledged, nothing stored.
	req := ev(t, 1, &eventsv1.EncodingRequested{Owner: "alice"})
	assert.NoError(t, p.Handle(ctx, req))
}

func TestQueriesValidate(t *testing.T) {
	t.Parallel()
	_, q := newProjection(t)
	ctx := context.Background()
	_, err := q.Get(ctx, "no/slash")
	assert.ErrorIs(t, err, domain.ErrInvalidID)
	_, err = q.Get(ctx, "missing")
	assert.ErrorIs(t, err, domain.ErrNotFound)
	_, err = q.List(ctx, app.ListFilter{Status: "bogus"})
	assert.ErrorIs(t, err, domain.ErrInvalidStatus)
	_, err = q.List(ctx, app.ListFilter{Cursor: "%%%"})
	assert.ErrorIs(t, err, app.ErrInvalidCursor)
	p, err := q.List(ctx, app.ListFilter{Limit: 10_000})
	require.NoError(t, err)
	assert.Empty(t, p.Assets)
}

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	c := app.Cursor{CreatedAt: time.Unix(0, 1234567890123).UTC(), ID: "a-1"}
	got, ok, err := app.DecodeCursor(c.Encode())
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, c, got)
	_, ok, err = app.DecodeCursor("")
	assert.NoError(t, err)
	assert.False(t, ok)
}

// TestProjectionKeepsTheLadderMode: the ready encoding's ladder mode is kept
// for the web app to name; a mode the catalog does not know is dropped, and
// a retry in another mode replaces it.
func TestProjectionKeepsTheLadderMode(t *testing.T) {
	t.Parallel()
	p, q := newProjection(t)
	f := finishedEv(t, 3, "job-1")
	f.GetEncodingFinished().LadderMode = "pershot"
	project(t, p, uploadedEv(t, 0), startedEv(t, 1, "job-1", 1), f)
	assert.Equal(t, "pershot", get(t, q).LadderMode)

	g := finishedEv(t, 6, "job-2")
	g.GetEncodingFinished().LadderMode = "<script>"
	project(t, p, startedEv(t, 5, "job-2", 2), g)
	a := get(t, q)
	assert.Equal(t, "job-2", a.JobID)
	assert.Empty(t, a.LadderMode, "not a ladder mode: not kept")

	h := finishedEv(t, 9, "job-3")
	h.GetEncodingFinished().LadderMode = "pertitle"
	project(t, p, startedEv(t, 8, "job-3", 3), h)
	assert.Equal(t, "pertitle", get(t, q).LadderMode)
}
