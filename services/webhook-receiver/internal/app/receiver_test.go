package app_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/webhook"
	"github.com/pertitle/pertitle/services/webhook-receiver/internal/app"
)

// publisher keeps what it publishes, refuses what the bus would refuse (an
// event too large for one SQS message) and fails the next fail calls.
type publisher struct {
	mu   sync.Mutex
	fail int
	got  []*eventsv1.Envelope
}

func (p *publisher) Publish(_ context.Context, env *eventsv1.Envelope) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail > 0 {
		p.fail--
		return errors.New("bus down")
	}
	if _, err := events.Marshal(env); err != nil {
		return err
	}
	p.got = append(p.got, env)
	return nil
}

func (p *publisher) all() []*eventsv1.Envelope {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*eventsv1.Envelope(nil), p.got...)
}

// resolver answers with the result it holds, counting the calls; block, when
// set, holds each call until it is closed or the call's context ends.
type resolver struct {
	mu    sync.Mutex
	res   *jobs.Result
	calls atomic.Int32
	block chan struct{}
}

func (r *resolver) Resolve(ctx context.Context, id string) (*jobs.Result, error) {
	r.calls.Add(1)
	if r.block != nil {
		select {
		case <-r.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.res == nil || r.res.JobID != id {
		return nil, app.ErrUnknownEncoding
	}
	c := *r.res
	return &c, nil
}

func (r *resolver) set(res *jobs.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res = res
}

// ledger is an in-memory Ledger.
type ledger struct {
	mu   sync.Mutex
	done map[string]bool
}

func (l *ledger) Published(_ context.Context, id, typ string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.done[id+"/"+typ], nil
}

func (l *ledger) MarkPublished(_ context.Context, id, typ string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done == nil {
		l.done = map[string]bool{}
	}
	l.done[id+"/"+typ] = true
	return nil
}

func finished(job string) *jobs.Result {
	return &jobs.Result{JobID: job, AssetID: "asset-1", Owner: "alice", Backend: "local", Status: jobs.StatusFinished,
		HLSManifestKey: "outputs/asset-1/" + job + "/master.m3u8", DASHManifestKey: "outputs/asset-1/" + job + "/manifest.mpd",
		Renditions: []jobs.Rendition{{Width: 640, Height: 360, Bitrate: 900_000, Codec: "h264"}}, CorrelationID: "corr-1"}
}

func note(job, typ string) webhook.Notification {
	return webhook.Notification{EventID: "n-" + typ, ResourceID: job, ResourceType: "ENCODING", EventType: typ}
}

func receiver(pub app.Publisher, r app.Resolver) *app.Receiver {
	rcv := app.NewReceiver(pub, r, time.Hour)
	rcv.InProgressWait = 200 * time.Millisecond
	return rcv
}

func TestAFinishedEncodingIsPublishedOnce(t *testing.T) {
	t.Parallel()
	pub, res, led := &publisher{}, &resolver{res: finished("local-a")}, &ledger{}
	rcv := receiver(pub, res)
	rcv.Ledger = led
	ctx := context.Background()
	out, err := rcv.Handle(ctx, note("local-a", webhook.EventEncodingFinished))
	require.NoError(t, err)
	assert.False(t, out.Duplicate)
	assert.Equal(t, webhook.EventEncodingFinished, out.EventType)
	again, err := rcv.Handle(ctx, note("local-a", webhook.EventEncodingFinished))
	require.NoError(t, err)
	assert.True(t, again.Duplicate)
	assert.Equal(t, out.EventID, again.EventID, "a repeat names the event already published")
	assert.Equal(t, int32(1), res.calls.Load(), "a repeat does not ask the encoder again")

	got := pub.all()
	require.Len(t, got, 1)
	assert.Equal(t, out.EventID, got[0].GetEventId())
	assert.Equal(t, "asset-1", got[0].GetAssetId())
	assert.Equal(t, "corr-1", got[0].GetCorrelationId())
	f := got[0].GetEncodingFinished()
	require.NotNil(t, f)
	assert.Equal(t, "outputs/asset-1/local-a/master.m3u8", f.GetHlsManifestKey())
	assert.Len(t, f.GetRenditions(), 1)
	ok, _ := led.Published(ctx, "local-a", webhook.EventEncodingFinished)
	assert.True(t, ok, "the outcome is recorded in the ledger")

	// Another receiver (a replica, or this one restarted) gets the same event id.
	other, err := receiver(&publisher{}, res).Handle(ctx, note("local-a", webhook.EventEncodingFinished))
	require.NoError(t, err)
	assert.Equal(t, out.EventID, other.EventID, "event ids derive from the encoding and outcome")
}

func TestTheResolvedStatusWinsOverTheNotification(t *testing.T) {
	t.Parallel()
	pub := &publisher{}
	rcv := receiver(pub, &resolver{res: finished("local-a")})
	out, err := rcv.Handle(context.Background(), note("local-a", webhook.EventEncodingError))
	require.NoError(t, err)
	assert.True(t, out.Overruled)
	assert.Equal(t, webhook.EventEncodingFinished, out.EventType)
	out, err = rcv.Handle(context.Background(), note("local-a", webhook.EventEncodingFinished))
	require.NoError(t, err)
	assert.True(t, out.Duplicate, "the truth after the lie publishes nothing new")
	got := pub.all()
	require.Len(t, got, 1)
	assert.NotNil(t, got[0].GetEncodingFinished())
}

func TestAnEncodingThatHasNotEndedIsAskedAgainLater(t *testing.T) {
	t.Parallel()
	pub := &publisher{}
	running := finished("local-a")
	running.Status = "RUNNING"
	res := &resolver{res: running}
	rcv := receiver(pub, res)
	_, err := rcv.Handle(context.Background(), note("local-a", webhook.EventEncodingFinished))
	require.ErrorIs(t, err, app.ErrNotFinished)
	assert.Empty(t, pub.all())

	res.set(finished("local-a"))
	out, err := rcv.Handle(context.Background(), note("local-a", webhook.EventEncodingFinished))
	require.NoError(t, err, "the claim was given up for the retry")
	assert.False(t, out.Duplicate)
	assert.Len(t, pub.all(), 1)
}

func TestAPublishFailureLeavesTheOutcomeToTheRetry(t *testing.T) {
	t.Parallel()
	pub := &publisher{fail: 1}
	led := &ledger{}
	rcv := receiver(pub, &resolver{res: finished("local-a")})
	rcv.Ledger = led
	_, err := rcv.Handle(context.Background(), note("local-a", webhook.EventEncodingFinished))
	require.Error(t, err)
	assert.NotErrorIs(t, err, app.ErrInvalid, "the sender retries")
	ok, _ := led.Published(context.Background(), "local-a", webhook.EventEncodingFinished)
	assert.False(t, ok, "nothing recorded as published")
	out, err := rcv.Handle(context.Background(), note("local-a", webhook.EventEncodingFinished))
	require.NoError(t, err)
	assert.False(t, out.Duplicate)
	assert.Len(t, pub.all(), 1)
}

func TestTheLedgerOutlivesTheClaims(t *testing.T) {
	t.Parallel()
	led := &ledger{}
	require.NoError(t, led.MarkPublished(context.Background(), "local-a", webhook.EventEncodingFinished))
	pub, res := &publisher{}, &resolver{res: finished("local-a")}
	rcv := receiver(pub, res) // fresh claims: a restart of a memory store
	rcv.Ledger = led
	out, err := rcv.Handle(context.Background(), note("local-a", webhook.EventEncodingFinished))
	require.NoError(t, err)
	assert.True(t, out.Duplicate)
	assert.Empty(t, pub.all())
	assert.Zero(t, res.calls.Load(), "nothing is resolved for an outcome already published")
}

func TestAFailureCarriesABoundedReason(t *testing.T) {
	t.Parallel()
	pub := &publisher{}
	bad := finished("local-b")
	bad.Status, bad.Error, bad.Code, bad.Retryable = jobs.StatusError, strings.Repeat("é", 5000), "ffmpeg", true
	out, err := receiver(pub, &resolver{res: bad}).Handle(context.Background(), note("local-b", webhook.EventEncodingError))
	require.NoError(t, err)
	assert.Equal(t, webhook.EventEncodingError, out.EventType)
	got := pub.all()
	require.Len(t, got, 1)
	f := got[0].GetEncodingFailed()
	require.NotNil(t, f)
	assert.True(t, utf8.ValidString(f.GetReason()), "cut on a rune boundary")
	assert.LessOrEqual(t, len(f.GetReason()), 4096+len("…"))
	assert.True(t, f.GetRetryable())
	assert.Equal(t, "ffmpeg", f.GetCode())

	quiet := finished("local-c")
	quiet.Status = jobs.StatusError
	_, err = receiver(pub, &resolver{res: quiet}).Handle(context.Background(), note("local-c", webhook.EventEncodingError))
	require.NoError(t, err)
	assert.Equal(t, "encoding failed without a reason", pub.all()[1].GetEncodingFailed().GetReason())
}

func TestAResultTooLargeToPublishFailsTheEncoding(t *testing.T) {
	t.Parallel()
	pub := &publisher{}
	huge := finished("local-a")
	for i := 0; i < 20000; i++ {
		huge.Renditions = append(huge.Renditions, jobs.Rendition{Width: 640, Height: 360, Bitrate: int64(i), Codec: "h264"})
	}
	out, err := receiver(pub, &resolver{res: huge}).Handle(context.Background(), note("local-a", webhook.EventEncodingFinished))
	require.NoError(t, err, "answered, not retried forever")
	assert.Equal(t, webhook.EventEncodingError, out.EventType)
	got := pub.all()
	require.Len(t, got, 1)
	f := got[0].GetEncodingFailed()
	require.NotNil(t, f)
	assert.Equal(t, "result-too-large", f.GetCode())
	assert.False(t, f.GetRetryable())
}

func TestARepeatWhileTheFirstIsPublishingIsAskedToRetry(t *testing.T) {
	t.Parallel()
	pub := &publisher{}
	res := &resolver{res: finished("local-a"), block: make(chan struct{})}
	rcv := receiver(pub, res)
	first := make(chan error, 1)
	go func() {
		_, err := rcv.Handle(context.Background(), note("local-a", webhook.EventEncodingFinished))
		first <- err
	}()
	require.Eventually(t, func() bool { return res.calls.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
	_, err := rcv.Handle(context.Background(), note("local-a", webhook.EventEncodingFinished))
	require.ErrorIs(t, err, app.ErrInProgress)
	close(res.block)
	require.NoError(t, <-first)
	assert.Len(t, pub.all(), 1)
	assert.Equal(t, int32(1), res.calls.Load(), "the repeat never resolved")
}

func TestASlowResolverIsCutOffAndRetried(t *testing.T) {
	t.Parallel()
	pub := &publisher{}
	res := &resolver{res: finished("local-a"), block: make(chan struct{})}
	rcv := receiver(pub, res)
	rcv.ResolveTimeout = 50 * time.Millisecond
	start := time.Now()
	_, err := rcv.Handle(context.Background(), note("local-a", webhook.EventEncodingFinished))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)
	close(res.block)
	out, err := rcv.Handle(context.Background(), note("local-a", webhook.EventEncodingFinished))
	require.NoError(t, err, "the claim was given up")
	assert.False(t, out.Duplicate)
}

func TestNotificationsThatCanNeverBeAcceptedAreInvalid(t *testing.T) {
	t.Parallel()
	res := &resolver{res: finished("local-a")}
	rcv := receiver(&publisher{}, res)
	for name, n := range map[string]webhook.Notification{
		"no outcome":      {ResourceID: "local-a", EventType: "ENCODING_STARTED"},
		"bad encoding id": note("../local-a", webhook.EventEncodingFinished),
		"no encoding id":  note("", webhook.EventEncodingFinished),
	} {
		_, err := rcv.Handle(context.Background(), n)
		assert.ErrorIs(t, err, app.ErrInvalid, name)
	}
	assert.Zero(t, res.calls.Load())
	_, err := rcv.Handle(context.Background(), note("local-zzz", webhook.EventEncodingFinished))
	assert.ErrorIs(t, err, app.ErrUnknownEncoding)
}

func TestEncodingsAreResolvedByTheBackendThatMadeThem(t *testing.T) {
	t.Parallel()
	local, bm := &resolver{res: finished("local-a")}, &resolver{res: finished("enc-123")}
	r := app.RoutingResolver{Local: local, Bitmovin: bm}
	_, err := r.Resolve(context.Background(), "local-a")
	require.NoError(t, err)
	_, err = r.Resolve(context.Background(), "enc-123")
	require.NoError(t, err)
	assert.Equal(t, int32(1), local.calls.Load())
	assert.Equal(t, int32(1), bm.calls.Load())
	_, err = app.RoutingResolver{Local: local}.Resolve(context.Background(), "enc-123")
	assert.ErrorIs(t, err, app.ErrUnknownEncoding, "without a Bitmovin API key every id is looked up locally")
	assert.Equal(t, int32(2), local.calls.Load())
}
