package benchpershot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pershot"
	"github.com/pertitle/pertitle/pkg/pertitle"
)

// modeRun is one ladder the product made, every rendition measured on the
// whole title.
type modeRun struct {
	Points                 []point
	AnalysisCPU, EncodeCPU time.Duration
	// Per-shot only: the shots, how many were measured, and the engine's
	// own prediction of its BD-rate against its per-title hull.
	Shots, Samples int     `json:",omitempty"`
	Predicted      float64 `json:",omitempty"`
	PredictedErr   string  `json:",omitempty"`
}

// bytes is the ladder's storage: every rendition's bitstream.
func (m modeRun) bytes(seconds float64) int64 {
	var b float64
	for _, p := range m.Points {
		b += float64(p.Bitrate) * seconds / 8
	}
	return int64(b)
}

// modeResult is the three modes on one title.
type modeResult struct {
	static, perTitle, perShot modeRun
	perShotErr                error
}

// staticVersion names how the static ladder is encoded (media.Encode,
// two-pass); change it when that changes.
const staticVersion = "static-v1"

// runModes encodes the title with the static ladder (cached), per-title
// and per-shot, and scores every rendition on the whole title.
func runModes(ctx context.Context, t *testing.T, c cache, scorer, src, srcKey string, s *media.Source, preset, dir string) *modeResult {
	t.Helper()
	ref := filepath.Join(dir, "reference.y4m")
	require.NoError(t, rawReference(ctx, src, ref, 0, 0))
	defer os.Remove(ref)
	every, pixels := scoring()
	m := &modeResult{}
	sk := fmt.Sprintf("%s-%s-%s-e%d-p%d", staticVersion, srcKey, preset, every, pixels)
	if !c.load(sk, &m.static) {
		m.static = staticLadder(ctx, t, scorer, src, ref, s, preset, dir)
		require.NoError(t, c.store(sk, m.static))
	}
	tk := fmt.Sprintf("pertitle-%s-%s-%s-e%d-p%d-a%d", engineKey(t, "pkg/pertitle", "pkg/media"), srcKey, preset, every, pixels, analysisEvery())
	if !c.load(tk, &m.perTitle) {
		m.perTitle = perTitle(ctx, t, scorer, src, ref, s, preset, dir)
		require.NoError(t, c.store(tk, m.perTitle))
	}
	pk := fmt.Sprintf("pershot-mode-%s-%s-%s-e%d-p%d-a%d", engineKey(t, "pkg/pershot", "pkg/pertitle", "pkg/media"), srcKey, preset, every, pixels, analysisEvery())
	if !c.load(pk, &m.perShot) {
		m.perShot, m.perShotErr = perShot(ctx, t, scorer, src, ref, s, preset, dir)
		if m.perShotErr != nil {
			t.Logf("per-shot mode: %v", m.perShotErr)
		} else {
			require.NoError(t, c.store(pk, m.perShot))
		}
	}
	return m
}

