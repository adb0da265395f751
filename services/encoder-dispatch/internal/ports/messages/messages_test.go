package messages_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/app"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/ports/messages"
)

// recorder is a Publisher that keeps what it was given.
type recorder struct {
	mu  sync.Mutex
	got []*eventsv1.Envelope
}

func (r *recorder) Publish(_ context.Context, env *eventsv1.Envelope) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, env)
	return nil
}

func (r *recorder) all() []*eventsv1.Envelope {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// jobBackend records the jobs it is given and finishes them at once.
type jobBackend struct{ jobs []app.Job }

func (*jobBackend) Name() string { return jobs.BackendLocal }
func (b *jobBackend) Run(_ context.Context, job app.Job, _ app.Reporter) error {
	b.jobs = append(b.jobs, job)
	return nil
}

// subscriptions is a Subscriber that keeps what was registered.
type subscriptions struct {
	topics []string
	dead   bus.DeadLetterHandler
}

func (s *subscriptions) Subscribe(topic string, _ bus.Handler) { s.topics = append(s.topics, topic) }
func (s *subscriptions) OnDeadLetter(h bus.DeadLetterHandler)  { s.dead = h }
func handlers(pub app.Publisher, be app.Backend) *messages.Handlers {
	d := &app.Dispatcher{Pub: pub, Backend: be, Log: zap.NewNop(), Producer: "encoder-dispatch"}
	w := &app.ChunkWorker{Log: zap.NewNop()}
	return &messages.Handlers{Dispatcher: d, Chunks: w, Log: zap.NewNop()}
}

func event(t *testing.T, payload proto.Message) *eventsv1.Envelope {
	t.Helper()
	env, err := events.New(events.Meta{AssetID: "asset-1", Producer: "test", CorrelationID: "corr-1",
		Traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, payload)
	require.NoError(t, err)
	return env
}

func TestTheServiceConsumesTheTopicsItNames(t *testing.T) {
	t.Parallel()
	var s subscriptions
	handlers(&recorder{}, &jobBackend{}).Subscribe(&s)
	assert.ElementsMatch(t, messages.Topics, s.topics, "a handler on every topic named, and only there")
	assert.NotNil(t, s.dead, "dead letters are handled")
	var provisioned []string
	for _, sub := range bus.DefaultTopology().Subscriptions {
		if sub.Service == bus.ServiceEncoderDispatch {
			provisioned = append(provisioned, sub.Topic)
		}
	}
	assert.ElementsMatch(t, messages.Topics, provisioned, "provisioning creates a queue for each topic the service consumes")
}

func TestAnEventOfAnotherTypeIsDeadLetteredAtOnce(t *testing.T) {
	t.Parallel()
	pub := &recorder{}
	h := handlers(pub, &jobBackend{})
	wrong := event(t, &eventsv1.EncodingStarted{Owner: "alice"})
	for name, handle := range map[string]bus.Handler{
		"AssetUploaded": h.OnAssetUploaded, "EncodingRequested": h.OnEncodingRequested, "ChunkRequested": h.OnChunkRequested,
	} {
		err := handle(context.Background(), wrong)
		require.Error(t, err, name)
		assert.True(t, bus.IsPermanent(err), "%s: %v", name, err)
		assert.Contains(t, err.Error(), "is not "+name)
	}
	assert.Empty(t, pub.all(), "nothing is announced for an event that is not the topic's")
}

func TestARequestBecomesTheJobItDescribes(t *testing.T) {
	t.Parallel()
	be := &jobBackend{}
	h := handlers(&recorder{}, be)
	env := event(t, &eventsv1.EncodingRequested{Owner: "alice", Title: "clip", SourceKey: "sources/asset-1/source.mp4",
		OutputPrefix: "outputs/asset-1/x", LadderMode: jobs.LadderFixed,
		Ladder: []*eventsv1.Rung{{Width: 1280, Height: 720, Bitrate: 3_000_000}, {Width: 640, Height: 360, Bitrate: 800_000}},
		Probe:  &eventsv1.ProbeSummary{DurationSeconds: 4, FrameRate: 25, Width: 1280, Height: 720}, Attempt: 3})
	require.NoError(t, h.OnEncodingRequested(context.Background(), env))
	require.Len(t, be.jobs, 1)
	job := be.jobs[0]
	assert.Equal(t, jobs.NewID(jobs.BackendLocal, env.GetEventId()), job.ID, "the job id derives from the request's event id")
	assert.Equal(t, "asset-1", job.AssetID)
	assert.Equal(t, "alice", job.Owner)
	assert.Equal(t, "clip", job.Title)
	assert.Equal(t, int32(3), job.Attempt, "a retry's attempt reaches the job")
	assert.Equal(t, "outputs/asset-1/x", job.OutputPrefix)
	assert.Equal(t, "corr-1", job.CorrelationID)
	assert.Equal(t, env.GetTraceparent(), job.Traceparent)
	assert.Equal(t, []media.Rung{{Width: 1280, Height: 720, Bitrate: 3_000_000, Profile: "high"},
		{Width: 640, Height: 360, Bitrate: 800_000, Profile: "high"}}, job.Ladder)
}

func TestDeadLettersAreAnnouncedForTheirAsset(t *testing.T) {
	t.Parallel()
	pub := &recorder{}
	h := handlers(pub, &jobBackend{})
	ctx := context.Background()

	// Garbage, and a non-chunk on the chunk topic, have nothing to announce
	// and are not retried forever.
	require.NoError(t, h.OnDeadLetter(ctx, bus.DeadLetter{Body: []byte("junk")}))
	require.NoError(t, h.OnDeadLetter(ctx, bus.DeadLetter{Topic: events.TopicChunkRequested, Body: []byte("junk")}))
	assert.Empty(t, pub.all())

	up := event(t, &eventsv1.AssetUploaded{Owner: "alice", SourceKey: "sources/asset-1/source.mp4"})
	require.NoError(t, h.OnDeadLetter(ctx, bus.DeadLetter{Topic: events.TopicAssetUploaded, Env: up, MaxReceives: 5}))
	req := event(t, &eventsv1.EncodingRequested{Owner: "bob", LadderMode: jobs.LadderFixed})
	req.OccurredAt = nil // a dead event without a time: the failure is stamped now
	require.NoError(t, h.OnDeadLetter(ctx, bus.DeadLetter{Topic: events.TopicEncodingRequested, Env: req, Reason: "malformed ladder"}))

	got := pub.all()
	require.Len(t, got, 2)
	f := got[0].GetEncodingFailed()
	require.NotNil(t, f)
	assert.Equal(t, "alice", f.GetOwner())
	assert.Equal(t, "AssetUploaded was given up on: not handled after 5 deliveries", f.GetReason())
	assert.Empty(t, f.GetExternalJobId(), "an upload has no job yet")
	assert.True(t, up.GetOccurredAt().AsTime().Equal(got[0].GetOccurredAt().AsTime()), "the failure keeps the dead event's time")
	assert.Equal(t, "corr-1", got[0].GetCorrelationId())

	f = got[1].GetEncodingFailed()
	require.NotNil(t, f)
	assert.Equal(t, "bob", f.GetOwner())
	assert.Equal(t, "EncodingRequested was given up on: malformed ladder", f.GetReason())
	assert.Equal(t, jobs.NewID(jobs.BackendLocal, req.GetEventId()), f.GetExternalJobId())
	assert.WithinDuration(t, time.Now(), got[1].GetOccurredAt().AsTime(), time.Minute)
}
