package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testenv"
	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/pertitle"
	"github.com/pertitle/pertitle/tests/stack"
)

// scorer is the VMAF-capable ffmpeg scripts/deps.sh installs (make test runs
// it first); PERTITLE_VMAF_FFMPEG overrides it. The services run in the
// stack's directory, where they would not find it themselves.
func scorer(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PERTITLE_VMAF_FFMPEG"); p != "" {
		return p
	}
	p := filepath.Join(testenv.RepoRoot(t), "bin", pertitle.ScorerDir, "ffmpeg")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no VMAF scorer at %s: run scripts/deps.sh (make test does)", p)
	}
	return p
}

// uris lists a playlist's URI lines, resolved against its URL.
func uris(t *testing.T, playlistURL string) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(stack.Get(t, playlistURL)))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); uriLine.MatchString(l) {
			out = append(out, resolve(t, playlistURL, l))
		}
	}
	return out
}

var x264CRF = regexp.MustCompile(` crf=([0-9.]+) `)

// segmentCRFs are the CRFs x264 wrote (in its settings SEI, at the start of
// each encode) into a rendition's segments, in order: one per chunk.
func segmentCRFs(t *testing.T, playlistURL string) []float64 {
	t.Helper()
	var out []float64
	for _, seg := range uris(t, playlistURL) {
		for _, m := range x264CRF.FindAllSubmatch(stack.Get(t, seg), -1) {
			v, err := strconv.ParseFloat(string(m[1]), 64)
			require.NoError(t, err)
			out = append(out, v)
		}
	}
	return out
}

// TestPerShotUploadToReady: with PERTITLE_LADDER_MODE=pershot and chunk
// workers, a 12 s title of four scenes becomes ready as a per-shot encode:
// the catalog names the mode, HLS and DASH manifests parse with the
// advertised renditions, every rung has every frame of the title once, and
// the segments carry, shot after shot, the CRFs the report chose (different
// ones for different shots), so the chunks really were encoded at them.
func TestPerShotUploadToReady(t *testing.T) {
	skipShort(t)
	t.Parallel()
	s := stack.Start(t, stack.Options{Workers: 2, Env: map[string]string{
		"PERTITLE_LADDER_MODE": "pershot", "PERTITLE_CHUNK_SECONDS": "8", "PERTITLE_X264_PRESET": "veryfast",
		"PERTITLE_VMAF_FFMPEG": scorer(t), "PERTITLE_MEASURE_QUALITY": "false",
	}})
	src := testmedia.Scenes(t, testmedia.ScenesSpec{Width: 320, Height: 180, Rate: "25", Scenes: []float64{3, 3, 3, 3}, Audio: true})
	code, body := s.Upload(src, "per shot")
	require.Equal(t, http.StatusAccepted, code, body)
	a := s.WaitStatus(body["id"].(string), 4*time.Minute, "ready", "failed")
	require.Equal(t, "ready", a.Status, a.Error)
	assert.Equal(t, "pershot", a.LadderMode)
	require.NotEmpty(t, a.Renditions)

	want := map[string]bool{}
	for _, r := range a.Renditions {
		want[dims(r.Width, r.Height)] = true
	}
	for _, u := range []string{a.HLSURL, a.DASHURL} {
		got := map[string]bool{}
		for _, d := range stack.FFprobeStreams(t, u) {
			got[d] = true
		}
		assert.Equal(t, keys(want), keys(got), "renditions found by ffprobe in %s", u)
	}

	var report struct {
		Mode  string `json:"mode"`
		Shots []struct {
			CRFs []float64 `json:"crfs"`
		} `json:"shots"`
	}
	require.NoError(t, json.Unmarshal(stack.Get(t, resolve(t, a.HLSURL, "report.json")), &report))
	assert.Equal(t, "pershot", report.Mode)
	require.Greater(t, len(report.Shots), 1, "four scenes make several shots")
	playlists := uris(t, a.HLSURL)
	var media []string
	for _, p := range playlists {
		if !strings.Contains(p, "audio") {
			media = append(media, p)
		}
	}
	require.Len(t, media, len(a.Renditions))
	total := frames(t, src)
	differ := false
	for i, p := range media {
		assert.Equal(t, total, frames(t, p), "rung %d: every frame of the title, once", i)
		var chosen []float64
		for _, sh := range report.Shots {
			chosen = append(chosen, sh.CRFs[i])
			differ = differ || sh.CRFs[i] != report.Shots[0].CRFs[i]
		}
		// x264 writes its CRF with one decimal.
		got := segmentCRFs(t, p)
		require.Len(t, got, len(chosen), "rung %d: one x264 encode per shot", i)
		for k := range chosen {
			assert.InDelta(t, chosen[k], got[k], 0.051, "rung %d shot %d: encoded at the CRF the report chose", i, k)
		}
	}
	assert.True(t, differ, "shots of different content get different CRFs: %+v", report.Shots)
}
