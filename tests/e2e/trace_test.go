package e2e

import (
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/tests/stack"
)

// span is one span the receiver got, with the service that sent it.
type span struct {
	Service, Name, Trace, ID, Parent string
	Kind                             tracev1.Span_SpanKind
	Attrs                            map[string]string
}

// otlpReceiver is an OTLP/HTTP trace receiver: POST /v1/traces with a protobuf
// ExportTraceServiceRequest, as the services' exporters send it.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []span
	bad   []string
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	var req coltrace.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(b, &req)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || err != nil {
		o.bad = append(o.bad, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				attrs := map[string]string{}
				for _, a := range s.GetAttributes() {
					attrs[a.GetKey()] = a.GetValue().GetStringValue()
				}
				o.spans = append(o.spans, span{Service: service, Name: s.GetName(), Trace: hex.EncodeToString(s.GetTraceId()),
					ID: hex.EncodeToString(s.GetSpanId()), Parent: hex.EncodeToString(s.GetParentSpanId()), Kind: s.GetKind(), Attrs: attrs})
			}
		}
	}
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// trace returns the spans of trace id.
func (o *otlpReceiver) trace(id string) []span {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []span
	for _, s := range o.spans {
		if s.Trace == id {
			out = append(out, s)
		}
	}
	return out
}

func (o *otlpReceiver) find(pred func(span) bool) (span, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range o.spans {
		if pred(s) {
			return s, true
		}
	}
	return span{}, false
}

// TestOneUploadIsOneTrace uploads a clip to a stack exporting its spans to an
// in-process OTLP receiver and checks the trace's shape: one trace from
// ingest's POST /v1/assets to the catalog's handling of EncodingFinished,
// across the four services, every span's parent in it, the bus's producer and
// consumer spans chained, the ffmpeg runs and S3 calls inside it.
func TestOneUploadIsOneTrace(t *testing.T) {
	skipShort(t)
	t.Parallel()
	recv := &otlpReceiver{}
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close) // after the stack's cleanup, which flushes the services' last spans
	s := stack.Start(t, stack.Options{Env: map[string]string{
		"PERTITLE_STORAGE":            "s3",
		"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL,
		"OTEL_BSP_SCHEDULE_DELAY":     "200",
	}})
	clip := testmedia.Clip(t, testmedia.Spec{Width: 320, Height: 180, Seconds: 3, FPS: 25, Audio: true})
	code, body := s.Upload(clip, "traced")
	require.Equal(t, http.StatusAccepted, code, "%v", body)
	id, _ := body["id"].(string)
	s.WaitStatus(id, 3*time.Minute, "ready")

	// The upload's trace is the one whose ingest server span created the asset.
	var root span
	require.Eventually(t, func() bool {
		var ok bool
		root, ok = recv.find(func(sp span) bool {
			return sp.Service == "ingest" && sp.Name == "publish asset-uploaded" && sp.Attrs["pertitle.asset_id"] == id
		})
		return ok
	}, 20*time.Second, 100*time.Millisecond, "ingest's publish span of the asset never arrived")
	traceID := root.Trace
	// Spans arrive in batches, the last after the catalog handled the event.
	var spans []span
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		spans = recv.trace(traceID)
		_, done := byName(spans, "catalog", "process encoding-finished")
		if done && len(orphans(spans)) == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the trace never completed: catalog's process encoding-finished: %v, spans whose parent is missing: %v",
			done, orphans(spans))
	}
	recv.mu.Lock()
	assert.Empty(t, recv.bad, "every export is a protobuf ExportTraceServiceRequest on /v1/traces")
	recv.mu.Unlock()

	ids := map[string]span{}
	services := map[string]bool{}
	var roots []span
	for _, sp := range spans {
		ids[sp.ID] = sp
		services[sp.Service] = true
		if sp.Parent == "" {
			roots = append(roots, sp)
		}
	}
	require.Len(t, roots, 1, "one root")
	assert.Equal(t, "ingest", roots[0].Service)
	assert.Equal(t, "POST /v1/assets", roots[0].Name)
	assert.Equal(t, tracev1.Span_SPAN_KIND_SERVER, roots[0].Kind)
	for _, want := range []string{"ingest", "encoder-dispatch", "webhook-receiver", "catalog"} {
		assert.True(t, services[want], "the trace crosses %s (services: %v)", want, services)
	}

	// The path of the upload, each step a descendant of the one before it.
	path := [][2]string{
		{"ingest", "POST /v1/assets"},
		{"ingest", "publish asset-uploaded"},
		{"encoder-dispatch", "process asset-uploaded"},
		{"encoder-dispatch", "publish encoding-requested"},
		{"encoder-dispatch", "process encoding-requested"},
		{"webhook-receiver", "POST /webhooks/bitmovin"},
		{"webhook-receiver", "publish encoding-finished"},
		{"catalog", "process encoding-finished"},
	}
	for i := 1; i < len(path); i++ {
		up, ok := byName(spans, path[i-1][0], path[i-1][1])
		require.True(t, ok, "no span %v in the trace: %v", path[i-1], names(spans))
		down, ok := byName(spans, path[i][0], path[i][1])
		require.True(t, ok, "no span %v in the trace: %v", path[i], names(spans))
		assert.True(t, descends(ids, down, up.ID), "%v descends from %v", path[i], path[i-1])
	}
	// The bus's consumer spans are the children of the producer spans.
	for _, topic := range []string{"asset-uploaded", "encoding-requested", "encoding-finished"} {
		for _, c := range spans {
			if c.Name == "process "+topic {
				assert.Equal(t, "publish "+topic, ids[c.Parent].Name, "%s's parent", c.Name)
				assert.Equal(t, tracev1.Span_SPAN_KIND_CONSUMER, c.Kind)
			}
		}
	}
	catalogUploaded, ok := byName(spans, "catalog", "process asset-uploaded")
	require.True(t, ok, "the catalog's projection of AssetUploaded is in the trace")
	assert.Equal(t, "ingest", ids[catalogUploaded.Parent].Service)

	// Inside the encoding: ffmpeg runs and S3 calls of encoder-dispatch.
	encode, _ := byName(spans, "encoder-dispatch", "process encoding-requested")
	var ffmpeg, s3put, s3get int
	for _, sp := range spans {
		if sp.Service != "encoder-dispatch" || !descends(ids, sp, encode.ID) {
			continue
		}
		switch sp.Name {
		case "ffmpeg":
			ffmpeg++
			assert.NotEmpty(t, sp.Attrs["process.command_args"])
		case "S3.PutObject":
			s3put++
		case "S3.GetObject":
			s3get++
		}
	}
	assert.Positive(t, ffmpeg, "ffmpeg runs are spans of the encoding")
	assert.Positive(t, s3put, "outputs stored with S3 PutObject are spans of the encoding")
	assert.Positive(t, s3get, "the source read with S3 GetObject is a span of the encoding")

	// The video metrics of the same upload, on the ops listeners.
	assert.GreaterOrEqual(t, s.Metric("encoder-dispatch", "pertitle_encode_duration_seconds_count", `outcome="ok"`, `backend="local"`), 1.0)
	assert.GreaterOrEqual(t, s.Metric("encoder-dispatch", "pertitle_encode_realtime_ratio_count"), 1.0)
	assert.GreaterOrEqual(t, s.Metric("webhook-receiver", "pertitle_webhook_latency_seconds_count", `outcome="finished"`), 1.0)
	assert.GreaterOrEqual(t, s.Metric("webhook-receiver", "pertitle_ladder_stored_bytes_count"), 1.0)
	queue := s.Prefix + "catalog--encoding-finished"
	assert.Positive(t, s.Metric("catalog", "pertitle_queue_observed_timestamp_seconds", `queue="`+queue+`"`), "the catalog reads its queues' depth")
	assert.Zero(t, s.Metric("catalog", "pertitle_queue_messages", `queue="`+queue+`-dlq"`), "nothing dead-lettered")

	checkLogsCarryTrace(t, s.Dir, id, traceID, ids)
}

