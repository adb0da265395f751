package e2e

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/tests/stack"
)

// chunkLog is one "encoding chunk" or "chunk encoded" line of a worker's
// log; Kind is "encode", or "analysis" for a piece of a title's analysis.
type chunkLog struct {
	Msg   string    `json:"msg"`
	Chunk int       `json:"chunk"`
	Kind  string    `json:"kind"`
	TS    time.Time `json:"ts"`
}

// chunkLogs reads the chunk lines of worker's log.
func chunkLogs(t *testing.T, s *stack.Stack, worker string) []chunkLog {
	t.Helper()
	var out []chunkLog
	eachLogLine(t, s, worker, func(line []byte) {
		var l chunkLog
		if json.Unmarshal(line, &l) == nil && (l.Msg == "encoding chunk" || l.Msg == "chunk encoded") {
			out = append(out, l)
		}
	})
	return out
}

// eachLogLine calls fn with every line of worker's log (none while the log
// does not exist yet).
func eachLogLine(t *testing.T, s *stack.Stack, worker string, fn func(line []byte)) {
	t.Helper()
	f, err := os.Open(filepath.Join(s.Dir, worker+".log"))
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fn(sc.Bytes())
	}
}

// busyWorker waits until one of the workers is encoding a chunk of kind
// ("" for any) it has not finished, and returns the worker and the chunk.
func busyWorker(t *testing.T, s *stack.Stack, workers int, kind string) (string, int) {
	t.Helper()
	var name string
	chunk := -1
	require.Eventually(t, func() bool {
		for i := 1; i <= workers; i++ {
			w := stack.Worker(i)
			open := map[int]bool{}
			for _, l := range chunkLogs(t, s, w) {
				if kind == "" || l.Kind == kind {
					open[l.Chunk] = l.Msg == "encoding chunk"
				}
			}
			for k, busy := range open {
				if busy {
					name, chunk = w, k
					return true
				}
			}
		}
		return false
	}, 3*time.Minute, 50*time.Millisecond, "a worker starts a chunk")
	return name, chunk
}

// chunkCounts reads every worker's chunk lines of kind ("" for any): how
// many chunk encodes started, how many times each chunk finished, and the
// worker that last finished each.
func chunkCounts(t *testing.T, s *stack.Stack, workers int, kind string) (starts int, finished map[int]int, by map[int]string) {
	t.Helper()
	finished, by = map[int]int{}, map[int]string{}
	for i := 1; i <= workers; i++ {
		for _, l := range chunkLogs(t, s, stack.Worker(i)) {
			switch {
			case kind != "" && l.Kind != kind:
			case l.Msg == "encoding chunk":
				starts++
			default:
				finished[l.Chunk]++
				by[l.Chunk] = stack.Worker(i)
			}
		}
	}
	return starts, finished, by
}

// frames counts the video frames of a file, or of the first rendition of an
// HLS master.
func frames(t *testing.T, url string) int {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets",
		"-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", url).CombinedOutput()
	require.NoError(t, err, "%s", out)
	n, err := strconv.Atoi(strings.TrimSpace(strings.Split(string(out), "\n")[0]))
	require.NoError(t, err, "%s", out)
	return n
}

