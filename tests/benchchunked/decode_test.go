package benchchunked

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/media"
)

// TestBenchDecodeShare measures why a chunk task carries every rung: on one
// 30 s chunk of the benchmark title, the CPU of decoding it, of decoding and
// scaling it to every rung, and of the whole encode of its rungs. A task per
// (chunk, rung) would decode the chunk once per rung instead of once.
func TestBenchDecodeShare(t *testing.T) {
	enabled(t)
	title := buildTitle(t)
	src, err := media.Probe(context.Background(), "ffprobe", title)
	require.NoError(t, err)
	ladder := media.BuiltinLadder(src)
	in := []string{"-nostdin", "-hide_banner", "-v", "error", "-t", "30", "-i", title}

	decode := cpuOf(t, append(append([]string{}, in...), "-map", "0:v", "-f", "null", "-")...)
	var g strings.Builder
	fmt.Fprintf(&g, "[0:v]split=%d", len(ladder))
	for i := range ladder {
		fmt.Fprintf(&g, "[s%d]", i)
	}
	for i, r := range ladder {
		fmt.Fprintf(&g, ";[s%d]scale=%d:%d[o%d]", i, r.Width, r.Height, i)
	}
	scaled := append(append([]string{}, in...), "-filter_complex", g.String())
	encoded := append([]string{}, scaled...)
	for i, r := range ladder {
		scaled = append(scaled, "-map", fmt.Sprintf("[o%d]", i), "-f", "null", "-")
		encoded = append(encoded, "-map", fmt.Sprintf("[o%d]", i), "-c:v", "libx264", "-preset", "veryfast",
			"-b:v", strconv.FormatInt(r.Bitrate, 10), "-maxrate", strconv.FormatInt(r.MaxRate, 10),
			"-bufsize", strconv.FormatInt(r.BufSize, 10), "-f", "null", "-")
	}
	scale := cpuOf(t, scaled...)
	encode := cpuOf(t, encoded...)

	fmt.Printf("## Decode share of a chunk (%s, 30 s of the %d s 1080p25 title, %d-rung fixed ladder, veryfast)\n\n",
		time.Now().UTC().Format("2006-01-02T15:04Z"), titleSeconds(), len(ladder))
	fmt.Println("| work | CPU | share of the encode |")
	fmt.Println("|---|---:|---:|")
	for _, r := range []struct {
		name string
		cpu  time.Duration
	}{{"decode", decode}, {"decode + scale to every rung", scale}, {"decode + scale + encode every rung", encode}} {
		fmt.Printf("| %s | %.1f s | %.1f%% |\n", r.name, r.cpu.Seconds(), 100*r.cpu.Seconds()/encode.Seconds())
	}
	fmt.Printf("\n- a task per (chunk, rung) decodes the chunk %d times instead of once: **%+.1f%%** CPU on this chunk\n\n",
		len(ladder), 100*float64(len(ladder)-1)*decode.Seconds()/encode.Seconds())
}

// cpuOf runs ffmpeg with args and returns its user + system CPU time.
func cpuOf(t *testing.T, args ...string) time.Duration {
	t.Helper()
	cmd := exec.Command("ffmpeg", args...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "ffmpeg %v: %s", args, out)
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}
