package benchpershot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// piece is a stretch of one clip of ../shared/media.
type piece struct {
	clip    string // a substring of the clip's file name ("03_")
	from    float64
	seconds float64
}

// title is one title of the benchmark and how it is made.
type title struct {
	name, kind string
	pieces     []piece
}

// titles are the benchmark's titles (PERTITLE_BENCH_TITLES=name[,name]
// keeps some): every clip's first 10 s one after another (65 s: 02, 04
// and 07 last 5 s); 20 s of a static shot then short pieces of five others;
// and one clip alone.
func titles() []title {
	var multi []piece
	for _, c := range []string{"01_", "02_", "03_", "04_", "05_", "06_", "07_", "08_"} {
		multi = append(multi, piece{clip: c, seconds: 10})
	}
	all := []title{
		{name: "multiscene", kind: "multi-scene", pieces: multi},
		{name: "longshort", kind: "long and short shots", pieces: []piece{
			{"01_", 0, 20}, {"08_", 2, 3}, {"06_", 2, 2}, {"04_", 1, 3}, {"07_", 1, 2}, {"05_", 2, 3}}},
		{name: "single", kind: "single scene", pieces: []piece{{"03_", 0, 10}}},
	}
	only := os.Getenv("PERTITLE_BENCH_TITLES")
	if only == "" {
		return all
	}
	var keep []title
	for _, t := range all {
		for _, o := range strings.Split(only, ",") {
			if o == t.name {
				keep = append(keep, t)
			}
		}
	}
	return keep
}

// sharedMedia is PERTITLE_BENCH_MEDIA, default ../shared/media beside the
// repository.
func sharedMedia(t *testing.T) string {
	if d := os.Getenv("PERTITLE_BENCH_MEDIA"); d != "" {
		return d
	}
	return filepath.Join(repoRoot(t), "..", "shared", "media")
}

// clipPath finds the one clip whose name contains sub.
func clipPath(dir, sub string) (string, error) {
	all, _ := filepath.Glob(filepath.Join(dir, "*.mp4"))
	sort.Strings(all)
	for _, c := range all {
		if strings.Contains(filepath.Base(c), sub) {
			return c, nil
		}
	}
	return "", fmt.Errorf("no clip %q in %s", sub, dir)
}

// titleArgs is the ffmpeg command that makes the title: each piece brought
// to titleWidth×titleHeight (stretched where the aspect differs slightly),
// square pixels, titleFPS, limited range, concatenated into one lossless
// H.264 file with a keyframe every second (cheap, exact seeks to any
// segment start).
func titleArgs(dir string, tl title, out string) ([]string, error) {
	args := []string{"-nostdin", "-hide_banner", "-v", "error", "-y"}
	var fg strings.Builder
	for i, p := range tl.pieces {
		c, err := clipPath(dir, p.clip)
		if err != nil {
			return nil, err
		}
		args = append(args, "-ss", strconv.FormatFloat(p.from, 'f', -1, 64), "-t", strconv.FormatFloat(p.seconds, 'f', -1, 64), "-i", c)
		fmt.Fprintf(&fg, "[%d:v:0]scale=%d:%d:flags=bicubic:out_range=tv,setsar=1,fps=%d,format=yuv420p,settb=1/%d,setpts=N[v%d];",
			i, titleWidth, titleHeight, titleFPS, titleFPS, i)
	}
	for i := range tl.pieces {
		fmt.Fprintf(&fg, "[v%d]", i)
	}
	fmt.Fprintf(&fg, "concat=n=%d:v=1:a=0[out]", len(tl.pieces))
	return append(args, "-filter_complex", fg.String(), "-map", "[out]", "-color_range", "tv",
		"-c:v", "libx264", "-preset", "veryfast", "-qp", "0", "-force_key_frames", "expr:gte(t,n_forced*1)", out), nil
}

// buildTitle makes the title in the cache (once: keyed by the command and
// the clips' sizes) and returns its path. Never stored in the repository.
func buildTitle(ctx context.Context, t *testing.T, c cache, tl title) string {
	t.Helper()
	dir := sharedMedia(t)
	args, err := titleArgs(dir, tl, "OUT")
	require.NoError(t, err)
	recipe := strings.Join(args, " ")
	for _, p := range tl.pieces {
		path, _ := clipPath(dir, p.clip)
		if fi, err := os.Stat(path); err == nil {
			recipe += fmt.Sprintf(" %s=%d", filepath.Base(path), fi.Size())
		}
	}
	out := filepath.Join(c.dir, "titles", tl.name+"-"+textKey(recipe)+".mp4")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	require.NoError(t, os.MkdirAll(filepath.Dir(out), 0o755))
	tmp := out + ".part.mp4"
	args, err = titleArgs(dir, tl, tmp)
	require.NoError(t, err)
	_, err = run(ctx, ffmpegBin(), args...)
	require.NoError(t, err, tl.name)
	require.NoError(t, os.Rename(tmp, out))
	return out
}
