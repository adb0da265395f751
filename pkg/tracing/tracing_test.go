package tracing_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/tracing"
)

// The tests share the global tracer provider: they run one after the other.
func setup(t *testing.T) (spans func() tracetest.SpanStubs) {
	t.Helper()
	exp := keeper{tracetest.NewInMemoryExporter()}
	shutdown, err := tracing.Setup(context.Background(), tracing.Config{Service: "test", Version: "v0", Exporter: exp})
	require.NoError(t, err)
	var once sync.Once
	flush := func() { once.Do(func() { require.NoError(t, shutdown(context.Background())) }) }
	t.Cleanup(flush)
	return func() tracetest.SpanStubs { flush(); return exp.GetSpans() }
}

// keeper keeps the spans when the provider shuts down (flushing them).
type keeper struct{ *tracetest.InMemoryExporter }

func (keeper) Shutdown(context.Context) error { return nil }

func byName(t *testing.T, spans tracetest.SpanStubs, name string) tracetest.SpanStub {
	t.Helper()
	var names []string
	for _, s := range spans {
		if s.Name == name {
			return s
		}
		names = append(names, s.Name)
	}
	t.Fatalf("no span %q among %v", name, names)
	return tracetest.SpanStub{}
}

func attr(s tracetest.SpanStub, key string) attribute.Value {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value
		}
	}
	return attribute.Value{}
}

