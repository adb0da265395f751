// Package bitmovintest is a fake Bitmovin encoding API for tests and local demos.
// It speaks the documented JSON shapes (response envelope, resources, pagination),
// records every call, can be told to fail (401, 404, 429 with Retry-After, 5xx,
// slow or malformed answers), and simulates an encoding: once started it queues,
// runs, creates the per-title result streams and muxings, and fires the signed
// finished or error webhooks the encoding registered.
package bitmovintest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pertitle/pertitle/pkg/bitmovin"
	"github.com/pertitle/pertitle/pkg/webhook"
)

// Call is one request the server received.
type Call struct {
	Method string
	// Path is relative to /v1, e.g. /encoding/encodings.
	Path        string
	Query       string
	Body        json.RawMessage
	TenantOrgID string
	// APIKeyOK says the X-Api-Key header matched.
	APIKeyOK bool
}

// Fault makes matching requests fail.
type Fault struct {
	Method     string // empty matches any
	PathPrefix string // relative to /v1
	Status     int
	RetryAfter string
	Delay      time.Duration
	// Body replaces the answer (e.g. malformed JSON); empty means an error envelope.
	Body string
	// Times is how many requests fail (0 = every one).
	Times int
}

// Rendition is one result of the simulated per-title analysis.
type Rendition struct {
	Width, Height int
	Bitrate       int64
}

// DefaultRenditions are what the simulation produces when nothing else is set.
var DefaultRenditions = []Rendition{{640, 360, 730_000}, {1280, 720, 2_100_000}, {1920, 1080, 4_300_000}}

// Options configure a Server.
type Options struct {
	APIKey string
	// FinishAfter is how long a started encoding takes to finish; 0 means it stays
	// RUNNING until Finish or Fail is called.
	FinishAfter time.Duration
	Renditions  []Rendition
	// Fail makes every started encoding end in ERROR with these details.
	Fail *bitmovin.ErrorDetails
	// HTTPClient sends webhooks (default: 5s timeout).
	HTTPClient *http.Client
	// Logf reports webhook deliveries (optional).
	Logf func(format string, args ...any)
}

type encodingState struct {
	enc      bitmovin.Encoding
	task     bitmovin.Task
	streams  []bitmovin.Stream
	muxings  []bitmovin.Fmp4Muxing
	webhooks map[string][]bitmovin.Webhook
	start    *bitmovin.StartEncodingRequest
	timer    *time.Timer
}

// Server is the fake API.
type Server struct {
	opts Options

	mu         sync.Mutex
	seq        int
	calls      []Call
	faults     []*Fault
	inputs     map[string]string // id -> kind (s3-role-based, s3)
	outputs    map[string]string
	encodings  map[string]*encodingState
	order      []string
	h264       map[string]bitmovin.H264VideoConfiguration
	aac        map[string]bitmovin.AacAudioConfiguration
	manifests  map[string]any
	muted      bool
	deliveries int
	wg         sync.WaitGroup
	closed     bool
	httpServer *httptest.Server
}

// New returns a server; serve Handler() yourself or call Start.
func New(opts Options) *Server {
	if opts.Renditions == nil {
		opts.Renditions = DefaultRenditions
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	return &Server{opts: opts, inputs: map[string]string{}, outputs: map[string]string{},
		encodings: map[string]*encodingState{}, h264: map[string]bitmovin.H264VideoConfiguration{},
		aac: map[string]bitmovin.AacAudioConfiguration{}, manifests: map[string]any{}}
}

// Start serves on a local port until Close; URL is the API base (…/v1).
func (s *Server) Start() *Server {
	s.httpServer = httptest.NewServer(s.Handler())
	return s
}

// URL is the base URL to configure a client with.
func (s *Server) URL() string { return s.httpServer.URL + "/v1" }

// Close stops timers, waits for webhook deliveries and stops serving.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for _, e := range s.encodings {
		if e.timer != nil {
			e.timer.Stop()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	if s.httpServer != nil {
		s.httpServer.Close()
	}
}

// AddInput registers an input (kind "s3-role-based" or "s3") under id.
func (s *Server) AddInput(kind, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inputs[id] = kind
}

// AddOutput registers an output (kind "s3-role-based" or "s3") under id.
func (s *Server) AddOutput(kind, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outputs[id] = kind
}

// AddFault queues a fault.
func (s *Server) AddFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// MuteWebhooks stops (or resumes) webhook deliveries, as Bitmovin does after
// repeated delivery failures.
func (s *Server) MuteWebhooks(muted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.muted = muted
}

// Calls returns every call received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Deliveries counts webhooks answered with 2xx.
func (s *Server) Deliveries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deliveries
}