// checkLogsCarryTrace reads the services' JSON logs: every line about an
// event carries a trace id (the bus's), and every line that names the upload
// (its asset id, or the id of its encoding job) was written inside its trace
// and carries that trace's id and the id of one of its spans. Each service
// wrote lines of its own (not the bus's) about it: the stack logs at debug
// level, where the catalog logs each event it projects.
func checkLogsCarryTrace(t *testing.T, dir, assetID, traceID string, spans map[string]span) {
	t.Helper()
	var jobID string
	for _, name := range []string{"ingest", "encoder-dispatch", "webhook-receiver", "catalog"} {
		b, err := os.ReadFile(filepath.Join(dir, name+".log"))
		require.NoError(t, err)
		own, ours := 0, 0
		for _, line := range strings.Split(string(b), "\n") {
			var l map[string]any
			if json.Unmarshal([]byte(line), &l) != nil {
				continue // a line of the stack's, not of the logger
			}
			if l["msg"] == "encoding planned" && l["asset_id"] == assetID {
				jobID, _ = l["job_id"].(string)
			}
			if _, ok := l["event_id"]; ok && l["component"] == "bus" {
				assert.Contains(t, l, "trace_id", "%s: a bus log line about an event without its trace id: %s", name, line)
			}
			if !mentions(l, assetID) && (jobID == "" || !mentions(l, jobID)) {
				continue
			}
			if !assert.Equal(t, traceID, l["trace_id"], "%s: a log line about the upload without its trace id: %s", name, line) {
				continue
			}
			sp, _ := l["span_id"].(string)
			assert.Contains(t, spans, sp, "%s: the span id of a log line is a span of the trace: %s", name, line)
			ours++
			if l["component"] != "bus" {
				own++
			}
		}
		assert.Positive(t, ours, "%s logged about the upload with its trace id", name)
		assert.Positive(t, own, "%s's own log lines about the upload carry its trace id", name)
	}
}

// mentions reports whether a value of the log line l mentions id.
func mentions(l map[string]any, id string) bool {
	for k, v := range l {
		if s, ok := v.(string); ok && k != "msg" && strings.Contains(s, id) {
			return true
		}
	}
	return false
}

func byName(spans []span, service, name string) (span, bool) {
	for _, sp := range spans {
		if sp.Service == service && sp.Name == name {
			return sp, true
		}
	}
	return span{}, false
}

// descends reports whether sp has ancestor id within the trace.
func descends(ids map[string]span, sp span, id string) bool {
	for seen := 0; sp.Parent != "" && seen < len(ids); seen++ {
		if sp.Parent == id {
			return true
		}
		sp = ids[sp.Parent]
	}
	return false
}

// orphans are the spans whose parent has not arrived (yet).
func orphans(spans []span) []string {
	ids := map[string]bool{}
	for _, sp := range spans {
		ids[sp.ID] = true
	}
	var out []string
	for _, sp := range spans {
		if sp.Parent != "" && !ids[sp.Parent] {
			out = append(out, sp.Service+": "+sp.Name)
		}
	}
	return out
}

func names(spans []span) []string {
	var out []string
	for _, sp := range spans {
		out = append(out, sp.Service+": "+sp.Name)
	}
	sort.Strings(out)
	return out
}
