package media_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// tools returns the ffmpeg and ffprobe paths, failing the test when they are
// not installed: scripts/deps.sh (make test) installs them.
func tools(t *testing.T) (ffmpeg, ffprobe string) {
	t.Helper()
	var err error
	if ffmpeg, err = exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg not installed: run scripts/deps.sh (apt-get install -y ffmpeg)")
	}
	if ffprobe, err = exec.LookPath("ffprobe"); err != nil {
		t.Fatal("ffprobe not installed: run scripts/deps.sh (apt-get install -y ffmpeg)")
	}
	return ffmpeg, ffprobe
}

// run executes a tool and fails the test with its stderr on error.
func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "%s %v: %s", name, args, stderr.String())
	return stdout.Bytes()
}

// makeClip renders a lavfi test clip into dir/name.
func makeClip(t *testing.T, dir, name string, opt clipOpts) string {
	t.Helper()
	if opt.size == "" {
		opt.size = "640x360"
	}
	if opt.rate == "" {
		opt.rate = "30"
	}
	if opt.seconds == "" {
		opt.seconds = "3"
	}
	if opt.preset == "" {
		opt.preset = "ultrafast"
	}
	out := filepath.Join(dir, name)
	args := []string{"-nostdin", "-hide_banner", "-v", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=" + opt.size + ":rate=" + opt.rate}
	if opt.audio {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440")
	}
	args = append(args, "-t", opt.seconds, "-c:v", "libx264", "-preset", opt.preset, "-pix_fmt", "yuv420p")
	args = append(args, opt.extra...)
	if opt.audio {
		args = append(args, "-c:a", "aac")
	}
	if !opt.rotate {
		run(t, "ffmpeg", append(args, out)...)
		return out
	}
	// The rotate tag is only honoured when remuxing.
	tmp := filepath.Join(dir, "unrotated-"+name)
	run(t, "ffmpeg", append(args, tmp)...)
	run(t, "ffmpeg", "-nostdin", "-v", "error", "-y", "-i", tmp, "-c", "copy", "-metadata:s:v:0", "rotate=90", out)
	return out
}

type clipOpts struct {
	size, rate, seconds, preset string
	audio                       bool
	rotate                      bool     // tag the video as rotated by 90 degrees
	extra                       []string // output options
}

// truncate writes the first frac of src's bytes to dst.
func truncate(t *testing.T, src, dst string, frac float64) string {
	t.Helper()
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst, data[:int(float64(len(data))*frac)], 0o644))
	return dst
}
