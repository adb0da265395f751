package http

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/services/ingest/internal/adapters/ffprobe"
	"github.com/pertitle/pertitle/services/ingest/internal/app"
	"github.com/pertitle/pertitle/services/ingest/internal/app/apptest"
)

// fuzzPartSize keeps parts small, so that the fuzzer mutates and minimises them fast.
const fuzzPartSize = 512

type fuzzIngest struct {
	store *storage.FS
	pub   *apptest.WirePublisher
	in    *app.Ingestor
	s     *app.Sessions
	h     http.Handler
}

func newFuzzIngest(tb testing.TB, maxBytes int64) *fuzzIngest {
	st, err := storage.NewFS(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	pub := &apptest.WirePublisher{}
	in := &app.Ingestor{Store: st, Pub: pub, StagingDir: st.StagingDir(), MaxBytes: maxBytes, Producer: "ingest",
		Prober: &apptest.CachingProber{Real: ffprobe.Prober{FFprobe: "ffprobe", FFmpeg: "ffmpeg"}}}
	s := &app.Sessions{Ingestor: in, Dir: filepath.Join(in.StagingDir, "sessions"), PartSize: fuzzPartSize, TTL: time.Hour}
	mux := http.NewServeMux()
	mux.Handle("POST /v1/assets", uploadHandler(in, "http://catalog", zap.NewNop()))
	for _, rt := range sessionRoutes(s.Ingestor, s, "http://catalog", zap.NewNop()) {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), auth.Principal{Subject: "alice"})))
	})
	return &fuzzIngest{store: st, pub: pub, in: in, s: s, h: h}
}

func (f *fuzzIngest) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func (f *fuzzIngest) sessionDirs() int {
	entries, _ := os.ReadDir(f.s.Dir)
	return len(entries)
}

func oneOf(code int, codes ...int) bool {
	for _, c := range codes {
		if code == c {
			return true
		}
	}
	return false
}

