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

	report, differ := assertEncodedAsReported(t, a, src)
	assert.Equal(t, "pershot", report.Mode)
	require.Greater(t, len(report.Shots), 1, "four scenes make several shots")
	assert.True(t, differ, "shots of different content get different CRFs: %+v", report.Shots)
}

// shotReport is what the per-shot tests read of report.json.
type shotReport struct {
	Mode  string `json:"mode"`
	Shots []struct {
		CRFs []float64 `json:"crfs"`
	} `json:"shots"`
}

// assertEncodedAsReported: every rung of the ready asset a has every frame
// of src once, and its segments carry, shot after shot, the CRFs its
// report.json chose, so the chunks really were encoded at them. differ
// tells whether some rung gave shots different CRFs.
func assertEncodedAsReported(t *testing.T, a *stack.Asset, src string) (report shotReport, differ bool) {
	t.Helper()
	require.NoError(t, json.Unmarshal(stack.Get(t, resolve(t, a.HLSURL, "report.json")), &report))
	var media []string
	for _, p := range uris(t, a.HLSURL) {
		if !strings.Contains(p, "audio") {
			media = append(media, p)
		}
	}
	require.Len(t, media, len(a.Renditions))
	total := frames(t, src)
	for i, p := range media {
		assert.Equal(t, total, frames(t, p), "rung %d: every frame of the title, once", i)
		var chosen []float64
		for _, sh := range report.Shots {
			require.Len(t, sh.CRFs, len(media))
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
	return report, differ
}

// TestPerShotSurvivesAKilledWorker: a per-shot title of five shots on three
// chunk workers; one is killed with SIGKILL in the middle of a shot's
// encode (whether or not it coordinates the title). The title becomes ready
// once, with every frame, every shot encoded at the CRFs the report chose
// and each shot's chunk finished once: a coordinator that takes the title
// over finds the analysis's pieces and the plan (its CRFs included) where
// the first left them, rather than choosing again.
func TestPerShotSurvivesAKilledWorker(t *testing.T) {
	skipShort(t)
	t.Parallel()
	const workers = 3
	s, src, id := perShotOnWorkers(t, workers, "per shot, kill -9")

	killed, chunk := busyWorker(t, s, workers, "encode")
	s.Kill9(killed)

	a := s.WaitStatus(id, 6*time.Minute, "ready", "failed")
	require.Equal(t, "ready", a.Status, a.Error)
	assert.Equal(t, 1, a.ReadyTransitions, "ready exactly once")
	assert.Equal(t, "pershot", a.LadderMode)
	report, _ := assertEncodedAsReported(t, a, src)
	starts, finished, by := chunkCounts(t, s, workers, "encode")
	t.Logf("%s was killed encoding shot %d; %s finished it", killed, chunk, by[chunk])
	want := map[int]int{}
	for k := range report.Shots {
		want[k] = 1
	}
	assert.Equal(t, want, finished, "each shot's chunk finished once")
	assert.LessOrEqual(t, starts, len(report.Shots)+1, "one more chunk encode started for the kill, at most")
}

// perShotOnWorkers starts a stack of chunk workers in per-shot mode (shots
// at x264's medium, long enough to be caught mid-encode) and uploads a 20 s
// title of five scenes as title: the stack, the source and the asset's id.
func perShotOnWorkers(t *testing.T, workers int, title string) (*stack.Stack, string, string) {
	t.Helper()
	s := stack.Start(t, stack.Options{Workers: workers, Env: map[string]string{
		"PERTITLE_LADDER_MODE": "pershot", "PERTITLE_CHUNK_SECONDS": "8", "PERTITLE_X264_PRESET": "medium",
		"PERTITLE_VMAF_FFMPEG": scorer(t), "PERTITLE_MEASURE_QUALITY": "false",
	}})
	src := testmedia.Scenes(t, testmedia.ScenesSpec{Width: 640, Height: 360, Rate: "25", Scenes: []float64{4.1, 3.9, 4.2, 4, 4.1}, Audio: true})
	code, body := s.Upload(src, title)
	require.Equal(t, http.StatusAccepted, code, body)
	return s, src, body["id"].(string)
}

// planLines are the "chunks requested" lines of every worker's log: which
// worker coordinated which plan (its storage prefix, a hash of its
// content, the shots' CRFs included).
func planLines(t *testing.T, s *stack.Stack, workers int) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for i := 1; i <= workers; i++ {
		w := stack.Worker(i)
		eachLogLine(t, s, w, func(line []byte) {
			var l struct {
				Msg  string `json:"msg"`
				Plan string `json:"plan"`
			}
			if json.Unmarshal(line, &l) == nil && l.Msg == "chunks requested" {
				out[w] = append(out[w], l.Plan)
			}
		})
	}
	return out
}

// TestPerShotCoordinatorKilledPlansTheSame: the worker coordinating a
// per-shot title is killed with SIGKILL once its shots are on the workers.
// The title's message comes back to another worker, which analyses the
// title again and must arrive at the same plan (the same shots and CRFs:
// the plan's storage prefix is a hash of them), so the shots already
// encoded are not encoded again. The title becomes ready once, every shot
// at the report's CRFs, each shot's chunk finished once.
func TestPerShotCoordinatorKilledPlansTheSame(t *testing.T) {
	skipShort(t)
	t.Parallel()
	const workers = 3
	s, src, id := perShotOnWorkers(t, workers, "per shot, coordinator kill -9")

	var coordinator, plan string
	require.Eventually(t, func() bool {
		for w, plans := range planLines(t, s, workers) {
			coordinator, plan = w, plans[0]
			return true
		}
		return false
	}, 3*time.Minute, 50*time.Millisecond, "a worker coordinates the title")
	s.Kill9(coordinator)

	a := s.WaitStatus(id, 6*time.Minute, "ready", "failed")
	require.Equal(t, "ready", a.Status, a.Error)
	assert.Equal(t, 1, a.ReadyTransitions, "ready exactly once")
	report, _ := assertEncodedAsReported(t, a, src)
	lines := planLines(t, s, workers)
	var again []string
	for w, plans := range lines {
		if w != coordinator {
			again = append(again, plans...)
		}
	}
	require.NotEmpty(t, again, "another worker took the title over: %v", lines)
	for _, p := range again {
		assert.Equal(t, plan, p, "the title planned again to the same shots and CRFs")
	}
	_, finished, _ := chunkCounts(t, s, workers, "encode")
	for k := range report.Shots {
		assert.LessOrEqual(t, finished[k], 1, "shot %d's chunk finished at most once (%v)", k, finished)
	}
	t.Logf("%s coordinated %s and was killed; taken over with %d plan line(s)", coordinator, plan, len(again))
}
