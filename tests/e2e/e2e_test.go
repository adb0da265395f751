// Package e2e runs the whole stack as separate processes: goaws, the four
// services and the CLI, exactly as `make run` starts them.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/tests/stack"
)

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
}

// TestUploadToReady sends one clip the whole way: CLI upload, ingest, bus,
// encoder-dispatch, ffmpeg, webhook, catalog, and playback through /media/.
func TestUploadToReady(t *testing.T) {
	skipShort(t)
	t.Parallel()
	s := stack.Start(t, stack.Options{})
	clip := testmedia.Clip(t, testmedia.Spec{Width: 640, Height: 360, Seconds: 4, FPS: 25, Audio: true})

	s.LoginCLI("alice")
	cmd := s.Command("pertitle", "upload", clip, "--title", "E2E clip", "--wait", "--json", "--timeout", "3m")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "pertitle upload: %s", stderr.String())
	assert.Contains(t, stderr.String(), "ready", "the CLI shows progress on stderr")

	var a stack.Asset
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &a), stdout.String())
	assert.Equal(t, "ready", a.Status)
	assert.Equal(t, "E2E clip", a.Title)
	require.NotEmpty(t, a.HLSURL)
	require.NotEmpty(t, a.DASHURL)
	require.NotEmpty(t, a.Renditions)

	// The master playlist and a segment come through the catalog's /media/.
	master := string(stack.Get(t, a.HLSURL))
	require.Contains(t, master, "#EXTM3U")
	want := map[string]bool{}
	for _, r := range a.Renditions {
		assert.Equal(t, "h264", r.Codec)
		assert.Positive(t, r.Bytes)
		assert.Positive(t, r.Bitrate)
		want[dims(r.Width, r.Height)] = true
		assert.Contains(t, master, "RESOLUTION="+dims(r.Width, r.Height), "the master playlist advertises each rendition")
	}
	media := firstURI(t, master, "")
	mediaURL := resolve(t, a.HLSURL, media)
	playlist := string(stack.Get(t, mediaURL))
	seg := firstURI(t, playlist, ".m4s")
	segResp, err := http.Get(resolve(t, mediaURL, seg))
	require.NoError(t, err)
	segResp.Body.Close()
	assert.Equal(t, http.StatusOK, segResp.StatusCode)
	assert.NotEmpty(t, segResp.Header.Get("Access-Control-Allow-Origin"))

	// ffprobe reads both manifests and finds exactly the advertised resolutions.
	for _, u := range []string{a.HLSURL, a.DASHURL} {
		got := map[string]bool{}
		for _, d := range stack.FFprobeStreams(t, u) {
			got[d] = true
		}
		assert.Equal(t, keys(want), keys(got), "renditions found by ffprobe in %s", u)
	}

	// The list shows it to alice (whose `pertitle token` works) and to admin, not to bob.
	tok, err := s.Command("pertitle", "token").Output()
	require.NoError(t, err)
	assert.Regexp(t, `^[\w-]+\.[\w-]+\.[\w-]+\n$`, string(tok), "pertitle token prints a JWT")
	for user, want := range map[string]int{"alice": 1, "admin": 1, "bob": 0} {
		code, body := s.GetAs(user, s.URL("catalog", "/v1/assets"))
		require.Equal(t, http.StatusOK, code, "%s: %s", user, body)
		var list struct {
			Assets []stack.Asset `json:"assets"`
		}
		require.NoError(t, json.Unmarshal(body, &list))
		require.Len(t, list.Assets, want, user)
		if want == 1 {
			assert.Equal(t, a.ID, list.Assets[0].ID)
		}
	}
	// Another user's asset answers like a missing one; no token, no answer.
	_, theirs := s.GetAssetAs("bob", a.ID)
	_, missing := s.GetAssetAs("bob", "00000000-0000-4000-8000-000000000000")
	assert.Equal(t, http.StatusNotFound, theirs)
	assert.Equal(t, missing, theirs)
	for _, u := range []string{s.URL("catalog", "/v1/assets"), s.URL("catalog", "/v1/assets/"+a.ID)} {
		code, _ := s.GetAs("", u)
		assert.Equal(t, http.StatusUnauthorized, code, u)
	}
	code, _ := s.UploadAs("", clip, "anonymous")
	assert.Equal(t, http.StatusUnauthorized, code, "anonymous uploads are refused")

	// Every service stops gracefully within 30 s of SIGTERM.
	for _, name := range []string{"ingest", "encoder-dispatch", "webhook-receiver", "catalog"} {
		took, err := s.Stop(name)
		require.NoError(t, err, name)
		assert.Less(t, took, 30*time.Second, name)
	}
}

