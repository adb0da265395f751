// Package benchchunked measures chunked encoding through the whole stack
// (`make bench-chunked`, PERTITLE_BENCH=1): a 10-minute 1080p title made at
// run time from ../shared/media, upload to ready with one worker and with
// two (each pinned to its own core), the CPU chunking costs against an
// unchunked encode of the same ladder, a worker killed mid-chunk, and a model
// of N workers on a two-hour film built from the measured times.
package benchchunked

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testenv"
	"github.com/pertitle/pertitle/tests/stack"
)

func enabled(t *testing.T) {
	if os.Getenv("PERTITLE_BENCH") != "1" {
		t.Skip("benchmark: run with PERTITLE_BENCH=1 (make bench-chunked)")
	}
}

// titleSeconds is the length of the benchmark title (PERTITLE_BENCH_SECONDS).
func titleSeconds() int {
	if n, err := strconv.Atoi(os.Getenv("PERTITLE_BENCH_SECONDS")); err == nil && n >= 60 {
		return n
	}
	return 600
}

// buildTitle makes (once, cached under var/) a 1080p25 title of scene changes
// from the shared clips: the first 10 s of each, scaled and cropped to 16:9,
// concatenated and looped to length, with a tone, keyframes every second.
func buildTitle(t *testing.T) string {
	t.Helper()
	root := testenv.RepoRoot(t)
	secs := titleSeconds()
	out := filepath.Join(root, "var", "bench-chunked", fmt.Sprintf("title-1080p-%ds.mp4", secs))
	if _, err := os.Stat(out); err == nil {
		return out
	}
	clips, _ := filepath.Glob(filepath.Join(root, "..", "shared", "media", "*.mp4"))
	require.NotEmpty(t, clips, "../shared/media holds the clips the title is made of")
	sort.Strings(clips)
	require.NoError(t, os.MkdirAll(filepath.Dir(out), 0o755))
	var args []string
	var g strings.Builder
	for i, c := range clips {
		args = append(args, "-t", "10", "-i", c)
		fmt.Fprintf(&g, "[%d:v:0]scale=1920:1080:force_original_aspect_ratio=increase,crop=1920:1080,fps=25,setsar=1,format=yuv420p[v%d];", i, i)
	}
	for i := range clips {
		fmt.Fprintf(&g, "[v%d]", i)
	}
	fmt.Fprintf(&g, "concat=n=%d:v=1:a=0[v]", len(clips))
	scenes := filepath.Join(filepath.Dir(out), "scenes-1080p.mkv")
	run(t, append(append([]string{"-y"}, args...), "-filter_complex", g.String(), "-map", "[v]",
		"-c:v", "libx264", "-preset", "veryfast", "-crf", "16", scenes)...)
	run(t, "-y", "-stream_loop", "-1", "-i", scenes, "-f", "lavfi", "-i", "sine=frequency=220:sample_rate=48000",
		"-t", strconv.Itoa(secs), "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast", "-crf", "16",
		"-g", "25", "-c:a", "aac", "-movflags", "+faststart", out)
	return out
}

func run(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("ffmpeg", append([]string{"-nostdin", "-hide_banner", "-v", "error"}, args...)...).CombinedOutput()
	require.NoError(t, err, "ffmpeg %v: %s", args, out)
}

// result is one configuration's run.
type result struct {
	name  string
	wall  time.Duration
	cpu   time.Duration // every encoder-dispatch process and its ffmpeg children
	chunk []time.Duration
}

// encode uploads the title to a fresh stack and waits until it is ready.
func encode(t *testing.T, title, name string, workers int, chunkSeconds string, kill bool) result {
	t.Helper()
	pin := map[string]string{}
	names := []string{"encoder-dispatch"}
	if workers > 1 {
		names = nil
		for i := 1; i <= workers; i++ {
			names = append(names, stack.Worker(i))
			pin[stack.Worker(i)] = strconv.Itoa((i - 1) % 2)
		}
	} else {
		pin["encoder-dispatch"] = "0"
	}
	s := stack.Start(t, stack.Options{Workers: workers, Pin: pin, Env: map[string]string{
		"PERTITLE_LADDER_MODE": "fixed", "PERTITLE_X264_PRESET": "veryfast", "PERTITLE_CHUNK_SECONDS": chunkSeconds,
		"PERTITLE_BUS_VISIBILITY_TIMEOUT": "30s", "PERTITLE_LOG_LEVEL": "info",
	}})
	defer s.StopAll()
	before := map[string]time.Duration{}
	for _, n := range names {
		before[n] = s.CPU(n)
	}
	start := time.Now()
	code, body := s.Upload(title, name)
	require.Equal(t, http.StatusAccepted, code, body)
	id := body["id"].(string)
	if kill {
		killMidChunk(t, s, names)
	}
	a := s.WaitStatus(id, 3*time.Hour, "ready", "failed")
	require.Equal(t, "ready", a.Status, a.Error)
	r := result{name: name, wall: time.Since(start)}
	for _, n := range names {
		if s.PID(n) != 0 {
			r.cpu += s.CPU(n) - before[n]
		}
		r.chunk = append(r.chunk, chunkTimes(t, s, n)...)
	}
	return r
}

