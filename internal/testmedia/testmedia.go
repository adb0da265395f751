// Package testmedia makes short clips with ffmpeg's lavfi sources for tests, so
// that no test depends on media files that users do not have.
package testmedia

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Spec describes a generated clip.
type Spec struct {
	Width, Height int
	Seconds       float64
	FPS           int
	Audio         bool
	// Source is a lavfi video source name: testsrc2 (default), mandelbrot, life.
	Source string
	// Name of the output file (extension picks the container); default clip.mp4.
	Name string
}

// RequireFFmpeg fails the test when ffmpeg/ffprobe are missing, with the fix
// (scripts/deps.sh installs them).
func RequireFFmpeg(t testing.TB) {
	t.Helper()
	for _, b := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s not found: install it (apt-get install -y ffmpeg)", b)
		}
	}
}

// Clip writes a clip into a fresh temp dir and returns its path.
func Clip(t testing.TB, s Spec) string {
	t.Helper()
	RequireFFmpeg(t)
	if s.Width == 0 {
		s.Width, s.Height = 640, 360
	}
	if s.Seconds == 0 {
		s.Seconds = 2
	}
	if s.FPS == 0 {
		s.FPS = 25
	}
	if s.Source == "" {
		s.Source = "testsrc2"
	}
	if s.Name == "" {
		s.Name = "clip.mp4"
	}
	out := filepath.Join(t.TempDir(), s.Name)
	dur := strconv.FormatFloat(s.Seconds, 'f', 3, 64)
	args := []string{"-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("%s=size=%dx%d:rate=%d", s.Source, s.Width, s.Height, s.FPS)}
	if s.Audio {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000")
	}
	args = append(args, "-t", dur, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
	if s.Audio {
		args = append(args, "-c:a", "aac", "-shortest")
	}
	args = append(args, out)
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("cannot make test clip: %v\n%s", err, b)
	}
	return out
}

// Truncate writes the first frac of src's bytes to a new file and returns its path.
func Truncate(t testing.TB, src string, frac float64) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "truncated"+filepath.Ext(src))
	if err := os.WriteFile(out, b[:int(float64(len(b))*frac)], 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// ScenesSpec describes a title made of scenes of different content, cut hard
// one after another, with a tone under it.
type ScenesSpec struct {
	Width, Height int
	// Rate is the frame rate as ffmpeg takes it ("25", "30000/1001").
	Rate string
	// Scenes are the lengths of the scenes in seconds; their sources cycle
	// through testsrc2, mandelbrot, life and a moving gradient.
	Scenes []float64
	Audio  bool
	Name   string // default scenes.mp4
}

// Scenes writes a multi-scene title into a fresh temp dir: a keyframe every
// second, as mezzanine files have, and exactly the frames the lengths give.
func Scenes(t testing.TB, s ScenesSpec) string {
	t.Helper()
	RequireFFmpeg(t)
	if s.Name == "" {
		s.Name = "scenes.mp4"
	}
	size := fmt.Sprintf("%dx%d", s.Width, s.Height)
	sources := []string{
		"testsrc2=size=" + size + ":rate=" + s.Rate,
		"mandelbrot=size=" + size + ":rate=" + s.Rate,
		"life=size=" + size + ":rate=" + s.Rate + ":mold=10:ratio=0.3:death_color=#3060a0:life_color=#f0e040",
		"gradients=size=" + size + ":rate=" + s.Rate + ":speed=0.05",
	}
	var args []string
	var graph strings.Builder
	total := 0.0
	for i, secs := range s.Scenes {
		args = append(args, "-f", "lavfi", "-t", strconv.FormatFloat(secs, 'f', 3, 64), "-i", sources[i%len(sources)])
		fmt.Fprintf(&graph, "[%d:v]format=yuv420p,setsar=1[v%d];", i, i)
		total += secs
	}
	for i := range s.Scenes {
		fmt.Fprintf(&graph, "[v%d]", i)
	}
	fmt.Fprintf(&graph, "concat=n=%d:v=1:a=0[v]", len(s.Scenes))
	out := filepath.Join(t.TempDir(), s.Name)
	args = append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)
	if s.Audio {
		args = append(args, "-f", "lavfi", "-t", strconv.FormatFloat(total, 'f', 3, 64), "-i", "sine=frequency=330:sample_rate=48000")
	}
	args = append(args, "-filter_complex", graph.String(), "-map", "[v]")
	if s.Audio {
		args = append(args, "-map", fmt.Sprintf("%d:a", len(s.Scenes)), "-c:a", "aac")
	}
	args = append(args, "-r", s.Rate, "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-g", "25", out)
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("cannot make test title: %v\n%s", err, b)
	}
	return out
}