// A request made inside a trace carries it to the server, whose span is named
// after the route that matched, and the probes make no span.
func TestHTTPClientToServer(t *testing.T) {
	spans := setup(t)
	mux := http.NewServeMux()
	var serverTrace string
	mux.HandleFunc("POST /v1/assets/{id}", func(w http.ResponseWriter, r *http.Request) {
		serverTrace = tracing.Traceparent(r.Context())
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	srv := httptest.NewServer(tracing.Handler(mux))
	defer srv.Close()

	client := tracing.Client(nil)
	ctx, root := tracing.Tracer().Start(context.Background(), "root")
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/assets/a1", strings.NewReader("x"))
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	assert.Empty(t, req.Header.Get("traceparent"), "the caller's request is not modified")
	root.End()
	// Outside a trace the client sends no traceparent and makes no span.
	resp, err = client.Get(srv.URL + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()

	all := spans()
	require.Len(t, all, 3, "root, client, server: no span for the probe")
	rootSpan, server := byName(t, all, "root"), byName(t, all, "POST /v1/assets/{id}")
	clientSpan := byName(t, all, "POST "+strings.TrimPrefix(srv.URL, "http://"))
	assert.Equal(t, rootSpan.SpanContext.SpanID(), clientSpan.Parent.SpanID())
	assert.Equal(t, clientSpan.SpanContext.SpanID(), server.Parent.SpanID())
	assert.True(t, server.Parent.IsRemote())
	assert.Equal(t, trace.SpanKindServer, server.SpanKind)
	assert.Equal(t, int64(http.StatusAccepted), attr(server, "http.response.status_code").AsInt64())
	assert.Equal(t, "/v1/assets/{id}", attr(server, "http.route").AsString())
	assert.Contains(t, serverTrace, server.SpanContext.SpanID().String(), "the handler's context holds the server span")
}

// Child makes spans only inside a trace.
func TestChildOnlyInsideATrace(t *testing.T) {
	spans := setup(t)
	ctx, span := tracing.Child(context.Background(), "orphan", trace.SpanKindInternal)
	assert.False(t, span.SpanContext().IsValid())
	assert.Empty(t, tracing.Traceparent(ctx))
	span.End()

	ctx, root := tracing.Tracer().Start(context.Background(), "root")
	_, child := tracing.Child(ctx, "child", trace.SpanKindInternal)
	tracing.End(child, assert.AnError)
	root.End()
	all := spans()
	require.Len(t, all, 2)
	c := byName(t, all, "child")
	assert.Equal(t, root.SpanContext().SpanID(), c.Parent.SpanID())
	assert.Equal(t, "Error", c.Status.Code.String())
}

// A log line written with IDs, or through Logger, inside a trace carries its
// trace and span ids; outside one it carries neither key.
func TestLogLinesCarryTheTrace(t *testing.T) {
	setup(t)
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	ctx, root := tracing.Tracer().Start(context.Background(), "root")
	defer root.End()
	log.Info("field", tracing.IDs(ctx), zap.String("k", "v"))
	tracing.Logger(ctx, log).Info("logger")
	log.Info("outside", tracing.IDs(context.Background()))
	tracing.Logger(context.Background(), log).Info("outside logger")

	all := logs.All()
	require.Len(t, all, 4)
	for _, e := range all[:2] {
		m := e.ContextMap()
		assert.Equal(t, root.SpanContext().TraceID().String(), m["trace_id"], e.Message)
		assert.Equal(t, root.SpanContext().SpanID().String(), m["span_id"], e.Message)
	}
	assert.Equal(t, "v", all[0].ContextMap()["k"])
	for _, e := range all[2:] {
		assert.NotContains(t, e.ContextMap(), "trace_id", e.Message)
		assert.NotContains(t, e.ContextMap(), "span_id", e.Message)
	}
}

// An event published inside a request's span is consumed under it, and what
// its handler publishes continues the same trace: one trace across services.
func TestBusCarriesTheTrace(t *testing.T) {
	spans := setup(t)
	cfg := bus.DefaultConfig()
	cfg.Transport, cfg.Prefix = bus.TransportMemory, "trace-"
	cfg.Memory = bus.NewMemoryBroker()
	defer cfg.Memory.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	a, err := bus.New(ctx, cfg, "svc-a", zap.NewNop(), nil)
	require.NoError(t, err)
	b, err := bus.New(ctx, cfg, "svc-b", zap.NewNop(), nil)
	require.NoError(t, err)
	got := make(chan *eventsv1.Envelope, 1)
	a.Subscribe(events.TopicAssetUploaded, func(ctx context.Context, env *eventsv1.Envelope) error {
		next, err := events.New(events.Meta{AssetID: env.GetAssetId(), Producer: "svc-a"}, &eventsv1.EncodingRequested{Backend: "local"})
		if err != nil {
			return err
		}
		return a.Publish(ctx, next)
	})
	b.Subscribe(events.TopicEncodingRequested, func(ctx context.Context, env *eventsv1.Envelope) error {
		got <- env
		return nil
	})
	for _, x := range []*bus.Bus{a, b} {
		go func() { _ = x.Run(ctx) }()
		<-x.Running()
	}

	rctx, root := tracing.Tracer().Start(context.Background(), "POST /v1/assets", trace.WithSpanKind(trace.SpanKindServer))
	env, err := events.New(events.Meta{AssetID: "asset-1", Producer: "test"}, &eventsv1.AssetUploaded{Owner: "o", Title: "t", SourceKey: "k"})
	require.NoError(t, err)
	require.NoError(t, a.Publish(rctx, env))
	root.End()
	var down *eventsv1.Envelope
	select {
	case down = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("EncodingRequested never arrived")
	}
	cancel()
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())

	all := spans()
	trace := root.SpanContext().TraceID()
	chain := []string{"POST /v1/assets", "publish " + events.TopicAssetUploaded, "process " + events.TopicAssetUploaded,
		"publish " + events.TopicEncodingRequested, "process " + events.TopicEncodingRequested}
	for i := 1; i < len(chain); i++ {
		parent, child := byName(t, all, chain[i-1]), byName(t, all, chain[i])
		assert.Equal(t, trace, child.SpanContext.TraceID(), chain[i])
		assert.Equal(t, parent.SpanContext.SpanID(), child.Parent.SpanID(), "%s is the child of %s", chain[i], chain[i-1])
	}
	pub := byName(t, all, "publish "+events.TopicEncodingRequested)
	assert.Equal(t, "00-"+trace.String()+"-"+pub.SpanContext.SpanID().String()+"-01", down.GetTraceparent(),
		"the event carries its producer span's traceparent")
	proc := byName(t, all, "process "+events.TopicAssetUploaded)
	assert.Equal(t, trace.String(), proc.SpanContext.TraceID().String())
	assert.Equal(t, "asset-1", attr(proc, "pertitle.asset_id").AsString())
	assert.Equal(t, "trace-svc-a--"+events.TopicAssetUploaded, attr(proc, "messaging.destination.subscription.name").AsString())
}

// An event published outside any span continues the trace it already carries.
func TestPublishOutsideASpanKeepsTheEventsTrace(t *testing.T) {
	spans := setup(t)
	cfg := bus.DefaultConfig()
	cfg.Transport, cfg.Prefix = bus.TransportMemory, "trace2-"
	cfg.Memory = bus.NewMemoryBroker()
	defer cfg.Memory.Close()
	p, err := bus.New(context.Background(), cfg, "svc-p", zap.NewNop(), nil)
	require.NoError(t, err)
	defer p.Close()
	env, err := events.New(events.Meta{AssetID: "asset-2", Producer: "test",
		Traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, &eventsv1.EncodingFailed{Reason: "x"})
	require.NoError(t, err)
	require.NoError(t, p.Publish(context.Background(), env))
	all := spans()
	pub := byName(t, all, "publish "+events.TopicEncodingFailed)
	assert.Equal(t, "0af7651916cd43dd8448eb211c80319c", pub.SpanContext.TraceID().String())
	assert.Equal(t, "b7ad6b7169203331", pub.Parent.SpanID().String())
	assert.Equal(t, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", env.GetTraceparent(), "the caller's envelope is not modified")
}

// The dead letter of a traced event is handled inside that trace: the
// handler's context holds a "dead-letter <topic>" span whose parent is the
// span that published the event, and the bus's lines about it carry the ids.
func TestDeadLettersContinueTheTrace(t *testing.T) {
	spans := setup(t)
	cfg := bus.DefaultConfig()
	cfg.Transport, cfg.Prefix = bus.TransportMemory, "dltrace-"
	cfg.Memory = bus.NewMemoryBroker()
	cfg.DeadLetterSweep = 100 * time.Millisecond
	defer cfg.Memory.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	core, logs := observer.New(zap.InfoLevel)
	a, err := bus.New(ctx, cfg, "svc-a", zap.New(core), nil)
	require.NoError(t, err)
	a.Subscribe(events.TopicAssetUploaded, func(context.Context, *eventsv1.Envelope) error {
		return bus.Permanent(errors.New("cannot be encoded"))
	})
	dead := make(chan trace.SpanContext, 1)
	a.OnDeadLetter(func(ctx context.Context, dl bus.DeadLetter) error {
		dead <- trace.SpanContextFromContext(ctx)
		return nil
	})
	go func() { _ = a.Run(ctx) }()
	<-a.Running()

	rctx, root := tracing.Tracer().Start(context.Background(), "POST /v1/assets", trace.WithSpanKind(trace.SpanKindServer))
	env, err := events.New(events.Meta{AssetID: "asset-1", Producer: "test"}, &eventsv1.AssetUploaded{Owner: "o", Title: "t", SourceKey: "k"})
	require.NoError(t, err)
	require.NoError(t, a.Publish(rctx, env))
	root.End()
	var sc trace.SpanContext
	select {
	case sc = <-dead:
	case <-time.After(10 * time.Second):
		t.Fatal("the dead letter was never swept")
	}
	require.Eventually(t, func() bool { return logs.FilterMessage("dead letter handled").Len() == 1 }, 5*time.Second, 20*time.Millisecond)
	cancel()
	require.NoError(t, a.Close())

	all := spans()
	dl := byName(t, all, "dead-letter "+events.TopicAssetUploaded)
	assert.Equal(t, root.SpanContext().TraceID(), sc.TraceID(), "the handler runs in the upload's trace")
	assert.Equal(t, dl.SpanContext.SpanID(), sc.SpanID(), "inside the dead-letter span")
	assert.Equal(t, byName(t, all, "publish "+events.TopicAssetUploaded).SpanContext.SpanID(), dl.Parent.SpanID())
	assert.Equal(t, trace.SpanKindConsumer, dl.SpanKind)
	line := logs.FilterMessage("dead letter handled").All()[0].ContextMap()
	assert.Equal(t, sc.TraceID().String(), line["trace_id"])
	assert.Equal(t, sc.SpanID().String(), line["span_id"])
}