// FuzzCreateUpload sends arbitrary bodies to POST /v1/uploads. A created session
// has the geometry the README promises and what the body declared; anything else
// is a 4xx that leaves no session behind.
func FuzzCreateUpload(f *testing.F) {
	for _, s := range []string{
		`{"filename":"holiday.mp4","size":40000,"content_type":"video/mp4","title":"Holiday"}`,
		`{"filename":"a.mkv","size":1}`,
		`{"filename":"a.bin","size":5,"content_type":"application/octet-stream"}`,
		`{"filename":"../x.mp4","size":5}`,
		`{"filename":"x.mp4","size":1073741824}`,
		`{"filename":"x.mp4","size":1073741825}`,
		`{"filename":"x.mp4","size":-1}`,
		`{"filename":"x.mp4","size":9223372036854775807}`,
		`{"filename":"x.mp4","size":5,"content_type":"video/mp4; codecs=\"avc1\""}`,
		`{"filename":"x.mp4","size":5,"content_type":";;"}`,
		`{"filename":"x.mp4","size":5} {"size":6}`,
		`{"FILENAME":"x.mp4","Size":5}`,
		`[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	fx := newFuzzIngest(f, 1<<30)
	f.Fuzz(func(t *testing.T, body []byte) {
		before := fx.sessionDirs()
		rec := fx.do(httptest.NewRequest(http.MethodPost, "/v1/uploads", bytes.NewReader(body)))
		if rec.Code != http.StatusCreated {
			if !oneOf(rec.Code, 400, 413, 415) {
				t.Fatalf("answered %d: %s", rec.Code, rec.Body)
			}
			if fx.sessionDirs() != before {
				t.Fatalf("a refused session left a directory")
			}
			return
		}
		var declared app.NewUpload
		if err := json.Unmarshal(body, &declared); err != nil {
			t.Fatalf("created a session from a body that is not one JSON object: %q", body)
		}
		var c createdJSON
		if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		checkGeometry(t, c, declared)
		get := fx.do(httptest.NewRequest(http.MethodGet, "/v1/uploads/"+c.ID, nil))
		var p progressJSON
		if get.Code != http.StatusOK || json.Unmarshal(get.Body.Bytes(), &p) != nil {
			t.Fatalf("the new session cannot be read: %d %s", get.Code, get.Body)
		}
		if name := p.Filename; name == "" || len(name) > 255 || strings.ContainsAny(name, "/\\\x00") || name == ".." {
			t.Fatalf("accepted filename %q", name)
		}
		if len(p.Title) > 512 || p.Size != c.Size || p.PartsTotal != c.PartsTotal || len(p.Parts) != 0 {
			t.Fatalf("stored session differs from the answer: %+v vs %+v", p, c)
		}
		if del := fx.do(httptest.NewRequest(http.MethodDelete, "/v1/uploads/"+c.ID, nil)); del.Code != http.StatusNoContent {
			t.Fatalf("cannot abort: %d", del.Code)
		}
	})
}

var sessionIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

func checkGeometry(t *testing.T, c createdJSON, declared app.NewUpload) {
	t.Helper()
	switch {
	case !sessionIDPattern.MatchString(c.ID):
		t.Fatalf("session id %q", c.ID)
	case c.Size != declared.Size || c.Size <= 0 || c.Size > 1<<30:
		t.Fatalf("size %d, declared %d", c.Size, declared.Size)
	case c.PartSize <= 0 || c.PartsTotal < 1 || c.PartsTotal > app.MaxParts:
		t.Fatalf("part size %d, %d parts", c.PartSize, c.PartsTotal)
	case int64(c.PartsTotal-1)*c.PartSize >= c.Size || int64(c.PartsTotal)*c.PartSize < c.Size:
		t.Fatalf("%d parts of %d bytes do not cover %d bytes exactly", c.PartsTotal, c.PartSize, c.Size)
	case c.Status != app.SessionUploading:
		t.Fatalf("status %q", c.Status)
	}
}

// FuzzPutPart sends one part with an arbitrary number, declared length and body
// to a fresh three-part session. A stored part has exactly the declared length,
// which is the length its number requires, and the bytes sent; a part 1 that does
// not start like a video discards the session.
func FuzzPutPart(f *testing.F) {
	clip := testmedia.Clip(f, testmedia.Spec{Width: 64, Height: 36, Seconds: 1, FPS: 10})
	data, err := os.ReadFile(clip)
	if err != nil {
		f.Fatal(err)
	}
	const size = 2*fuzzPartSize + 100
	for len(data) < size {
		data = append(data, data...)
	}
	f.Add("1", int64(fuzzPartSize), data[:fuzzPartSize])
	f.Add("3", int64(100), data[2*fuzzPartSize:size])
	f.Add("2", int64(fuzzPartSize), data[:fuzzPartSize-1])
	f.Add("1", int64(fuzzPartSize), bytes.Repeat([]byte("text"), fuzzPartSize/4))
	f.Add("4", int64(0), []byte{})
	f.Add("0", int64(1), []byte{1})
	f.Add("-1", int64(-1), []byte{})
	f.Add("+3", int64(100), bytes.Repeat([]byte{0}, 101))
	f.Add("3", int64(101), bytes.Repeat([]byte{0}, 101))
	f.Add("99999999999999999999", int64(1), []byte{1})
	fx := newFuzzIngest(f, 1<<30)
	f.Fuzz(func(t *testing.T, n string, length int64, body []byte) {
		open := fmt.Sprintf(`{"filename":"clip.mp4","size":%d,"content_type":"video/mp4"}`, size)
		rec := fx.do(httptest.NewRequest(http.MethodPost, "/v1/uploads", strings.NewReader(open)))
		var c createdJSON
		if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &c) != nil {
			t.Fatalf("cannot open a session: %d %s", rec.Code, rec.Body)
		}
		defer fx.do(httptest.NewRequest(http.MethodDelete, "/v1/uploads/"+c.ID, nil))
		req := httptest.NewRequest(http.MethodPut, "/v1/uploads/"+c.ID+"/parts/"+url.PathEscape(n), bytes.NewReader(body))
		req.ContentLength = length
		put := fx.do(req)
		// 301/307: the mux's redirect to the clean path ("." or ".." as the number).
		if !oneOf(put.Code, 200, 301, 307, 400, 404, 411, 413, 415) {
			t.Fatalf("answered %d: %s", put.Code, put.Body)
		}
		get := fx.do(httptest.NewRequest(http.MethodGet, "/v1/uploads/"+c.ID, nil))
		var p progressJSON
		if put.Code == http.StatusUnsupportedMediaType {
			if get.Code != http.StatusNotFound {
				t.Fatalf("a refused first part left the session (%d)", get.Code)
			}
			return
		}
		if get.Code != http.StatusOK || json.Unmarshal(get.Body.Bytes(), &p) != nil {
			t.Fatalf("cannot read the session: %d %s", get.Code, get.Body)
		}
		if put.Code != http.StatusOK {
			if len(p.Parts) != 0 || p.ReceivedBytes != 0 {
				t.Fatalf("a refused part was kept: %+v", p.Parts)
			}
			return
		}
		checkStoredPart(t, fx, c, p, length, body)
	})
}

func checkStoredPart(t *testing.T, fx *fuzzIngest, c createdJSON, p progressJSON, length int64, body []byte) {
	t.Helper()
	if len(p.Parts) != 1 {
		t.Fatalf("want one part, have %+v", p.Parts)
	}
	part := p.Parts[0]
	want := c.PartSize
	if part.N == c.PartsTotal {
		want = c.Size - int64(c.PartsTotal-1)*c.PartSize
	}
	sum := sha256.Sum256(body)
	switch {
	case part.N < 1 || part.N > c.PartsTotal:
		t.Fatalf("stored part number %d of %d", part.N, c.PartsTotal)
	case part.Size != want || length != want || int64(len(body)) != want:
		t.Fatalf("part %d stored with %d bytes (declared %d, sent %d, required %d)", part.N, part.Size, length, len(body), want)
	case part.ETag != hex.EncodeToString(sum[:]):
		t.Fatalf("part %d etag %s is not the digest of the bytes sent", part.N, part.ETag)
	}
	stored, err := os.ReadFile(filepath.Join(fx.s.Dir, c.ID, fmt.Sprintf("%06d.part", part.N)))
	if err != nil || !bytes.Equal(stored, body) {
		t.Fatalf("stored part differs from the bytes sent (%v)", err)
	}
}

var sourceKeyPattern = regexp.MustCompile(`^sources/[0-9a-f-]{36}/source\.[a-z0-9]{1,5}$`)

// FuzzUploadMeta sends a real clip to POST /v1/assets with arbitrary title,
// filename and content type, raw or as multipart. Whatever they are, the answer is
// 202 with an event the bus can carry, or a 4xx that keeps nothing: never a 5xx,
// which would tell the client to send the same request again.
func FuzzUploadMeta(f *testing.F) {
	clip := testmedia.Clip(f, testmedia.Spec{Width: 64, Height: 36, Seconds: 0.5, FPS: 10})
	data, err := os.ReadFile(clip)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("Holiday", "holiday.mp4", "video/mp4", false)
	f.Add("", "holiday.mov", "", true)
	f.Add("", "", "", false)
	f.Add("Ünïcødé ✓", "c:\\dir\\x.MP4", "application/octet-stream", true)
	f.Add("\xff", "\xfe.mp4", "video/mp4", false)
	f.Add("t", "x.mp4", "video/\xff", true)
	f.Add("t", "../../etc/passwd", "text/plain", false)
	f.Add("t", "x.verylongext", "video/mp4", false)
	fx := newFuzzIngest(f, 1<<30)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, title, filename, contentType string, multi bool) {
		req := uploadRequest(data, title, filename, contentType, multi)
		if req == nil {
			return // a header no HTTP server would pass on
		}
		rec := fx.do(req)
		got := fx.pub.Take()
		if rec.Code != http.StatusAccepted {
			if !oneOf(rec.Code, 400, 413, 415, 422) {
				t.Fatalf("answered %d: %s", rec.Code, rec.Body)
			}
			if objs, _ := fx.store.List(ctx, "sources/"); len(got) > 0 || len(objs) > 0 {
				t.Fatalf("a refused upload kept %d objects and published %d events", len(objs), len(got))
			}
			return
		}
		if len(got) != 1 {
			t.Fatalf("accepted, with %d events", len(got))
		}
		up := got[0].GetAssetUploaded()
		var a struct{ ID, Title string }
		_ = json.Unmarshal(rec.Body.Bytes(), &a)
		if up.GetTitle() == "" || up.GetTitle() != a.Title || !sourceKeyPattern.MatchString(up.GetSourceKey()) {
			t.Fatalf("accepted as title %q (answered %q), key %q", up.GetTitle(), a.Title, up.GetSourceKey())
		}
		if err := fx.store.DeletePrefix(ctx, "sources/"+a.ID); err != nil {
			t.Fatal(err)
		}
		if staged, _ := os.ReadDir(fx.in.StagingDir); len(staged) > 1 { // the sessions directory
			t.Fatalf("staging keeps %d entries", len(staged))
		}
	})
}

// validHeaderValue reports whether v can be a header field value on the wire
// (RFC 9110 5.5: no control characters but tab).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// uploadRequest builds the request as a client would send it, or nil when a value
// cannot travel in a header.
func uploadRequest(data []byte, title, filename, contentType string, multi bool) *http.Request {
	if !multi {
		q := url.Values{"title": {title}, "filename": {filename}}
		req := httptest.NewRequest(http.MethodPost, "/v1/assets?"+q.Encode(), bytes.NewReader(data))
		if !validHeaderValue(contentType) {
			return nil
		}
		req.Header.Set("Content-Type", contentType)
		return req
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("title", title)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, filename))
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	for _, v := range []string{h.Get("Content-Disposition"), contentType} {
		if !validHeaderValue(v) {
			return nil
		}
	}
	w, err := mw.CreatePart(h)
	if err != nil {
		return nil
	}
	_, _ = w.Write(data)
	_ = mw.Close()
	req := httptest.NewRequest(http.MethodPost, "/v1/assets", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return req
}
