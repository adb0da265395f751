package http_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pertitle/pertitle/pkg/storage"
	cataloghttp "github.com/pertitle/pertitle/services/catalog/internal/ports/http"
)

var signNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// signedMedia is the catalog's media handler over storage whose every object
// holds its own key, and the signed path of outputs/a1/j1/master.m3u8.
func signedMedia(tb testing.TB) (http.Handler, *cataloghttp.Signer, string) {
	fs, err := storage.NewFS(filepath.Join(tb.TempDir(), "storage"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, key := range []string{"outputs/a1/j1/master.m3u8", "outputs/a1/j1/720p/seg_1.m4s", "outputs/a1/j2/master.m3u8",
		"outputs/b1/j1/master.m3u8", "sources/a1/source.mp4", "outputs/a1/j1.m3u8"} {
		if _, err := fs.Put(tb.Context(), key, strings.NewReader(key)); err != nil {
			tb.Fatal(err)
		}
	}
	signer := cataloghttp.NewSigner([]byte("0123456789abcdef-test-key"), time.Hour)
	signer.Now = func() time.Time { return signNow }
	h := cataloghttp.New(cataloghttp.Config{MediaBaseURL: "/media/", Signer: signer}, fixture(), fs, nil)
	return h.Handler(nil), signer, signer.SignKey("outputs/a1/j1/master.m3u8")
}

// FuzzSignedMedia requests arbitrary paths under /media/ with a signature for
// outputs/a1/j1/. Only objects inside that directory are ever served, and every
// answer comes quickly, whatever the path.
func FuzzSignedMedia(f *testing.F) {
	h, _, signed := signedMedia(f)
	parts := strings.SplitN(signed, "/", 4) // s, exp, sig, key
	prefix := strings.Join(parts[:3], "/") + "/"
	for _, key := range []string{"outputs/a1/j1/master.m3u8", "outputs/a1/j1/720p/seg_1.m4s", "outputs/a1/j2/master.m3u8",
		"outputs/a1/j1/../j2/master.m3u8", "outputs/a1/j1/..%2Fj2/master.m3u8", "outputs/a1/j1%2F..%2F..%2Fb1/j1/master.m3u8",
		"outputs/a1/j1//master.m3u8", "outputs/a1/j1.m3u8", "outputs/b1/j1/master.m3u8", "sources/a1/source.mp4",
		"outputs/a1/j1/" + strings.Repeat("x/", 300) + "y"} {
		f.Add(prefix + key)
	}
	f.Add("outputs/a1/j1/master.m3u8")
	f.Add("s/" + parts[1] + "/" + parts[2] + "=/outputs/a1/j1/master.m3u8")
	f.Add("s/0" + parts[1] + "/" + parts[2] + "/outputs/a1/j1/master.m3u8")
	f.Fuzz(func(t *testing.T, p string) {
		u, err := url.ParseRequestURI("/media/" + p)
		if err != nil {
			return // not a request line a server would pass on
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL, req.RequestURI = u, u.RequestURI()
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("a request for %d bytes of path took %s", len(p), d)
		}
		if rec.Code >= 500 {
			t.Fatalf("answered %d", rec.Code)
		}
		if rec.Code == http.StatusOK {
			body, _ := io.ReadAll(rec.Body)
			if !strings.HasPrefix(string(body), "outputs/a1/j1/") {
				t.Fatalf("served %q for a signature over outputs/a1/j1/ (path %q)", body, p)
			}
		}
	})
}

// TestSignedMediaLongPathIsCheapToRefuse: a signature is checked against every
// directory of the key, so a path with a great many of them once cost seconds of
// CPU per request (tens of minutes for a 1 MB request line).
func TestSignedMediaLongPathIsCheapToRefuse(t *testing.T) {
	t.Parallel()
	h, _, signed := signedMedia(t)
	parts := strings.SplitN(signed, "/", 4)
	key := "outputs/a1/j1/" + strings.Repeat("a/", 50_000) + "x"
	req := httptest.NewRequest(http.MethodGet, "/media/"+strings.Join(parts[:3], "/")+"/"+key, nil)
	rec := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(rec, req)
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("refusing a 100 KB path took %s", d)
	}
	if rec.Code != http.StatusForbidden {
		t.Fatalf("answered %d", rec.Code)
	}
}

// FuzzBeaconToken checks beacon tokens: a token made for an asset is accepted
// for it and only for it, and nothing else passes.
func FuzzBeaconToken(f *testing.F) {
	_, signer, _ := signedMedia(f)
	good, _ := signer.BeaconToken("a1")
	f.Add(good, "a1")
	f.Add(good, "a2")
	f.Add(good+"A", "a1")
	f.Add("-1.x", "a1")
	f.Add("99999999999999999999.x", "a1")
	f.Fuzz(func(t *testing.T, token, asset string) {
		if signer.VerifyBeaconToken(token, asset) == nil && (token != good || asset != "a1") {
			t.Fatalf("token %q accepted for asset %q", token, asset)
		}
		if tok, _ := signer.BeaconToken(asset); signer.VerifyBeaconToken(tok, asset) != nil {
			t.Fatalf("a fresh token for %q is refused", asset)
		}
	})
}