// Encodings returns the encodings created so far, oldest first.
func (s *Server) Encodings() []bitmovin.Encoding {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]bitmovin.Encoding, 0, len(s.order))
	for _, id := range s.order {
		if e, ok := s.encodings[id]; ok {
			out = append(out, e.enc)
		}
	}
	return out
}

// StartRequest returns the body an encoding was started with (nil if never).
func (s *Server) StartRequest(id string) *bitmovin.StartEncodingRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.encodings[id]; ok {
		return e.start
	}
	return nil
}

// Finish ends a started encoding now, successfully, and fires its webhooks.
func (s *Server) Finish(id string) error { return s.complete(id, nil) }

// Fail ends a started encoding now in ERROR and fires its error webhooks.
func (s *Server) Fail(id string, d bitmovin.ErrorDetails) error { return s.complete(id, &d) }

// SetStartedAt back-dates an encoding (reconciler tests).
func (s *Server) SetStartedAt(id string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.encodings[id]; ok {
		e.enc.CreatedAt, e.enc.StartedAt = &t, &t
	}
}

func (s *Server) nextID() string {
	s.seq++
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", s.seq)
}

// Handler serves the API under /v1 and /healthz, /readyz for process supervisors.
func (s *Server) Handler() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("GET /encoding/inputs/{kind}/{id}", s.getStorage(true))
	api.HandleFunc("GET /encoding/outputs/{kind}/{id}", s.getStorage(false))
	api.HandleFunc("POST /encoding/encodings", s.createEncoding)
	api.HandleFunc("GET /encoding/encodings", s.listEncodings)
	api.HandleFunc("GET /encoding/encodings/{id}", s.withEncoding(func(w http.ResponseWriter, r *http.Request, e *encodingState) {
		s.ok(w, e.enc)
	}))
	api.HandleFunc("DELETE /encoding/encodings/{id}", s.deleteEncoding)
	api.HandleFunc("GET /encoding/encodings/{id}/status", s.withEncoding(func(w http.ResponseWriter, r *http.Request, e *encodingState) {
		s.ok(w, e.task)
	}))
	api.HandleFunc("POST /encoding/encodings/{id}/start", s.startEncoding)
	api.HandleFunc("POST /encoding/encodings/{id}/streams", s.createStream)
	api.HandleFunc("GET /encoding/encodings/{id}/streams", s.withEncoding(func(w http.ResponseWriter, r *http.Request, e *encodingState) {
		page(w, r, s, e.streams)
	}))
	api.HandleFunc("POST /encoding/encodings/{id}/muxings/fmp4", s.createMuxing)
	api.HandleFunc("GET /encoding/encodings/{id}/muxings/fmp4", s.withEncoding(func(w http.ResponseWriter, r *http.Request, e *encodingState) {
		page(w, r, s, e.muxings)
	}))
	api.HandleFunc("POST /encoding/configurations/video/h264", s.createH264)
	api.HandleFunc("GET /encoding/configurations/video/h264/{id}", s.getH264)
	api.HandleFunc("POST /encoding/configurations/audio/aac", s.createAAC)
	api.HandleFunc("POST /encoding/manifests/hls/default", s.createManifest("HLS"))
	api.HandleFunc("POST /encoding/manifests/dash/default", s.createManifest("DASH"))
	api.HandleFunc("POST /notifications/webhooks/encoding/encodings/{id}/{event}", s.createWebhook)

	root := http.NewServeMux()
	health := func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") }
	root.HandleFunc("GET /healthz", health)
	root.HandleFunc("GET /readyz", health)
	root.Handle("/v1/", http.StripPrefix("/v1", s.intercept(api)))
	return root
}