// TestSIGTERMHandsTheChunkBackAtOnce: a title of two chunks on three
// workers, so that one is idle. The worker encoding a chunk gets SIGTERM: it
// hands the chunk (and, if it coordinates the title, the title) back at
// once, and the idle worker starts the chunk within seconds, not after the
// 40 s visibility timeout. The title becomes ready once, with every frame.
func TestSIGTERMHandsTheChunkBackAtOnce(t *testing.T) {
	skipShort(t)
	t.Parallel()
	const workers = 3
	s := stack.Start(t, stack.Options{Workers: workers, Env: map[string]string{
		"PERTITLE_CHUNK_SECONDS": "8", "PERTITLE_LADDER_MODE": "fixed", "PERTITLE_X264_PRESET": "slow",
		"PERTITLE_DRAIN_SECONDS": "1", "PERTITLE_BUS_VISIBILITY_TIMEOUT": "40s",
	}})
	src := testmedia.Scenes(t, testmedia.ScenesSpec{Width: 640, Height: 360, Rate: "25", Scenes: []float64{9.3, 8.1}, Audio: true})
	code, body := s.Upload(src, "sigterm")
	require.Equal(t, http.StatusAccepted, code, body)
	id := body["id"].(string)

	termed, chunk := busyWorker(t, s, workers, "")
	stopped := time.Now()
	_, err := s.Stop(termed)
	require.NoError(t, err)
	var restarted time.Time
	require.Eventually(t, func() bool {
		for i := 1; i <= workers; i++ {
			if w := stack.Worker(i); w != termed {
				for _, l := range chunkLogs(t, s, w) {
					if l.Msg == "encoding chunk" && l.Chunk == chunk && l.TS.After(stopped) {
						restarted = l.TS
						return true
					}
				}
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond, "chunk %d handed back by %s is taken by another worker", chunk, termed)
	assert.Less(t, restarted.Sub(stopped), 10*time.Second, "handed back at once, not after the visibility timeout")

	a := s.WaitStatus(id, 4*time.Minute, "ready", "failed")
	require.Equal(t, "ready", a.Status, a.Error)
	assert.Equal(t, 1, a.ReadyTransitions, "ready exactly once")
	assert.Equal(t, frames(t, src), frames(t, a.HLSURL), "every frame of the title, once")
}

// TestChunkedEncodeSurvivesAKilledWorker: a title of five chunks on three
// workers; one is killed with SIGKILL in the middle of a chunk. Its chunk is
// encoded again elsewhere once its message and lease lapse; the title
// becomes ready once, with every frame, each chunk finished once and at most
// one more chunk encode started than the title has chunks.
func TestChunkedEncodeSurvivesAKilledWorker(t *testing.T) {
	skipShort(t)
	t.Parallel()
	const workers = 3
	s := stack.Start(t, stack.Options{Workers: workers, Env: map[string]string{
		"PERTITLE_CHUNK_SECONDS": "8", "PERTITLE_LADDER_MODE": "fixed", "PERTITLE_X264_PRESET": "slow",
	}})
	src := testmedia.Scenes(t, testmedia.ScenesSpec{Width: 640, Height: 360, Rate: "25", Scenes: []float64{9.3, 11.1, 10.2, 9.88}, Audio: true})
	code, body := s.Upload(src, "kill -9")
	require.Equal(t, http.StatusAccepted, code, body)
	id := body["id"].(string)

	killed, _ := busyWorker(t, s, workers, "")
	s.Kill9(killed)

	a := s.WaitStatus(id, 6*time.Minute, "ready", "failed")
	require.Equal(t, "ready", a.Status, a.Error)
	assert.Equal(t, 1, a.ReadyTransitions, "ready exactly once")
	assert.Equal(t, frames(t, src), frames(t, a.HLSURL), "every frame of the title, once")
	starts, finished, _ := chunkCounts(t, s, workers, "")
	assert.Equal(t, map[int]int{0: 1, 1: 1, 2: 1, 3: 1, 4: 1}, finished, "each chunk finished once")
	assert.LessOrEqual(t, starts, 5+1, "one more chunk encode started for the kill, at most")
}

// TestAChunkThatAlwaysFailsFailsTheTitle: a chunk whose piece is damaged can
// never be encoded; the title fails, naming the chunk, instead of waiting.
func TestAChunkThatAlwaysFailsFailsTheTitle(t *testing.T) {
	skipShort(t)
	t.Parallel()
	s := stack.Start(t, stack.Options{Workers: 2, Env: map[string]string{
		"PERTITLE_CHUNK_SECONDS": "8", "PERTITLE_LADDER_MODE": "fixed", "PERTITLE_X264_PRESET": "medium",
	}})
	src := testmedia.Scenes(t, testmedia.ScenesSpec{Width: 640, Height: 360, Rate: "25", Scenes: []float64{9.3, 11.1, 10.2, 9.88}})
	code, body := s.Upload(src, "a broken chunk")
	require.Equal(t, http.StatusAccepted, code, body)
	id := body["id"].(string)

	// The last piece is stored before any chunk is asked for, and two
	// workers reach chunk 4 last: damage it as soon as it exists.
	var piece string
	require.Eventually(t, func() bool {
		m, _ := filepath.Glob(filepath.Join(s.Dir, "storage", "jobs", "*", "chunked", "*", "pieces", "00004.mkv"))
		if len(m) == 1 {
			piece = m[0]
		}
		return piece != ""
	}, 2*time.Minute, 5*time.Millisecond)
	require.NoError(t, os.WriteFile(piece, []byte("not a piece of anything"), 0o644))

	a := s.WaitStatus(id, 4*time.Minute, "ready", "failed")
	require.Equal(t, "failed", a.Status)
	assert.Contains(t, a.Error, "chunk 4 of 5")
}
