package http

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/internal/apitest"
	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/services/ingest/internal/app"
)

const testPartSize = 16 << 10

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type sessionFixture struct {
	*fixture
	sessions *app.Sessions
	clock    *clock
	h        http.Handler
}

func newSessionFixture(t *testing.T, maxBytes int64) *sessionFixture {
	f := newFixture(t, maxBytes)
	c := &clock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	s := &app.Sessions{Ingestor: f.in, Dir: filepath.Join(f.in.StagingDir, "sessions"), PartSize: testPartSize,
		TTL: time.Hour, Now: c.Now}
	mux := http.NewServeMux()
	for _, rt := range sessionRoutes(s.Ingestor, s, "http://catalog", zap.NewNop()) {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	return &sessionFixture{fixture: f, sessions: s, clock: c, h: apitest.Validate(t, apitest.Responses, mux)}
}

// call sends a request as user (no principal when user is empty).
func (f *sessionFixture) call(t *testing.T, user, method, target string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	if body == nil {
		req.ContentLength = 0
	}
	if user != "" {
		req = req.WithContext(auth.WithPrincipal(req.Context(), auth.Principal{Subject: user}))
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

type created struct {
	ID         string    `json:"id"`
	PartSize   int64     `json:"part_size"`
	PartsTotal int       `json:"parts_total"`
	ExpiresAt  time.Time `json:"expires_at"`
}

func (f *sessionFixture) open(t *testing.T, user string, size int64) created {
	t.Helper()
	body := fmt.Sprintf(`{"filename":"holiday.mp4","size":%d,"content_type":"video/mp4","title":"Holiday"}`, size)
	rec := f.call(t, user, http.MethodPost, "/v1/uploads", []byte(body))
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	var c created
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &c))
	return c
}

func chunk(b []byte, n int) []byte {
	start := (n - 1) * testPartSize
	return b[start:min(len(b), start+testPartSize)]
}

func (f *sessionFixture) sendPart(t *testing.T, user, id string, n int, b []byte) *httptest.ResponseRecorder {
	t.Helper()
	return f.call(t, user, http.MethodPut, fmt.Sprintf("/v1/uploads/%s/parts/%d", id, n), b)
}

type progress struct {
	Parts         []app.Part `json:"parts"`
	ReceivedBytes int64      `json:"received_bytes"`
	Size          int64      `json:"size"`
	Status        string     `json:"status"`
}

func (f *sessionFixture) progress(t *testing.T, user, id string) progress {
	t.Helper()
	rec := f.call(t, user, http.MethodGet, "/v1/uploads/"+id, nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var p progress
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	return p
}

func (f *sessionFixture) assertNoSessions(t *testing.T) {
	t.Helper()
	entries, _ := os.ReadDir(f.sessions.Dir)
	assert.Empty(t, entries, "no session may be left")
}

// assertNothingKept checks that no object, no staged file, no session and no event
// is left of a rejected upload (the empty sessions directory itself may remain).
func (f *sessionFixture) assertNothingKept(t *testing.T) {
	t.Helper()
	f.assertNoSessions(t)
	objs, err := f.store.List(context.Background(), "")
	require.NoError(t, err)
	assert.Empty(t, objs, "no object may be kept")
	staged, _ := os.ReadDir(f.store.StagingDir())
	for _, e := range staged {
		assert.Equal(t, "sessions", e.Name(), "no staged file may be kept")
	}
	assert.Empty(t, f.pub.got, "nothing may be published")
}

func clipBytes(t *testing.T) []byte {
	clip := testmedia.Clip(t, testmedia.Spec{Width: 320, Height: 180, Seconds: 1, Audio: true})
	b, err := os.ReadFile(clip)
	require.NoError(t, err)
	require.Greater(t, len(b), 3*testPartSize, "the clip must span several parts")
	return b
}

func etagOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestResumableUploadOutOfOrderResumedWithDuplicate(t *testing.T) {
	t.Parallel()
	data := clipBytes(t)
	f := newSessionFixture(t, 1<<30)
	c := f.open(t, "alice", int64(len(data)))
	assert.EqualValues(t, testPartSize, c.PartSize)
	require.Equal(t, (len(data)+testPartSize-1)/testPartSize, c.PartsTotal)
	assert.Equal(t, f.clock.Now().Add(time.Hour), c.ExpiresAt)

	// Send every part but the second, last first; the connection "drops" after that.
	for n := c.PartsTotal; n >= 1; n-- {
		if n == 2 {
			continue
		}
		rec := f.sendPart(t, "alice", c.ID, n, chunk(data, n))
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var p app.Part
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
		assert.Equal(t, app.Part{N: n, Size: int64(len(chunk(data, n))), ETag: etagOf(chunk(data, n))}, p)
	}
	rec := f.call(t, "alice", http.MethodPost, "/v1/uploads/"+c.ID+"/complete", nil)
	require.Equal(t, http.StatusConflict, rec.Code)
	assert.Contains(t, rec.Body.String(), "missing parts 2")

	// Resume: list what the server has, send what is missing, and one part twice.
	p := f.progress(t, "alice", c.ID)
	assert.Equal(t, "uploading", p.Status)
	assert.Len(t, p.Parts, c.PartsTotal-1)
	have := map[int]bool{}
	for _, part := range p.Parts {
		have[part.N] = true
		assert.Equal(t, etagOf(chunk(data, part.N)), part.ETag)
	}
	assert.Equal(t, int64(len(data)-testPartSize), p.ReceivedBytes)
	for n := 1; n <= c.PartsTotal; n++ {
		if !have[n] {
			require.Equal(t, http.StatusOK, f.sendPart(t, "alice", c.ID, n, chunk(data, n)).Code)
		}
	}
	// A duplicate replaces the part: garbage first, then the right bytes again.
	garbage := bytes.Repeat([]byte{0xAB}, testPartSize)
	require.Equal(t, http.StatusOK, f.sendPart(t, "alice", c.ID, 3, garbage).Code)
	require.Equal(t, http.StatusOK, f.sendPart(t, "alice", c.ID, 3, chunk(data, 3)).Code)
	p = f.progress(t, "alice", c.ID)
	assert.Len(t, p.Parts, c.PartsTotal)
	assert.Equal(t, int64(len(data)), p.ReceivedBytes)

	rec = f.call(t, "alice", http.MethodPost, "/v1/uploads/"+c.ID+"/complete", nil)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	var asset map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &asset))
	assert.Equal(t, "uploaded", asset["status"])
	assert.Equal(t, "Holiday", asset["title"])
	assert.Equal(t, "alice", asset["owner"])
	assert.EqualValues(t, len(data), asset["source_bytes"])
	assert.Equal(t, "http://catalog/v1/assets/"+asset["id"].(string), rec.Header().Get("Location"))

	require.Len(t, f.pub.got, 1)
	up := f.pub.got[0].GetAssetUploaded()
	assert.Equal(t, "alice", up.GetOwner())
	assert.Equal(t, "holiday.mp4", up.GetOriginalFilename())
	rc, _, err := f.store.Open(context.Background(), up.GetSourceKey())
	require.NoError(t, err)
	stored, _ := io.ReadAll(rc)
	rc.Close()
	assert.Equal(t, etagOf(data), etagOf(stored), "the stored source is the file, parts in order")
	f.assertNoSessions(t)
	assert.Equal(t, http.StatusNotFound, f.call(t, "alice", http.MethodGet, "/v1/uploads/"+c.ID, nil).Code)
}