// intercept records the call, applies faults and checks the API key.
func (s *Server) intercept(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		keyOK := s.opts.APIKey == "" || r.Header.Get(bitmovin.HeaderAPIKey) == s.opts.APIKey
		call := Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, TenantOrgID: r.Header.Get(bitmovin.HeaderTenantOrgID), APIKeyOK: keyOK}
		if len(body) > 0 {
			call.Body = json.RawMessage(body)
		}
		s.mu.Lock()
		s.calls = append(s.calls, call)
		var fault *Fault
		for i, f := range s.faults {
			if (f.Method == "" || f.Method == r.Method) && strings.HasPrefix(r.URL.Path, f.PathPrefix) {
				cp := *f
				fault = &cp
				if f.Times > 0 {
					f.Times--
					if f.Times == 0 {
						s.faults = append(s.faults[:i], s.faults[i+1:]...)
					}
				}
				break
			}
		}
		s.mu.Unlock()
		if fault != nil {
			if fault.Delay > 0 {
				select {
				case <-time.After(fault.Delay):
				case <-r.Context().Done():
					return
				}
			}
			if fault.RetryAfter != "" {
				w.Header().Set("Retry-After", fault.RetryAfter)
			}
			if fault.Body != "" {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(max(fault.Status, 200))
				_, _ = io.WriteString(w, fault.Body)
				return
			}
			if fault.Status != 0 {
				s.fail(w, fault.Status, 1000+fault.Status, http.StatusText(fault.Status))
				return
			}
		}
		if !keyOK {
			s.fail(w, http.StatusUnauthorized, 1001, "Unauthorized: invalid or missing API key")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) requestID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return fmt.Sprintf("req-%d", s.seq)
}

func (s *Server) ok(w http.ResponseWriter, result any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"requestId": s.requestID(), "status": bitmovin.ResponseSuccess,
		"data": map[string]any{"result": result}})
}

func (s *Server) fail(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"requestId": s.requestID(), "status": bitmovin.ResponseError,
		"data": map[string]any{"code": code, "message": msg, "developerMessage": msg, "details": []any{}}})
}

func (s *Server) notFound(w http.ResponseWriter, what, id string) {
	s.fail(w, http.StatusNotFound, 1002, fmt.Sprintf("%s %s not found", what, id))
}

func decode[T any](s *Server, w http.ResponseWriter, r *http.Request) (T, bool) {
	var v T
	if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
		s.fail(w, http.StatusBadRequest, 1003, "invalid JSON body: "+err.Error())
		return v, false
	}
	return v, true
}

func page[T any](w http.ResponseWriter, r *http.Request, s *Server, all []T) {
	offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > 100 {
		limit = 25
	}
	offset = min(max(offset, 0), len(all))
	end := min(offset+limit, len(all))
	items := append([]T{}, all[offset:end]...)
	s.ok(w, map[string]any{"totalCount": len(all), "offset": offset, "limit": limit, "items": items})
}

func (s *Server) getStorage(input bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		kind, id := r.PathValue("kind"), r.PathValue("id")
		s.mu.Lock()
		have, ok := s.outputs[id]
		what := "output"
		if input {
			have, ok = s.inputs[id]
			what = "input"
		}
		s.mu.Unlock()
		if !ok || have != kind {
			s.notFound(w, what, id)
			return
		}
		s.ok(w, map[string]any{"id": id, "name": what + "-" + id, "bucketName": "pertitle-media", "cloudRegion": "US_EAST_1"})
	}
}

func (s *Server) createEncoding(w http.ResponseWriter, r *http.Request) {
	e, ok := decode[bitmovin.Encoding](s, w, r)
	if !ok {
		return
	}
	if e.Name == "" {
		s.fail(w, http.StatusBadRequest, 1004, "name is required")
		return
	}
	if e.CloudRegion == bitmovin.CloudRegionExternal && (e.Infrastructure == nil || e.Infrastructure.InfrastructureID == "") {
		s.fail(w, http.StatusBadRequest, 1005, "infrastructure.infrastructureId is required with cloudRegion EXTERNAL")
		return
	}
	s.mu.Lock()
	e.ID = s.nextID()
	now := time.Now().UTC()
	e.CreatedAt, e.Status = &now, bitmovin.StatusCreated
	s.encodings[e.ID] = &encodingState{enc: e, task: bitmovin.Task{ID: e.ID, Status: bitmovin.StatusCreated}, webhooks: map[string][]bitmovin.Webhook{}}
	s.order = append(s.order, e.ID)
	s.mu.Unlock()
	s.ok(w, e)
}

