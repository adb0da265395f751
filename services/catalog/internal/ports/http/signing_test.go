package http_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/storage"
	cataloghttp "github.com/pertitle/pertitle/services/catalog/internal/ports/http"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func newSignedServer(t *testing.T, base string) (http.Handler, *cataloghttp.Signer, *testClock) {
	t.Helper()
	fs, err := storage.NewFS(filepath.Join(t.TempDir(), "storage"))
	require.NoError(t, err)
	q := fixture()
	other := q.assets["a-ready"]
	other.ID, other.HLSKey, other.DASHURL, other.DASHKey = "a-other", "outputs/a-other/j9/master.m3u8", "", "outputs/a-other/j9/manifest.mpd"
	q.assets[other.ID] = other
	put(t, fs, "outputs/a-ready/j1/master.m3u8", "#EXTM3U\n720p/playlist.m3u8\n")
	put(t, fs, "outputs/a-ready/j1/720p/seg_001.m4s", "0123456789abcdef")
	put(t, fs, "outputs/a-other/j9/master.m3u8", "#EXTM3U\nother\n")
	clk := &testClock{t: time.Now()}
	signer := cataloghttp.NewSigner([]byte("0123456789abcdef-test-key"), time.Hour)
	signer.Now = clk.Now
	h := cataloghttp.New(cataloghttp.Config{MediaBaseURL: base, Signer: signer}, q, fs, nil)
	return h.Handler(nil), signer, clk
}

// signedPath fetches the asset and returns its HLS URL's path (what a player gets).
func signedHLS(t *testing.T, h http.Handler, id string) (*url.URL, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/v1/assets/"+id, nil)
	req = req.WithContext(auth.WithPrincipal(req.Context(), auth.Principal{Subject: "alice"}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var a map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &a))
	u, err := url.Parse(a["hls_url"].(string))
	require.NoError(t, err)
	return u, a
}

func TestSignedMediaURLs(t *testing.T) {
	t.Parallel()
	h, _, clk := newSignedServer(t, "/media/")
	u, a := signedHLS(t, h, "a-ready")
	require.Regexp(t, `^/media/s/[0-9]+/[A-Za-z0-9_-]{43}/outputs/a-ready/j1/master\.m3u8$`, u.Path)
	assert.Equal(t, "https://cdn.example/a-ready/manifest.mpd", a["dash_url"], "an encoder's absolute URL is left alone")
	assert.NotEmpty(t, a["beacon_token"])
	exp, err := strconv.ParseInt(strings.Split(u.Path, "/")[3], 10, 64)
	require.NoError(t, err)
	left := time.Until(time.Unix(exp, 0))
	assert.True(t, left > 59*time.Minute && left <= 66*time.Minute, "expiry is the TTL rounded up: %s", left)

	segment := u.ResolveReference(&url.URL{Path: "720p/seg_001.m4s"}).Path
	parts := strings.SplitN(strings.TrimPrefix(u.Path, "/media/s/"), "/", 3)
	expStr, sig := parts[0], parts[1]
	other, _ := signedHLS(t, h, "a-other")
	otherSig := strings.Split(other.Path, "/")[4]

	for _, tc := range []struct {
		name, path string
		hdr        []string
		code       int
		body       string
	}{
		{"master playlist", u.Path, nil, http.StatusOK, "#EXTM3U\n720p/playlist.m3u8\n"},
		{"relative segment through the signed path", segment, nil, http.StatusOK, "0123456789abcdef"},
		{"range through the signed path", segment, []string{"Range", "bytes=4-7"}, http.StatusPartialContent, "4567"},
		{"unsigned", "/media/outputs/a-ready/j1/master.m3u8", nil, http.StatusForbidden, "must be signed"},
		{"tampered signature", "/media/s/" + expStr + "/" + strings.Repeat("A", 43) + "/outputs/a-ready/j1/master.m3u8", nil, http.StatusForbidden, "invalid media signature"},
		{"tampered expiry", "/media/s/" + strconv.FormatInt(exp+3600, 10) + "/" + sig + "/outputs/a-ready/j1/master.m3u8", nil, http.StatusForbidden, "invalid media signature"},
		{"other asset's signature", "/media/s/" + expStr + "/" + otherSig + "/outputs/a-ready/j1/master.m3u8", nil, http.StatusForbidden, "invalid media signature"},
		{"signature moved to another asset", "/media/s/" + expStr + "/" + sig + "/outputs/a-other/j9/master.m3u8", nil, http.StatusForbidden, "invalid media signature"},
		{"malformed", "/media/s/" + expStr + "/" + sig, nil, http.StatusNotFound, "not found"},
		{"traversal out of the scope", "/media/s/" + expStr + "/" + sig + "/outputs/a-ready/j1/../../a-other/j9/master.m3u8", nil, http.StatusNotFound, "not found"},
	} {
		rec := do(h, http.MethodGet, tc.path, tc.hdr...)
		assert.Equal(t, tc.code, rec.Code, "%s: %s", tc.name, rec.Body.String())
		assert.Contains(t, rec.Body.String(), tc.body, tc.name)
		assert.Equal(t, "*", rec.Header().Get("Access-Control-Allow-Origin"), tc.name)
		if tc.code == http.StatusForbidden {
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"), tc.name)
		}
	}

	rec := do(h, http.MethodGet, segment)
	cc := rec.Header().Get("Cache-Control")
	assert.Contains(t, cc, "immutable")
	maxAge, err := strconv.Atoi(strings.TrimPrefix(strings.Split(cc, ", ")[1], "max-age="))
	require.NoError(t, err, cc)
	assert.InDelta(t, left.Seconds(), float64(maxAge), 2, "no cache keeps a segment past the signature's expiry")
	assert.Equal(t, "public, max-age=2", do(h, http.MethodGet, u.Path).Header().Get("Cache-Control"))
	head := do(h, http.MethodHead, segment)
	assert.Equal(t, http.StatusOK, head.Code)
	assert.Equal(t, "16", head.Header().Get("Content-Length"))

	clk.mu.Lock()
	clk.t = time.Unix(exp, 0)
	clk.mu.Unlock()
	rec = do(h, http.MethodGet, segment)
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Contains(t, rec.Body.String(), "expired")
}