func TestResumableUploadAbortAndExpiry(t *testing.T) {
	t.Parallel()
	data := clipBytes(t)

	t.Run("abort", func(t *testing.T) {
		t.Parallel()
		f := newSessionFixture(t, 1<<30)
		c := f.open(t, "alice", int64(len(data)))
		require.Equal(t, http.StatusOK, f.sendPart(t, "alice", c.ID, 1, chunk(data, 1)).Code)
		assert.Equal(t, http.StatusNoContent, f.call(t, "alice", http.MethodDelete, "/v1/uploads/"+c.ID, nil).Code)
		assert.Equal(t, http.StatusNotFound, f.call(t, "alice", http.MethodGet, "/v1/uploads/"+c.ID, nil).Code)
		assert.Equal(t, http.StatusNotFound, f.sendPart(t, "alice", c.ID, 2, chunk(data, 2)).Code)
		f.assertNoSessions(t)
		f.assertNothingKept(t)
	})

	t.Run("janitor", func(t *testing.T) {
		t.Parallel()
		f := newSessionFixture(t, 1<<30)
		stale := f.open(t, "alice", int64(len(data)))
		require.Equal(t, http.StatusOK, f.sendPart(t, "alice", stale.ID, 1, chunk(data, 1)).Code)
		f.clock.Advance(50 * time.Minute)
		live := f.open(t, "alice", int64(len(data)))
		f.clock.Advance(20 * time.Minute) // stale: 70 min since its last part; live: 20 min

		assert.Equal(t, http.StatusNotFound, f.call(t, "alice", http.MethodGet, "/v1/uploads/"+stale.ID, nil).Code,
			"an expired session is gone even before the janitor runs")
		n, err := f.sessions.Expire(context.Background())
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		_, err = os.Stat(filepath.Join(f.sessions.Dir, stale.ID))
		assert.True(t, os.IsNotExist(err), "the expired session and its parts are deleted")
		assert.Equal(t, http.StatusOK, f.call(t, "alice", http.MethodGet, "/v1/uploads/"+live.ID, nil).Code)

		// A part slides the expiry.
		f.clock.Advance(30 * time.Minute)
		require.Equal(t, http.StatusOK, f.sendPart(t, "alice", live.ID, 1, chunk(data, 1)).Code)
		f.clock.Advance(50 * time.Minute)
		n, err = f.sessions.Expire(context.Background())
		require.NoError(t, err)
		assert.Zero(t, n)
		assert.Equal(t, http.StatusOK, f.call(t, "alice", http.MethodGet, "/v1/uploads/"+live.ID, nil).Code)
	})
}

func TestResumableUploadCreateRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		user string
		body string
		code int
		text string
	}{
		{"no caller", "", `{"filename":"a.mp4","size":10,"content_type":"video/mp4"}`, http.StatusUnauthorized, "sign in"},
		{"oversize declared", "alice", `{"filename":"a.mp4","size":1000001,"content_type":"video/mp4"}`, http.StatusRequestEntityTooLarge, "larger than the limit"},
		{"zero size", "alice", `{"filename":"a.mp4","size":0,"content_type":"video/mp4"}`, http.StatusBadRequest, "size"},
		{"no filename", "alice", `{"size":10,"content_type":"video/mp4"}`, http.StatusBadRequest, "filename"},
		{"path in filename", "alice", `{"filename":"../a.mp4","size":10}`, http.StatusBadRequest, "filename"},
		{"text type", "alice", `{"filename":"a.mp4","size":10,"content_type":"text/plain"}`, http.StatusUnsupportedMediaType, "not a video type"},
		{"image type", "alice", `{"filename":"a.jpg","size":10,"content_type":"image/jpeg"}`, http.StatusUnsupportedMediaType, "not a video type"},
		{"generic type, document extension", "alice", `{"filename":"a.pdf","size":10,"content_type":"application/octet-stream"}`, http.StatusUnsupportedMediaType, "video file extension"},
		{"malformed json", "alice", `{"filename":`, http.StatusBadRequest, "JSON"},
		{"generic type, video extension", "alice", `{"filename":"a.MKV","size":10,"content_type":"application/octet-stream"}`, http.StatusCreated, ""},
		{"no type, video extension", "alice", `{"filename":"a.mov","size":10}`, http.StatusCreated, ""},
		{"video type, odd extension", "alice", `{"filename":"capture.bin","size":10,"content_type":"video/webm"}`, http.StatusCreated, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t, 1000000)
			rec := f.call(t, tc.user, http.MethodPost, "/v1/uploads", []byte(tc.body))
			assert.Equal(t, tc.code, rec.Code, rec.Body.String())
			assert.Contains(t, rec.Body.String(), tc.text)
			if tc.code != http.StatusCreated {
				f.assertNoSessions(t)
			}
		})
	}
}