func (s *Server) listEncodings(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var newer time.Time
	if v := q.Get("createdAtNewerThan"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			s.fail(w, http.StatusBadRequest, 1006, "createdAtNewerThan is not a date-time")
			return
		}
		newer = t
	}
	s.mu.Lock()
	var list []bitmovin.Encoding
	for _, id := range s.order {
		e, ok := s.encodings[id]
		if !ok {
			continue
		}
		if (q.Get("name") != "" && e.enc.Name != q.Get("name")) ||
			(q.Get("status") != "" && string(e.enc.Status) != q.Get("status")) ||
			(q.Get("search") != "" && !strings.Contains(e.enc.Name, q.Get("search"))) ||
			(!newer.IsZero() && e.enc.CreatedAt.Before(newer)) {
			continue
		}
		list = append(list, e.enc)
	}
	s.mu.Unlock()
	if strings.HasSuffix(q.Get("sort"), ":desc") {
		sort.SliceStable(list, func(i, j int) bool { return list[i].CreatedAt.After(*list[j].CreatedAt) })
	}
	page(w, r, s, list)
}

func (s *Server) withEncoding(h func(http.ResponseWriter, *http.Request, *encodingState)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		s.mu.Lock()
		e, ok := s.encodings[id]
		var cp encodingState
		if ok {
			cp = *e
			cp.streams = append([]bitmovin.Stream(nil), e.streams...)
			cp.muxings = append([]bitmovin.Fmp4Muxing(nil), e.muxings...)
		}
		s.mu.Unlock()
		if !ok {
			s.notFound(w, "encoding", id)
			return
		}
		h(w, r, &cp)
	}
}

func (s *Server) deleteEncoding(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	e, ok := s.encodings[id]
	if ok && e.enc.Status == bitmovin.StatusCreated {
		delete(s.encodings, id)
	}
	s.mu.Unlock()
	switch {
	case !ok:
		s.notFound(w, "encoding", id)
	case e.enc.Status != bitmovin.StatusCreated:
		s.fail(w, http.StatusBadRequest, 1007, "only encodings that never started can be deleted")
	default:
		s.ok(w, bitmovin.BitmovinResponse{ID: id})
	}
}

// mutate runs f on an existing encoding under the lock.
func (s *Server) mutate(w http.ResponseWriter, r *http.Request, f func(e *encodingState) (any, int, string)) {
	id := r.PathValue("id")
	s.mu.Lock()
	e, ok := s.encodings[id]
	var (
		res  any
		code int
		msg  string
	)
	if ok {
		res, code, msg = f(e)
	}
	s.mu.Unlock()
	switch {
	case !ok:
		s.notFound(w, "encoding", id)
	case code != 0:
		s.fail(w, code, 1000+code, msg)
	default:
		s.ok(w, res)
	}
}

// mutateWith decodes the request's body as a T and mutates the encoding with it.
func mutateWith[T any](s *Server, w http.ResponseWriter, r *http.Request, f func(e *encodingState, v T) (any, int, string)) {
	v, ok := decode[T](s, w, r)
	if !ok {
		return
	}
	s.mutate(w, r, func(e *encodingState) (any, int, string) { return f(e, v) })
}

func (s *Server) createStream(w http.ResponseWriter, r *http.Request) {
	mutateWith(s, w, r, func(e *encodingState, st bitmovin.Stream) (any, int, string) {
		if e.enc.Status != bitmovin.StatusCreated {
			return nil, http.StatusBadRequest, "encoding already started"
		}
		if st.CodecConfigID == "" || len(st.InputStreams) == 0 {
			return nil, http.StatusBadRequest, "codecConfigId and inputStreams are required"
		}
		for _, in := range st.InputStreams {
			if _, ok := s.inputs[in.InputID]; !ok {
				return nil, http.StatusBadRequest, "input " + in.InputID + " does not exist"
			}
		}
		st.ID = s.nextID()
		if st.Mode == "" {
			st.Mode = bitmovin.StreamModeStandard
		}
		e.streams = append(e.streams, st)
		return st, 0, ""
	})
}

func (s *Server) createMuxing(w http.ResponseWriter, r *http.Request) {
	mutateWith(s, w, r, func(e *encodingState, m bitmovin.Fmp4Muxing) (any, int, string) {
		if len(m.Streams) == 0 || len(m.Outputs) == 0 {
			return nil, http.StatusBadRequest, "streams and outputs are required"
		}
		for _, o := range m.Outputs {
			if _, ok := s.outputs[o.OutputID]; !ok {
				return nil, http.StatusBadRequest, "output " + o.OutputID + " does not exist"
			}
		}
		m.ID = s.nextID()
		e.muxings = append(e.muxings, m)
		return m, 0, ""
	})
}

