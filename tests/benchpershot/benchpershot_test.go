// Package benchpershot measures per-shot encoding on real footage
// (`make bench-pershot`, issue 16): titles built at run time from
// ../shared/media clips (a multi-scene title of 65 s, one of long and short
// shots, one single scene), every shot encoded on an exhaustive resolution ×
// CRF grid and scored by VMAF, the exhaustive per-shot optimum (the
// constant-slope combination of the shots' points) against the exhaustive
// per-title hull of the same title, and the product's modes (per-title,
// per-shot, two-pass static) scored on the whole title. It runs only with
// PERTITLE_BENCH_PERSHOT=1 and needs the clips and the VMAF scorer
// (scripts/vmaf-ffmpeg.sh).
package benchpershot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/pertitle"
)

// Every title is brought to one picture size and frame rate.
const (
	titleWidth, titleHeight = 960, 540
	titleFPS                = 25
	segmentSeconds          = 2.0
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return root
}

func ffmpegBin() string {
	if b := os.Getenv("PERTITLE_FFMPEG"); b != "" {
		return b
	}
	return "ffmpeg"
}

func ffprobeBin() string {
	if b := os.Getenv("PERTITLE_FFPROBE"); b != "" {
		return b
	}
	return "ffprobe"
}

// scorerBin is the VMAF-capable ffmpeg (scoring only; encodes use ffmpegBin).
func scorerBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("PERTITLE_VMAF_FFMPEG")
	if bin == "" {
		bin = filepath.Join(repoRoot(t), "bin", pertitle.ScorerDir, "ffmpeg")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no VMAF-capable ffmpeg at %s: run scripts/vmaf-ffmpeg.sh (or set PERTITLE_VMAF_FFMPEG)", bin)
	}
	return bin
}

func run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		s := string(out)
		if len(s) > 2000 {
			s = s[len(s)-2000:]
		}
		return string(out), fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, s)
	}
	return string(out), nil
}

// cache keeps what does not change when the engine does (titles, the
// exhaustive grid of every shot, the static ladder) under
// PERTITLE_BENCH_CACHE (default var/bench-cache).
type cache struct{ dir string }

func newCache(t *testing.T) cache {
	c := cache{dir: os.Getenv("PERTITLE_BENCH_CACHE")}
	if c.dir == "" {
		c.dir = filepath.Join(repoRoot(t), "var", "bench-cache")
	}
	require.NoError(t, os.MkdirAll(c.dir, 0o755))
	return c
}

func (c cache) load(key string, v any) bool {
	b, err := os.ReadFile(filepath.Join(c.dir, key+".json"))
	return err == nil && json.Unmarshal(b, v) == nil
}

func (c cache) store(key string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(c.dir, key+".json.part")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(c.dir, key+".json"))
}

// fileKey names a file by its content.
func fileKey(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func textKey(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])[:16]
}

// scoring is how every score of a run is taken: PERTITLE_BENCH_VMAF_EVERY
// (default 2: pairs of consecutive frames, two in five; 1 = every frame) and
// PERTITLE_BENCH_VMAF_PIXELS (default 0: the whole picture), as in
// tests/benchladder.
func scoring() (every, pixels int) {
	every, pixels = 2, 0
	if v, err := strconv.Atoi(os.Getenv("PERTITLE_BENCH_VMAF_EVERY")); err == nil && v > 0 {
		every = v
	}
	if v, err := strconv.Atoi(os.Getenv("PERTITLE_BENCH_VMAF_PIXELS")); err == nil && v > 0 {
		pixels = v
	}
	return every, pixels
}

func scoringName() string {
	every, pixels := scoring()
	s := "every frame"
	if every > 1 {
		s = fmt.Sprintf("pairs of frames, 2 in %d", 2*every+1)
	}
	if pixels > 0 {
		return s + fmt.Sprintf(", a centred window of ≤ %d pixels", pixels)
	}
	return s + ", the whole picture"
}

// scoreAll scores distorted files (raw or packaged H.264) against reference
// with VMAF v0.6.1, upscaled to the reference, frames paired by index.
func scoreAll(ctx context.Context, bin, reference string, distorted []string) ([]float64, error) {
	every, pixels := scoring()
	sc, _, err := pertitle.MeasureQualityAll(ctx, reference, distorted, pertitle.QualityOptions{
		FFmpeg: bin, FFprobe: ffprobeBin(), Every: every, VMAFPixels: pixels, Unprobed: true})
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(sc))
	for i, s := range sc {
		if s.Metric != pertitle.MetricVMAF {
			return nil, fmt.Errorf("the scorer %s gave %s, not VMAF", bin, s.Metric)
		}
		out[i] = s.Value
	}
	return out, nil
}

// rawReference decodes frames [first, first+frames) of src into YUV4MPEG
// (without the colour-range header, which the scorer's ffmpeg 4.1 refuses):
// the reference every score of a shot or title reads, decoded once.
// frames 0 takes everything from first.
func rawReference(ctx context.Context, src, out string, first, frames int64) error {
	args := []string{"-nostdin", "-v", "error", "-y"}
	if first > 0 {
		args = append(args, "-ss", seconds(first))
	}
	args = append(args, "-i", src, "-map", "0:v:0")
	if frames > 0 {
		args = append(args, "-frames:v", strconv.FormatInt(frames, 10))
	}
	_, err := run(ctx, ffmpegBin(), append(args, "-color_range", "unspecified", out)...)
	return err
}

// seconds is the start of frame n of a title, for -ss.
func seconds(n int64) string {
	return strconv.FormatFloat(float64(n)/titleFPS, 'f', 6, 64)
}

// childCPU is the user+system CPU of every finished child process (the
// ffmpeg processes the benchmark ran and waited for).
func childCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
