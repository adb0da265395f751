package benchpershot

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pershot"
	"github.com/pertitle/pertitle/pkg/pertitle"
)

// The exhaustive grid: the sizes a ladder of a 960x540 title uses (the
// engine's heights under the source and the static ladder's 432) × CRF
// 18..39 in steps of 3. gridVersion names it in cache keys.
var (
	gridHeights = []int{540, 432, 360, 234}
	gridCRFs    = []float64{18, 21, 24, 27, 30, 33, 36, 39}
)

const gridVersion = "g1"

// point is one measured encode: size, CRF (0 for average-bitrate rungs),
// bitstream bitrate (Annex B), peak (BANDWIDTH, packaged renditions only),
// VMAF.
type point struct {
	W, H    int
	CRF     float64
	Bitrate int64
	Peak    int64 `json:",omitempty"`
	VMAF    float64
}

func toPoints(ps []point) []pertitle.Point {
	out := make([]pertitle.Point, 0, len(ps))
	for _, p := range ps {
		out = append(out, pertitle.Point{Width: p.W, Height: p.H, CRF: p.CRF, Bitrate: p.Bitrate, Quality: p.VMAF, Metric: pertitle.MetricVMAF})
	}
	return out
}

// gridSizes are the grid's sizes for the title's aspect (even widths).
func gridSizes() [][2]int {
	out := make([][2]int, 0, len(gridHeights))
	for _, h := range gridHeights {
		out = append(out, [2]int{int(float64(h)*titleWidth/titleHeight+1) &^ 1, h})
	}
	return out
}

// shotGrid is one shot and every grid point of it.
type shotGrid struct {
	First, Frames int64
	Seconds       float64
	Points        []point
	CPU           time.Duration // encodes and scores of this shot
}

// shotsOf finds the title's scene cuts with the engine's profile pass
// (pertitle.ProfileTitle) and makes them shots (pershot.Shots).
func shotsOf(ctx context.Context, t *testing.T, src string, s *media.Source, dir string, rules pershot.Rules) ([]media.Chunk, []float64) {
	t.Helper()
	prof, err := pertitle.ProfileTitle(ctx, ffmpegBin(), src, dir, s.Video.FrameRate, segmentSeconds)
	require.NoError(t, err)
	tm, err := media.TimingOf(s, segmentSeconds)
	require.NoError(t, err)
	frames := s.Video.Frames
	if frames <= 0 {
		frames = int64(math.Round(s.Duration * s.Video.FrameRate))
	}
	shots := pershot.Shots(tm, frames, prof.Cuts, rules)
	require.NotEmpty(t, shots, "no shots in %s", src)
	return shots, prof.Cuts
}

// exhaustiveShots measures every shot on the whole grid (cached per shot,
// so an interrupted run keeps what it finished).
func exhaustiveShots(ctx context.Context, t *testing.T, c cache, scorer, src, srcKey string, shots []media.Chunk, preset, dir string) []shotGrid {
	t.Helper()
	every, pixels := scoring()
	out := make([]shotGrid, 0, len(shots))
	for _, ch := range shots {
		key := fmt.Sprintf("pershot-%s-%s-%d-%d-%s-e%d-p%d", gridVersion, srcKey, ch.First, ch.Frames, preset, every, pixels)
		var g shotGrid
		if !c.load(key, &g) {
			start := time.Now()
			var err error
			g, err = encodeShot(ctx, scorer, src, ch, preset, dir)
			require.NoError(t, err, "shot at frame %d", ch.First)
			require.NoError(t, c.store(key, g))
			t.Logf("shot %d (frames %d+%d) on the grid: %s wall, %s CPU", ch.Index, ch.First, ch.Frames, time.Since(start).Round(time.Second), g.CPU.Round(time.Second))
		}
		out = append(out, g)
	}
	return out
}