// createConfig decodes a codec configuration, names it and keeps it in store.
func createConfig[T any](s *Server, w http.ResponseWriter, r *http.Request, store map[string]T, name func(c *T, id string)) {
	c, ok := decode[T](s, w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	id := s.nextID()
	name(&c, id)
	store[id] = c
	s.mu.Unlock()
	s.ok(w, c)
}

func (s *Server) createH264(w http.ResponseWriter, r *http.Request) {
	createConfig(s, w, r, s.h264, func(c *bitmovin.H264VideoConfiguration, id string) { c.ID = id })
}

func (s *Server) getH264(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	c, ok := s.h264[r.PathValue("id")]
	s.mu.Unlock()
	if !ok {
		s.notFound(w, "configuration", r.PathValue("id"))
		return
	}
	s.ok(w, c)
}

func (s *Server) createAAC(w http.ResponseWriter, r *http.Request) {
	createConfig(s, w, r, s.aac, func(c *bitmovin.AacAudioConfiguration, id string) { c.ID = id })
}

func (s *Server) createManifest(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		m, ok := decode[bitmovin.HlsManifestDefault](s, w, r)
		if !ok {
			return
		}
		s.mu.Lock()
		_, exists := s.encodings[m.EncodingID]
		if exists {
			m.ID = s.nextID()
			s.manifests[m.ID] = kind
		}
		s.mu.Unlock()
		if !exists {
			s.fail(w, http.StatusBadRequest, 1008, "encodingId does not name an encoding")
			return
		}
		s.ok(w, m)
	}
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) {
	hook, ok := decode[bitmovin.Webhook](s, w, r)
	if !ok {
		return
	}
	event := r.PathValue("event")
	if event != bitmovin.WebhookFinished && event != bitmovin.WebhookError {
		s.notFound(w, "webhook event", event)
		return
	}
	s.mutate(w, r, func(e *encodingState) (any, int, string) {
		if hook.URL == "" {
			return nil, http.StatusBadRequest, "url is required"
		}
		hook.ID = s.nextID()
		e.webhooks[event] = append(e.webhooks[event], hook)
		return hook, 0, ""
	})
}

func (s *Server) startEncoding(w http.ResponseWriter, r *http.Request) {
	mutateWith(s, w, r, func(e *encodingState, req bitmovin.StartEncodingRequest) (any, int, string) {
		if e.enc.Status != bitmovin.StatusCreated {
			return nil, http.StatusBadRequest, "encoding was already started"
		}
		if len(e.streams) == 0 || len(e.muxings) == 0 {
			return nil, http.StatusBadRequest, "encoding has no streams or muxings"
		}
		for _, m := range append(append([]bitmovin.ManifestResource{}, req.VodHlsManifests...), req.VodDashManifests...) {
			if _, ok := s.manifests[m.ManifestID]; !ok {
				return nil, http.StatusBadRequest, "manifest " + m.ManifestID + " does not exist"
			}
		}
		now := time.Now().UTC()
		e.start = &req
		e.enc.Status, e.enc.StartedAt = bitmovin.StatusQueued, &now
		e.task.Status = bitmovin.StatusQueued
		id := e.enc.ID
		if d := s.opts.FinishAfter; d > 0 {
			e.timer = time.AfterFunc(d/2, func() {
				s.mu.Lock()
				if e.enc.Status == bitmovin.StatusQueued {
					e.enc.Status, e.task.Status, e.task.Progress = bitmovin.StatusRunning, bitmovin.StatusRunning, 50
				}
				closed := s.closed
				if !closed {
					e.timer = time.AfterFunc(d-d/2, func() { _ = s.complete(id, s.opts.Fail) })
				}
				s.mu.Unlock()
			})
		}
		return bitmovin.BitmovinResponse{ID: id}, 0, ""
	})
}

func substitute(path string, r Rendition, uuid string) string {
	return strings.NewReplacer("{width}", strconv.Itoa(r.Width), "{height}", strconv.Itoa(r.Height),
		"{bitrate}", strconv.FormatInt(r.Bitrate, 10), "{uuid}", uuid).Replace(path)
}