// killMidChunk waits until the second worker is encoding a chunk and kills it.
func killMidChunk(t *testing.T, s *stack.Stack, names []string) {
	victim := names[len(names)-1]
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(filepath.Join(s.Dir, victim+".log"))
		started, done := strings.Count(string(b), `"encoding chunk"`), strings.Count(string(b), `"chunk encoded"`)
		return done >= 1 && started > done // in the middle of its second chunk or later
	}, time.Hour, 100*time.Millisecond)
	time.Sleep(3 * time.Second)
	s.Kill9(victim)
}

// chunkTimes reads the encode times of the chunks a worker finished.
func chunkTimes(t *testing.T, s *stack.Stack, name string) []time.Duration {
	f, err := os.Open(filepath.Join(s.Dir, name+".log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []time.Duration
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Msg  string  `json:"msg"`
			Took float64 `json:"took"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "chunk encoded" {
			out = append(out, time.Duration(l.Took*float64(time.Second)))
		}
	}
	return out
}

func median(xs []time.Duration) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func TestBenchChunked(t *testing.T) {
	enabled(t)
	title := buildTitle(t)
	secs := titleSeconds()
	fmt.Printf("## Chunked encoding (%s, %d s 1080p25 title, fixed ladder, veryfast, 30 s chunks; workers pinned one per core)\n\n",
		time.Now().UTC().Format("2006-01-02T15:04Z"), secs)
	whole := encode(t, title, "unchunked, 1 worker", 1, "0", false)
	one := encode(t, title, "chunked, 1 worker", 1, "30", false)
	two := encode(t, title, "chunked, 2 workers", 2, "30", false)
	killed := encode(t, title, "chunked, 2 workers, one killed mid-chunk", 2, "30", true)

	fmt.Println("| run | upload → ready | CPU (workers + ffmpeg) | chunks done, median encode |")
	fmt.Println("|---|---:|---:|---:|")
	for _, r := range []result{whole, one, two, killed} {
		fmt.Printf("| %s | %.1f s | %.1f s | %d, %.1f s |\n", r.name, r.wall.Seconds(), r.cpu.Seconds(), len(r.chunk), median(r.chunk).Seconds())
	}
	fmt.Printf("\n- scale-out, 2 workers against 1 (chunked): **%.2f×** (target ≥ 1.8×)\n", one.wall.Seconds()/two.wall.Seconds())
	fmt.Printf("- chunking's CPU against the unchunked encode of the same ladder: **%+.1f%%** (target ≤ +5%%)\n",
		100*(one.cpu.Seconds()/whole.cpu.Seconds()-1))
	fmt.Printf("- the killed worker cost **%.1f s** of wall time; one chunk's encode (median) is %.1f s, the visibility timeout 30 s (target ≤ %.1f s)\n\n",
		killed.wall.Seconds()-two.wall.Seconds(), median(two.chunk).Seconds(), median(two.chunk).Seconds()+30)
	model(one, secs)
}

// model predicts a two-hour 1080p film on N workers from the measured run:
// each chunk costs its share of the one-worker encode plus a fixed overhead
// (queue, piece download, start-up), and the coordinator's serial work
// (cutting pieces, the audio, packaging) grows with the film.
func model(one result, secs int) {
	perChunk := median(one.chunk).Seconds()
	serial := one.wall.Seconds() - sum(one.chunk).Seconds() // coordinator's own work and waits
	const film = 7200.0
	scale := film / float64(secs)
	fmt.Println("### A two-hour 1080p film on N workers (model from the one-worker run)")
	fmt.Println()
	fmt.Printf("Measured: %.1f s per 30 s chunk (median), %.1f s of the run outside chunk encodes (pieces, audio, packaging, queue).\n\n",
		perChunk, serial)
	fmt.Println("| chunk length | N=10 | N=50 | N=200 |")
	fmt.Println("|---:|---:|---:|---:|")
	const overhead = 2.0 // s per chunk: queue latency, piece download, ffmpeg start (measured on goaws: ~1–2 s)
	for _, L := range []float64{10, 30, 60, 120, 300} {
		chunks := math.Ceil(film / L)
		t := perChunk / 30 * L
		row := fmt.Sprintf("| %.0f s |", L)
		for _, n := range []float64{10, 50, 200} {
			wall := serial*scale + math.Ceil(chunks/n)*(t+overhead)
			row += fmt.Sprintf(" %.0f min |", wall/60)
		}
		fmt.Println(row)
	}
	fmt.Println()
}

func sum(xs []time.Duration) time.Duration {
	var s time.Duration
	for _, x := range xs {
		s += x
	}
	return s
}