// encodeShot encodes one shot at every grid size and CRF (plain CRF, no
// VBV, the final encode's preset and GOP; keyframes every segment from the
// shot's start, which is a segment start of the title) and scores each
// encode against the shot's own frames.
func encodeShot(ctx context.Context, scorer, src string, ch media.Chunk, preset, dir string) (shotGrid, error) {
	g := shotGrid{First: ch.First, Frames: ch.Frames, Seconds: float64(ch.Frames) / titleFPS}
	ref := filepath.Join(dir, "shot-ref.y4m")
	defer os.Remove(ref)
	cpu0 := childCPU()
	if err := rawReference(ctx, src, ref, ch.First, ch.Frames); err != nil {
		return g, err
	}
	var files []string
	var cells []point
	for si, sz := range gridSizes() {
		args := []string{"-nostdin", "-hide_banner", "-v", "error", "-y", "-ss", seconds(ch.First), "-i", src,
			"-frames:v", strconv.FormatInt(ch.Frames, 10), "-filter_complex",
			fmt.Sprintf("[0:v:0]scale=%d:%d:flags=bicubic,setsar=1,format=yuv420p,split=%d%s", sz[0], sz[1], len(gridCRFs), outLabels(len(gridCRFs)))}
		for ci, crf := range gridCRFs {
			n := filepath.Join(dir, fmt.Sprintf("shot-%d-%d.h264", si, ci))
			files = append(files, n)
			cells = append(cells, point{W: sz[0], H: sz[1], CRF: crf})
			args = append(args, "-map", fmt.Sprintf("[o%d]", ci), "-frames:v", strconv.FormatInt(ch.Frames, 10),
				"-c:v", "libx264", "-preset", preset, "-crf", strconv.FormatFloat(crf, 'f', -1, 64), "-profile:v", "high")
			args = append(args, media.X264GOPArgs(titleFPS, segmentSeconds)...)
			args = append(args, "-f", "h264", n)
		}
		if _, err := run(ctx, ffmpegBin(), args...); err != nil {
			return g, err
		}
	}
	defer func() {
		for _, f := range files {
			_ = os.Remove(f)
		}
	}()
	scores, err := scoreAll(ctx, scorer, ref, files)
	if err != nil {
		return g, err
	}
	for i, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return g, err
		}
		cells[i].Bitrate = int64(float64(fi.Size()) * 8 / g.Seconds)
		cells[i].VMAF = scores[i]
	}
	g.Points, g.CPU = cells, childCPU()-cpu0
	return g, nil
}

func outLabels(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "[o%d]", i)
	}
	return b.String()
}

// asShots are the grids as pershot's input (no peaks: plain CRF, no VBV).
func asShots(gs []shotGrid) []pershot.Shot {
	out := make([]pershot.Shot, len(gs))
	for i, g := range gs {
		out[i].Seconds = g.Seconds
		for _, p := range toPoints(g.Points) {
			out[i].Candidates = append(out[i].Candidates, pershot.Candidate{Point: p})
		}
	}
	return out
}

// optimum is the exhaustive per-shot optimum: pershot.Allocate over a sweep
// of title bitrates spanning the per-title curve (switchCost 0: each shot
// free to take any size; +Inf: one size per rung, as the mode encodes), one
// title point per target.
func optimum(shots []pershot.Shot, title []pertitle.Point, switchCost float64) ([]pershot.Allocation, error) {
	lo, hi := math.Inf(1), 0.0
	for _, p := range title {
		lo, hi = math.Min(lo, float64(p.Bitrate)), math.Max(hi, float64(p.Bitrate))
	}
	hi *= 1.001 // the curve's bitrates are rounded: its dearest point must fit

	const steps = 40
	var out []pershot.Allocation
	for i := range steps {
		target := lo * math.Pow(hi/lo, float64(i)/(steps-1))
		a, err := pershot.Allocate(shots, pershot.Target{Bitrate: int64(target), SwitchCost: switchCost})
		if err != nil {
			return nil, err
		}
		if a.Fits {
			out = append(out, a)
		}
	}
	return out, nil
}