// engineKey names the code of the given directories (their non-test Go
// files): a mode's cached result is used only while that code is unchanged.
func engineKey(t *testing.T, dirs ...string) string {
	t.Helper()
	h := sha256.New()
	for _, d := range dirs {
		files, err := filepath.Glob(filepath.Join(repoRoot(t), d, "*.go"))
		require.NoError(t, err)
		sort.Strings(files)
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// measureLadder joins every rendition of an encoded ladder, measures its
// bitstream bitrate and scores it on the whole title.
func measureLadder(ctx context.Context, t *testing.T, scorer, ref string, seconds float64, outDir string, rs []media.Rendition) []point {
	t.Helper()
	var files []string
	for i, r := range rs {
		joined := filepath.Join(outDir, fmt.Sprintf("joined-%d.mp4", i))
		f, err := os.Create(joined)
		require.NoError(t, err)
		pdir, pl := outDir, r.Playlist
		if d, file := filepath.Split(filepath.FromSlash(pl)); d != "" {
			pdir, pl = filepath.Join(outDir, d), file
		}
		err = media.JoinRendition(pdir, pl, f)
		require.NoError(t, errors.Join(err, f.Close()))
		files = append(files, joined)
	}
	scores, err := scoreAll(ctx, scorer, ref, files)
	require.NoError(t, err)
	pts := make([]point, 0, len(rs))
	for i, r := range rs {
		b, err := annexBBitrate(ctx, files[i], seconds)
		require.NoError(t, err)
		pts = append(pts, point{W: r.Width, H: r.Height, Bitrate: b, Peak: r.Bitrate, VMAF: scores[i]})
		_ = os.Remove(files[i])
	}
	return pts
}

// annexBBitrate is the bitrate of a file's H.264 in Annex B, as the grid's
// encodes are measured: packaging counts for no ladder.
func annexBBitrate(ctx context.Context, file string, seconds float64) (int64, error) {
	raw := file + ".h264"
	defer os.Remove(raw)
	if _, err := run(ctx, ffmpegBin(), "-nostdin", "-v", "error", "-y", "-i", file, "-map", "0:v:0", "-c", "copy", "-f", "h264", raw); err != nil {
		return 0, err
	}
	fi, err := os.Stat(raw)
	if err != nil {
		return 0, err
	}
	return int64(float64(fi.Size()) * 8 / seconds), nil
}

// staticLadder is Apple's ladder for the title, two-pass under media.VBV's
// cap, as tests/benchladder encodes it.
func staticLadder(ctx context.Context, t *testing.T, scorer, src, ref string, s *media.Source, preset, dir string) modeRun {
	t.Helper()
	dw, dh := s.DisplaySize()
	out := filepath.Join(dir, "static")
	cpu0 := childCPU()
	o, err := media.Encode(ctx, media.EncodeRequest{FFmpeg: ffmpegBin(), SourcePath: src, Source: s, OutDir: out,
		Ladder: pertitle.MediaRungs(pertitle.AppleLadder(dw, dh), 0), SegmentSeconds: segmentSeconds, Preset: preset, TwoPass: true})
	require.NoError(t, err)
	defer os.RemoveAll(out)
	return modeRun{Points: measureLadder(ctx, t, scorer, ref, s.Duration, out, o.Renditions), EncodeCPU: childCPU() - cpu0}
}

// analysisEvery is PERTITLE_BENCH_ANALYSIS_EVERY: the engine's own frame
// sampling of its scores (Options.QualityEvery; its default when unset).
func analysisEvery() int {
	v, _ := strconv.Atoi(os.Getenv("PERTITLE_BENCH_ANALYSIS_EVERY"))
	return v
}

// engineOptions are the product's defaults for a run of the engine.
func engineOptions(scorer, preset string) pertitle.Options {
	return pertitle.Options{FFmpeg: ffmpegBin(), FFprobe: ffprobeBin(), Scorer: scorer, Preset: preset,
		SegmentSeconds: segmentSeconds, Mode: pertitle.ModeFast, QualityEvery: analysisEvery()}
}

// perTitle runs the per-title engine (fast mode, defaults).
func perTitle(ctx context.Context, t *testing.T, scorer, src, ref string, s *media.Source, preset, dir string) modeRun {
	t.Helper()
	out := filepath.Join(dir, "pertitle")
	rep, err := pertitle.Encode(ctx, src, out, engineOptions(scorer, preset))
	require.NoError(t, err)
	defer os.RemoveAll(out)
	m := modeRun{EncodeCPU: rep.EncodeCPUTime}
	if rep.Analysis != nil {
		m.AnalysisCPU = rep.Analysis.CPUTime
	}
	m.Points = measureLadder(ctx, t, scorer, ref, s.Duration, out, renditions(rep.Renditions))
	for i := range m.Points {
		m.Points[i].CRF = rep.Renditions[i].CRF
	}
	return m
}

func renditions(rr []pertitle.RenditionReport) []media.Rendition {
	rs := make([]media.Rendition, len(rr))
	for i, r := range rr {
		rs[i] = media.Rendition{Width: r.Width, Height: r.Height, Bitrate: r.Bitrate, Playlist: r.Playlist}
	}
	return rs
}

// perShot runs the per-shot mode (pershot.Encode at the product's
// defaults, the engine's shot rules). Its failure is reported, not fatal:
// the other modes' numbers still print.
func perShot(ctx context.Context, t *testing.T, scorer, src, ref string, s *media.Source, preset, dir string) (modeRun, error) {
	t.Helper()
	out := filepath.Join(dir, "pershot")
	rep, err := pershot.Encode(ctx, src, out, pershot.Options{Options: engineOptions(scorer, preset), Rules: shotRules})
	if err != nil {
		return modeRun{}, err
	}
	defer os.RemoveAll(out)
	m := modeRun{EncodeCPU: rep.EncodeCPUTime, Predicted: rep.PerTitleBDRate, PredictedErr: rep.PerTitleBDRateError}
	if rep.Analysis != nil {
		m.AnalysisCPU = rep.Analysis.CPUTime
		m.Samples = len(rep.Analysis.Samples)
	}
	m.Shots = len(rep.Shots)
	m.Points = measureLadder(ctx, t, scorer, ref, s.Duration, out, renditions(rep.Renditions))
	for i := range m.Points {
		m.Points[i].CRF = rep.Renditions[i].CRF
	}
	return m, nil
}
