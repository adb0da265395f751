package benchpershot

import (
	"context"
	"math"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pershot"
	"github.com/pertitle/pertitle/pkg/pertitle"
)

// benchPreset is the x264 preset of every final encode and of the grid
// (PERTITLE_BENCH_PRESET, default veryfast: the product's default).
func benchPreset() string {
	if p := os.Getenv("PERTITLE_BENCH_PRESET"); p != "" {
		return p
	}
	return "veryfast"
}

// shotRules are the shot rules of the exhaustive grid: the engine's.
var shotRules = pershot.Rules{}

// titleResult is what the benchmark measured on one title.
type titleResult struct {
	title    title
	seconds  float64
	cuts     []float64
	shots    []shotGrid
	gridCPU  time.Duration
	curve    []pertitle.Point // every shot at one setting (per-title, exhaustive)
	hull     []pertitle.Point // its upper hull
	opt      []pertitle.Point // the per-shot optimum, free size per shot
	optFixed []pertitle.Point // the per-shot optimum, one size per rung
	optBD    bdr              // opt against hull
	fixedBD  bdr              // optFixed against hull
	modes    *modeResult
}

// bdr is a BD-rate in percent, or why there is none.
type bdr struct {
	V   float64
	Err error
}

func bd(ref, test []pertitle.Point) bdr {
	v, err := pertitle.BDRate(ref, test)
	return bdr{v, err}
}

func TestBenchPerShot(t *testing.T) {
	if os.Getenv("PERTITLE_BENCH_PERSHOT") != "1" {
		t.Skip("per-shot benchmark: run with PERTITLE_BENCH_PERSHOT=1 (make bench-pershot)")
	}
	scorer := scorerBin(t)
	ctx := context.Background()
	c := newCache(t)
	preset := benchPreset()
	var results []titleResult
	for _, tl := range titles() {
		dir := t.TempDir()
		src := buildTitle(ctx, t, c, tl)
		s, err := media.Probe(ctx, ffprobeBin(), src)
		require.NoError(t, err)
		key, err := fileKey(src)
		require.NoError(t, err)
		chunks, cuts := shotsOf(ctx, t, src, s, dir, shotRules)
		grids := exhaustiveShots(ctx, t, c, scorer, src, key, chunks, preset, dir)
		r := exhaustiveResult(t, tl, cuts, grids)
		r.seconds = s.Duration
		if modesOn() {
			r.modes = runModes(ctx, t, c, scorer, src, key, s, preset, dir)
		}
		printTitle(r)
		results = append(results, r)
	}
	printTables(results, preset)
}

// exhaustiveResult derives the per-title hull and the per-shot optimum
// from the shots' grids.
func exhaustiveResult(t *testing.T, tl title, cuts []float64, grids []shotGrid) titleResult {
	t.Helper()
	r := titleResult{title: tl, cuts: cuts, shots: grids}
	for _, g := range grids {
		r.gridCPU += g.CPU
	}
	shots := asShots(grids)
	r.curve = pershot.TitleCurve(shots)
	r.hull = pertitle.UpperHull(r.curve)
	free, err := optimum(shots, r.curve, 0)
	require.NoError(t, err)
	fixed, err := optimum(shots, r.curve, math.Inf(1))
	require.NoError(t, err)
	r.opt = pertitle.UpperHull(pershot.Curve(free))
	r.optFixed = pertitle.UpperHull(pershot.Curve(fixed))
	r.optBD, r.fixedBD = bd(r.hull, r.opt), bd(r.hull, r.optFixed)
	return r
}

// modesOn: PERTITLE_BENCH_MODES=0 measures the exhaustive part only.
func modesOn() bool { return os.Getenv("PERTITLE_BENCH_MODES") != "0" }