func TestSignedMediaOnCDN(t *testing.T) {
	t.Parallel()
	h, _, _ := newSignedServer(t, "https://cdn.example/media/")
	u, _ := signedHLS(t, h, "a-ready")
	assert.Equal(t, "cdn.example", u.Host)
	// The CDN forwards the same path to the catalog, its origin.
	assert.Equal(t, http.StatusOK, do(h, http.MethodGet, u.Path).Code)
}

func TestBeaconTokens(t *testing.T) {
	t.Parallel()
	_, signer, clk := newSignedServer(t, "/media/")
	tok, exp := signer.BeaconToken("a-ready")
	assert.NoError(t, signer.VerifyBeaconToken(tok, "a-ready"))
	assert.ErrorIs(t, signer.VerifyBeaconToken(tok, "a-other"), cataloghttp.ErrBadSignature)
	assert.ErrorIs(t, signer.VerifyBeaconToken("1."+strings.Split(tok, ".")[1], "a-ready"), cataloghttp.ErrBadSignature)
	assert.ErrorIs(t, signer.VerifyBeaconToken("garbage", "a-ready"), cataloghttp.ErrBadSignature)
	// A beacon token is not a media signature, nor the reverse.
	_, err := signer.Verify(strings.Split(tok, ".")[0], strings.Split(tok, ".")[1], "outputs/a-ready/j1/master.m3u8")
	assert.ErrorIs(t, err, cataloghttp.ErrBadSignature)
	clk.mu.Lock()
	clk.t = exp
	clk.mu.Unlock()
	assert.ErrorIs(t, signer.VerifyBeaconToken(tok, "a-ready"), cataloghttp.ErrExpired)
}

// TestSignatureExpiryIsCapped: whoever holds the key (a leak, a former employee) can
// sign any expiry; the catalog accepts none later than its own TTL, plus the
// rounding it applies, would produce.
func TestSignatureExpiryIsCapped(t *testing.T) {
	t.Parallel()
	h, signer, clk := newSignedServer(t, "/media/")
	key := "outputs/a-ready/j1/master.m3u8"
	mint := func(ttl time.Duration) string {
		forger := cataloghttp.NewSigner([]byte("0123456789abcdef-test-key"), ttl)
		forger.Now = clk.Now
		return "/media/" + forger.SignKey(key)
	}
	until2100 := time.Until(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	rec := do(h, http.MethodGet, mint(until2100))
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Contains(t, rec.Body.String(), "later than the catalog allows")
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.Equal(t, http.StatusForbidden, do(h, http.MethodGet, mint(2*time.Hour)).Code, "twice the TTL")

	// What the catalog itself hands out stays valid, rounding included, at any moment.
	for _, offset := range []time.Duration{0, time.Second, 299 * time.Second, 301 * time.Second} {
		clk.mu.Lock()
		clk.t = time.Unix(1_900_000_000, 0).Add(offset)
		clk.mu.Unlock()
		assert.Equal(t, http.StatusOK, do(h, http.MethodGet, "/media/"+signer.SignKey(key)).Code, "offset %s", offset)
	}

	// Beacon tokens are minted from the same secret: the same cap.
	forger := cataloghttp.NewSigner([]byte("0123456789abcdef-test-key"), until2100)
	forger.Now = clk.Now
	tok, _ := forger.BeaconToken("a-ready")
	assert.ErrorIs(t, signer.VerifyBeaconToken(tok, "a-ready"), cataloghttp.ErrTooFarAhead)
	tok, _ = signer.BeaconToken("a-ready")
	assert.NoError(t, signer.VerifyBeaconToken(tok, "a-ready"))
}