func TestResumableUploadPartRefusals(t *testing.T) {
	t.Parallel()
	data := clipBytes(t)
	size := int64(len(data))
	last := int((size + testPartSize - 1) / testPartSize)
	for _, tc := range []struct {
		name   string
		n      string
		body   []byte
		length int64 // 0: len(body)
		code   int
		text   string
	}{
		{"oversize part", "1", append(chunk(data, 1), 0), 0, http.StatusRequestEntityTooLarge, "larger than the part size"},
		{"short part", "1", chunk(data, 1)[:100], 0, http.StatusBadRequest, "exactly"},
		{"short last part", fmt.Sprint(last), chunk(data, last)[1:], 0, http.StatusBadRequest, "exactly"},
		{"part zero", "0", chunk(data, 1), 0, http.StatusBadRequest, "positive"},
		{"part beyond the end", fmt.Sprint(last + 1), chunk(data, 1), 0, http.StatusBadRequest, "between 1 and"},
		{"not a number", "x", chunk(data, 1), 0, http.StatusBadRequest, "positive"},
		{"no Content-Length", "2", chunk(data, 2), -1, http.StatusLengthRequired, "Content-Length"},
		{"body shorter than Content-Length", "2", chunk(data, 2)[:10], testPartSize, http.StatusBadRequest, "received 10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t, 1<<30)
			c := f.open(t, "alice", size)
			req := httptest.NewRequest(http.MethodPut, "/v1/uploads/"+c.ID+"/parts/"+tc.n, bytes.NewReader(tc.body))
			if tc.length != 0 {
				req.ContentLength = tc.length
			}
			req = req.WithContext(auth.WithPrincipal(req.Context(), auth.Principal{Subject: "alice"}))
			rec := httptest.NewRecorder()
			f.h.ServeHTTP(rec, req)
			assert.Equal(t, tc.code, rec.Code, rec.Body.String())
			assert.Contains(t, rec.Body.String(), tc.text)
			assert.Empty(t, f.progress(t, "alice", c.ID).Parts, "a refused part is not kept")
			entries, _ := os.ReadDir(filepath.Join(f.sessions.Dir, c.ID))
			for _, e := range entries {
				assert.False(t, strings.HasPrefix(e.Name(), ".part-"), "no temporary part is left: %s", e.Name())
			}
		})
	}
}

func TestResumableUploadNotAVideo(t *testing.T) {
	t.Parallel()
	data := clipBytes(t)

	t.Run("sniffed at the first part", func(t *testing.T) {
		t.Parallel()
		f := newSessionFixture(t, 1<<30)
		text := bytes.Repeat([]byte("this is not a video\n"), 2000)
		c := f.open(t, "alice", int64(len(text)))
		rec := f.sendPart(t, "alice", c.ID, 1, chunk(text, 1))
		assert.Equal(t, http.StatusUnsupportedMediaType, rec.Code)
		assert.Contains(t, rec.Body.String(), "does not start like a video container")
		assert.Equal(t, http.StatusNotFound, f.call(t, "alice", http.MethodGet, "/v1/uploads/"+c.ID, nil).Code)
		f.assertNoSessions(t)
		f.assertNothingKept(t)
	})

	t.Run("plausible header, garbage after: ffprobe at complete", func(t *testing.T) {
		t.Parallel()
		f := newSessionFixture(t, 1<<30)
		bad := append([]byte{}, data[:64]...) // a real ftyp box, then noise
		bad = append(bad, bytes.Repeat([]byte{0x5A, 0x00, 0x13}, 2*testPartSize)...)
		c := f.open(t, "alice", int64(len(bad)))
		for n := 1; n <= c.PartsTotal; n++ {
			require.Equal(t, http.StatusOK, f.sendPart(t, "alice", c.ID, n, chunk(bad, n)).Code)
		}
		rec := f.call(t, "alice", http.MethodPost, "/v1/uploads/"+c.ID+"/complete", nil)
		assert.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
		assert.Contains(t, rec.Body.String(), "not a video we can encode")
		assert.NotContains(t, rec.Body.String(), f.store.StagingDir(), "server paths stay private")
		f.assertNoSessions(t)
		f.assertNothingKept(t)
	})
}

func TestResumableUploadOtherUsersSession(t *testing.T) {
	t.Parallel()
	data := clipBytes(t)
	f := newSessionFixture(t, 1<<30)
	c := f.open(t, "alice", int64(len(data)))
	require.Equal(t, http.StatusOK, f.sendPart(t, "alice", c.ID, 1, chunk(data, 1)).Code)
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/v1/uploads/" + c.ID},
		{http.MethodPut, "/v1/uploads/" + c.ID + "/parts/2"},
		{http.MethodPost, "/v1/uploads/" + c.ID + "/complete"},
		{http.MethodDelete, "/v1/uploads/" + c.ID},
	} {
		var body []byte
		if tc.method == http.MethodPut {
			body = chunk(data, 2)
		}
		rec := f.call(t, "mallory", tc.method, tc.path, body)
		assert.Equal(t, http.StatusNotFound, rec.Code, "%s %s", tc.method, tc.path)
		assert.Equal(t, http.StatusUnauthorized, f.call(t, "", tc.method, tc.path, body).Code, "%s %s", tc.method, tc.path)
	}
	p := f.progress(t, "alice", c.ID)
	assert.Len(t, p.Parts, 1, "the owner's session is untouched")
	assert.Equal(t, http.StatusNotFound, f.call(t, "alice", http.MethodGet, "/v1/uploads/not-a-session", nil).Code)
}