// complete ends an encoding and delivers its webhooks in the background.
func (s *Server) complete(id string, fail *bitmovin.ErrorDetails) error {
	s.mu.Lock()
	e, ok := s.encodings[id]
	if !ok || e.enc.Status.Terminal() || e.enc.Status == bitmovin.StatusCreated {
		s.mu.Unlock()
		return fmt.Errorf("encoding %s cannot complete (exists %t)", id, ok)
	}
	now := time.Now().UTC()
	event := bitmovin.WebhookFinished
	if fail != nil {
		event = bitmovin.WebhookError
		d := *fail
		e.enc.Status, e.enc.ErrorAt = bitmovin.StatusError, &now
		e.task = bitmovin.Task{ID: id, Status: bitmovin.StatusError, ErrorAt: &now, Error: &d,
			Messages: []bitmovin.Message{{Type: bitmovin.MessageTypeError, Text: d.Text}}}
	} else {
		e.enc.Status, e.enc.FinishedAt = bitmovin.StatusFinished, &now
		e.task = bitmovin.Task{ID: id, Status: bitmovin.StatusFinished, Progress: 100, FinishedAt: &now}
		s.materialise(e)
	}
	hooks := append([]bitmovin.Webhook(nil), e.webhooks[event]...)
	send := !s.muted && !s.closed
	if send {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if !send {
		return nil
	}
	eventType := webhook.EventEncodingFinished
	if fail != nil {
		eventType = webhook.EventEncodingError
	}
	go func() {
		defer s.wg.Done()
		for _, h := range hooks {
			s.deliver(h, webhook.Notification{EventID: id + "-" + event, CreatedAt: now, ResourceID: id,
				ResourceType: "ENCODING", EventType: eventType})
		}
	}()
	return nil
}

// materialise turns the per-title templates into result streams and muxings, as
// the analysis would. Caller holds the lock.
func (s *Server) materialise(e *encodingState) {
	var templates []bitmovin.Stream
	for _, st := range e.streams {
		if st.Mode == bitmovin.StreamModePerTitleTemplate {
			templates = append(templates, st)
		}
	}
	for _, tpl := range templates {
		var tmux *bitmovin.Fmp4Muxing
		for i := range e.muxings {
			if len(e.muxings[i].Streams) == 1 && e.muxings[i].Streams[0].StreamID == tpl.ID {
				tmux = &e.muxings[i]
			}
		}
		for _, r := range s.opts.Renditions {
			cfg := s.h264[tpl.CodecConfigID]
			cfg.ID, cfg.Width, cfg.Height, cfg.Bitrate = s.nextID(), r.Width, r.Height, r.Bitrate
			s.h264[cfg.ID] = cfg
			st := bitmovin.Stream{ID: s.nextID(), InputStreams: tpl.InputStreams, CodecConfigID: cfg.ID,
				Mode: bitmovin.StreamModePerTitleResult, AppliedSettings: &bitmovin.AppliedStreamSettings{Width: r.Width, Height: r.Height}}
			e.streams = append(e.streams, st)
			if tmux != nil {
				m := bitmovin.Fmp4Muxing{ID: s.nextID(), Streams: []bitmovin.MuxingStream{{StreamID: st.ID}},
					SegmentLength: tmux.SegmentLength, AvgBitrate: r.Bitrate, MaxBitrate: r.Bitrate * 11 / 10, MinBitrate: r.Bitrate * 9 / 10}
				for _, o := range tmux.Outputs {
					o.OutputPath = substitute(o.OutputPath, r, st.ID)
					m.Outputs = append(m.Outputs, o)
				}
				e.muxings = append(e.muxings, m)
			}
		}
	}
}

func (s *Server) deliver(h bitmovin.Webhook, n webhook.Notification) {
	body, _ := json.Marshal(n)
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
		if err != nil {
			cancel()
			return
		}
		req.Header.Set("Content-Type", "application/json")
		if h.Signature != nil && h.Signature.Type == bitmovin.SignatureHMAC {
			req.Header.Set(webhook.SignatureHeader, webhook.Sign([]byte(h.Signature.Key), body))
		}
		resp, err := s.opts.HTTPClient.Do(req)
		cancel()
		if err != nil {
			s.logf("webhook %s to %s: %v", n.EventID, h.URL, err)
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		s.logf("webhook %s to %s: HTTP %d", n.EventID, h.URL, resp.StatusCode)
		if resp.StatusCode/100 == 2 {
			s.mu.Lock()
			s.deliveries++
			s.mu.Unlock()
			return
		}
		if resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			return
		}
	}
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}
