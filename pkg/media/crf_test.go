package media

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testmedia"
)

// TestEncodeArgsRateControl: a rung with a CRF is a constrained-quality encode
// (-crf, VBV capped at its rate with a 2x buffer); without, average bitrate.
func TestEncodeArgsRateControl(t *testing.T) {
	t.Parallel()
	src := &Source{Duration: 4, Video: &VideoStream{Width: 1280, Height: 720, FrameRate: 25}}
	cases := []struct {
		name string
		rung Rung
		want []string
		not  []string
	}{
		{"crf", Rung{Width: 640, Height: 360, Bitrate: 800_000, CRF: 26.5},
			[]string{"-crf:v:0 26.5", "-maxrate:v:0 800000", "-bufsize:v:0 1600000"}, []string{"-b:v:0"}},
		{"crf with explicit VBV", Rung{Width: 640, Height: 360, Bitrate: 800_000, CRF: 23, MaxRate: 1_000_000, BufSize: 3_000_000},
			[]string{"-crf:v:0 23", "-maxrate:v:0 1000000", "-bufsize:v:0 3000000"}, []string{"-b:v:0"}},
		{"average bitrate", Rung{Width: 640, Height: 360, Bitrate: 800_000},
			[]string{"-b:v:0 800000", "-maxrate:v:0 1200000", "-bufsize:v:0 1600000"}, []string{"-crf"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := EncodeRequest{SourcePath: "in.mp4", Source: src, OutDir: "out", Ladder: []Rung{tc.rung}}
			require.NoError(t, req.normalize())
			args := strings.Join(buildEncodeArgs(&req), " ")
			for _, w := range tc.want {
				assert.Contains(t, args, w)
			}
			for _, n := range tc.not {
				assert.NotContains(t, args, n)
			}
		})
	}
}

// TestEncodeOverhead compares Encode with the same ffmpeg run writing plain
// MP4 files instead of packaging (PERTITLE_MEASURE_ENCODE_OVERHEAD=1; timing
// on a shared machine is not a test). It logs the wall-time ratio.
func TestEncodeOverhead(t *testing.T) {
	if os.Getenv("PERTITLE_MEASURE_ENCODE_OVERHEAD") == "" {
		t.Skip("set PERTITLE_MEASURE_ENCODE_OVERHEAD=1 to measure")
	}
	clip := testmedia.Clip(t, testmedia.Spec{Width: 1280, Height: 720, Seconds: 20, Audio: true})
	ctx := context.Background()
	src, err := Probe(ctx, "ffprobe", clip)
	require.NoError(t, err)
	ladder := BuiltinLadder(src)
	for i := range ladder {
		ladder[i].CRF = 23
	}
	for round := range 2 {
		dir := filepath.Join(t.TempDir(), "dash")
		start := time.Now()
		_, err := Encode(ctx, EncodeRequest{SourcePath: clip, Source: src, OutDir: dir, Ladder: ladder})
		require.NoError(t, err)
		engine := time.Since(start).Seconds() // ffmpeg, then measuring and rewriting the master

		req := EncodeRequest{SourcePath: clip, Source: src, OutDir: t.TempDir(), Ladder: ladder}
		require.NoError(t, req.normalize())
		args := buildEncodeArgs(&req)
		// Same decode, filters and encoders; every stream into one MP4.
		cut := 0
		for i, a := range args {
			if a == "-f" && args[i+1] == "dash" {
				cut = i
			}
		}
		plainArgs := append(append([]string{}, args[:cut]...), filepath.Join(req.OutDir, "all.mp4"))
		start = time.Now()
		b, err := exec.Command("ffmpeg", plainArgs...).CombinedOutput()
		require.NoError(t, err, "%s", b)
		plain := time.Since(start).Seconds()
		t.Logf("round %d: Encode %.2fs, plain ffmpeg %.2fs, ratio %.3f", round, engine, plain, engine/plain)
	}
}

func TestRungAspect(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "1", rungSAR(1280, 720, 640, 360))
	assert.Equal(t, "1", rungSAR(0, 0, 640, 360))
	// 414x234 of an 848x480 source: 848·234 / (480·414).
	assert.Equal(t, "689/690", rungSAR(848, 480, 414, 234))
	assert.Equal(t, "id=0,streams=v", videoAdaptationSets([]Rung{{Width: 1280, Height: 720}, {Width: 640, Height: 360}}))
	assert.Equal(t, "id=0,streams=1,2 id=1,streams=0",
		videoAdaptationSets([]Rung{{Width: 854, Height: 480}, {Width: 640, Height: 360}, {Width: 416, Height: 234}}))
}

// TestEncodeTwoPass: a two-pass encode runs x264's first pass into the
// statistics only, then the packaged encode reads them; each rung lands near
// its average bitrate, progress rises to 100 once, and CRF rungs are refused.
func TestEncodeTwoPass(t *testing.T) {
	t.Parallel()
	clip := testmedia.Clip(t, testmedia.Spec{Width: 640, Height: 360, Seconds: 4, Audio: true, Source: "mandelbrot"})
	ctx := context.Background()
	src, err := Probe(ctx, "ffprobe", clip)
	require.NoError(t, err)
	ladder := []Rung{{Width: 640, Height: 360, Bitrate: 600_000}, {Width: 416, Height: 234, Bitrate: 250_000}}

	req := EncodeRequest{SourcePath: clip, Source: src, OutDir: "out", Ladder: ladder, TwoPass: true, passLog: "/tmp/x/pass"}
	require.NoError(t, req.normalize())
	first := strings.Join(buildFirstPassArgs(&req), " ")
	assert.Contains(t, first, "-pass:v 1")
	assert.Contains(t, first, "-passlogfile:v /tmp/x/pass")
	assert.Contains(t, first, "-f null -")
	assert.NotContains(t, first, "0:a:0")
	second := strings.Join(buildEncodeArgs(&req), " ")
	assert.Contains(t, second, "-pass:v 2")
	assert.Contains(t, second, "-b:v:1 250000")

	var pcts []float64
	out, err := Encode(ctx, EncodeRequest{SourcePath: clip, Source: src, OutDir: filepath.Join(t.TempDir(), "out"), Ladder: ladder,
		TwoPass: true, Progress: func(p Progress) { pcts = append(pcts, p.Percent) }})
	require.NoError(t, err)
	require.Len(t, out.Renditions, 2)
	for i, r := range out.Renditions {
		assert.InEpsilon(t, float64(ladder[i].Bitrate), float64(r.AverageBitrate), 0.25, "rung %d", i)
	}
	require.NotEmpty(t, pcts)
	assert.IsNonDecreasing(t, pcts)
	assert.Equal(t, 100.0, pcts[len(pcts)-1])
	assert.Positive(t, out.CPUTime)

	bad := EncodeRequest{SourcePath: clip, Source: src, OutDir: "out", TwoPass: true, Ladder: []Rung{{Width: 640, Height: 360, Bitrate: 600_000, CRF: 23}}}
	assert.ErrorContains(t, bad.normalize(), "two-pass")
}