// TestBadInputsLoseNothing: rejected uploads and malformed events leave the system
// as it was, and the CLI reports the reason with a non-zero exit.
func TestBadInputsLoseNothing(t *testing.T) {
	skipShort(t)
	t.Parallel()
	s := stack.Start(t, stack.Options{})
	text := t.TempDir() + "/notes.txt"
	require.NoError(t, os.WriteFile(text, []byte(strings.Repeat("not a video\n", 200)), 0o644))

	code, body := s.Upload(text, "notes")
	assert.Equal(t, http.StatusUnprocessableEntity, code)
	assert.Contains(t, body["error"], "not a video")

	cmd := s.Command("pertitle", "upload", text, "--wait")
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "pertitle login", "the CLI asks to sign in first")
	s.LoginCLI("bob")
	cmd = s.Command("pertitle", "upload", text, "--wait")
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "upload refused (422)")

	// A malformed event body on the catalog's queue ends in its dead-letter queue
	// (where the catalog's sweeper finds no asset to fail) without stopping the
	// catalog.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	probe, err := bus.New(ctx, s.BusConfig, bus.ServiceCatalog, zap.NewNop(), nil)
	require.NoError(t, err)
	defer probe.Close()
	require.NoError(t, probe.SendRaw(ctx, "asset-uploaded", []byte("this is not an event")))
	require.Eventually(t, func() bool {
		return s.Metric("catalog", "pertitle_events_failed_total", `outcome="dead_letter"`, `topic="asset-uploaded"`) >= 1
	}, 45*time.Second, 500*time.Millisecond, "malformed event must reach the DLQ")
	require.Eventually(t, func() bool {
		return s.Metric("catalog", "pertitle_events_failed_total", `outcome="dead_letter_swept"`, `topic="asset-uploaded"`) >= 1
	}, 45*time.Second, 500*time.Millisecond, "and be swept")

	var list struct {
		Assets []stack.Asset `json:"assets"`
	}
	code, listBody := s.GetAs("admin", s.URL("catalog", "/v1/assets"))
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, json.Unmarshal(listBody, &list))
	assert.Empty(t, list.Assets, "nothing was recorded")
	entries, _ := os.ReadDir(s.Dir + "/storage/sources")
	assert.Empty(t, entries, "no source was kept")
	assertOpsPrivate(t, s)
}

// assertOpsPrivate: the public ports answer /readyz with ready or not, nothing
// more, and serve no /metrics; the ops listeners have both, with details.
func assertOpsPrivate(t *testing.T, s *stack.Stack) {
	t.Helper()
	for _, name := range []string{"ingest", "webhook-receiver", "catalog"} {
		assert.JSONEq(t, `{"status":"ready"}`, string(stack.Get(t, s.URL(name, "/readyz"))), name)
		resp, err := http.Get(s.URL(name, "/metrics"))
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.False(t, strings.Contains(string(b), "go_goroutines"), "%s serves no metrics publicly", name)
	}
	for _, name := range stack.AllServices {
		var ready struct {
			Ready  bool              `json:"ready"`
			Checks map[string]string `json:"checks"`
		}
		require.NoError(t, json.Unmarshal(stack.Get(t, s.OpsURL(name, "/readyz")), &ready), name)
		assert.True(t, ready.Ready, name)
		assert.Equal(t, "ok", ready.Checks["bus"], name)
		assert.True(t, strings.Contains(string(stack.Get(t, s.OpsURL(name, "/metrics"))), "go_goroutines"), "%s serves metrics on its ops port", name)
	}
}

// TestKillDispatchMidEncode: kill -9 encoder-dispatch while it encodes, start it
// again, and the asset still becomes ready, exactly once.
func TestKillDispatchMidEncode(t *testing.T) {
	skipShort(t)
	t.Parallel()
	// A slow preset on a busy source keeps the encode running long enough to kill it.
	// The fixed ladder has one rendition per resolution, which the check below counts.
	s := stack.Start(t, stack.Options{Env: map[string]string{"PERTITLE_X264_PRESET": "slower", "PERTITLE_LADDER_MODE": "fixed"}})
	clip := testmedia.Clip(t, testmedia.Spec{Width: 640, Height: 360, Seconds: 8, FPS: 25, Source: "mandelbrot"})
	code, body := s.Upload(clip, "crash")
	require.Equal(t, http.StatusAccepted, code, body)
	id := body["id"].(string)

	s.WaitStatus(id, 60*time.Second, "encoding")
	time.Sleep(500 * time.Millisecond)
	s.Kill9("encoder-dispatch")
	a, _ := s.GetAsset(id)
	require.NotNil(t, a)
	require.Equal(t, "encoding", a.Status, "the encode must have been interrupted, not finished")
	// Its ffmpeg dies with it rather than writing on as an orphan.
	require.Eventually(t, func() bool { return len(processesMentioning(s.Dir)) == 0 }, 5*time.Second, 100*time.Millisecond,
		"encoders left running after encoder-dispatch was killed: %v", processesMentioning(s.Dir))

	s.StartService("encoder-dispatch")
	a = s.WaitStatus(id, 4*time.Minute, "ready", "failed")
	require.Equal(t, "ready", a.Status, a.Error)
	assert.Equal(t, 1, a.ReadyTransitions, "the asset became ready exactly once")
	got := map[string]bool{}
	for _, d := range stack.FFprobeStreams(t, a.HLSURL) {
		got[d] = true
	}
	assert.Len(t, got, len(a.Renditions))
}

// processesMentioning lists the command lines of running processes whose
// arguments mention dir.
func processesMentioning(dir string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || len(b) == 0 {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmd, dir) && strings.Contains(cmd, "ffmpeg") {
			out = append(out, cmd)
		}
	}
	return out
}

func dims(w, h int) string { return strconv.Itoa(w) + "x" + strconv.Itoa(h) }

var uriLine = regexp.MustCompile(`^[^#\s].*$`)

// firstURI returns the first URI line of a playlist (optionally with a suffix).
func firstURI(t *testing.T, playlist, suffix string) string {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(playlist))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if uriLine.MatchString(l) && strings.Contains(l, suffix) {
			return l
		}
	}
	// Segments may be referenced by EXT-X-MAP only; fall back to the map URI.
	t.Fatalf("no URI%s in playlist:\n%s", suffix, playlist)
	return ""
}

func resolve(t *testing.T, base, ref string) string {
	b, err := url.Parse(base)
	require.NoError(t, err)
	r, err := url.Parse(ref)
	require.NoError(t, err)
	return b.ResolveReference(r).String()
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
