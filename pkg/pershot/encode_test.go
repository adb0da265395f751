package pershot_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pershot"
	"github.com/pertitle/pertitle/pkg/pertitle"
)

// testScorer is the VMAF-capable ffmpeg scripts/deps.sh installs (make test
// runs it first); PERTITLE_VMAF_FFMPEG overrides it.
func testScorer(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PERTITLE_VMAF_FFMPEG"); p != "" {
		return p
	}
	p, err := filepath.Abs(filepath.Join("..", "..", "bin", pertitle.ScorerDir, "ffmpeg"))
	require.NoError(t, err)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no VMAF scorer at %s: run scripts/deps.sh (make test does)", p)
	}
	return p
}

// TestEncodeMultiShot: a 12 s title of four scenes of different cost (a
// slow gradient, testsrc2, mandelbrot, testsrc2 under grain), encoded per
// shot at 320x180 and 214x120 (VMAF-steered): the HLS and DASH manifests
// parse and list the same segments for every rung, the segments align
// across rungs (keyframes on the same frames, every frame once), every rung
// gives shots of different content different CRFs, and every rung's average
// stays within what its VBV allows over its target.
func TestEncodeMultiShot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := multiShotTitle(t)
	out := filepath.Join(t.TempDir(), "out")
	opt := pershot.Options{Options: pertitle.Options{Scorer: testScorer(t), Heights: []int{180, 120},
		CRFs: []float64{18, 26, 34, 42}, Constraints: pertitle.Constraints{MaxRenditions: 3}}}
	rep, err := pershot.Encode(ctx, src, out, opt)
	require.NoError(t, err)
	require.Equal(t, pertitle.MetricVMAF, rep.Metric)
	require.Len(t, rep.Shots, 4, "cuts at 3, 6 and 9 s snap to 4, 6 and 10 s")
	require.NotEmpty(t, rep.Rungs)
	require.Len(t, rep.Renditions, len(rep.Rungs))
	t.Logf("analysis CPU %v, encode CPU %v, predicted BD-rate against per-title %.1f%%",
		rep.Analysis.CPUTime, rep.EncodeCPUTime, rep.PerTitleBDRate)

	hls := hlsSegments(t, out, rep)
	dash := dashSegments(t, out, len(rep.Rungs))
	for i := range rep.Rungs {
		assert.Equal(t, hls[0], hls[i], "rung %d: the same segments as rung 0", i)
		require.Len(t, dash[i], len(hls[i]), "rung %d: as many segments in DASH as in HLS", i)
		for k := range hls[i] {
			assert.InDelta(t, hls[i][k], dash[i][k], 0.01, "rung %d segment %d: one duration in both manifests", i, k)
		}
	}
	for i, r := range rep.Renditions {
		keys := keyframes(t, out, r.Playlist)
		require.Len(t, keys, 300, "rung %d: every frame once", i)
		for n, k := range keys {
			assert.Equal(t, n%50 == 0, k, "rung %d frame %d: keyframes on the segment starts", i, n)
		}
	}
	assertCRFsFollowShots(t, rep)
	for i, rp := range rep.Rungs {
		// The rate control holds every window of the buffer's length to
		// MaxRate plus the buffer: over the title, at most MaxRate plus
		// BufSize over its duration. The allocation aims at the target.
		bound := float64(rp.MaxRate) + float64(rp.BufSize)/rep.Duration
		got := rep.Renditions[i].AverageBitrate
		t.Logf("rung %d %dx%d: target %d, predicted %.0f, encoded %d bit/s (VBV bound %.0f); per-title CRF %g, CRFs %v",
			i, rp.Width, rp.Height, rp.Bitrate, rp.PredictedBitrate, got, bound, rp.PerTitleCRF, rp.CRFs)
		assert.LessOrEqual(t, rp.PredictedBitrate, float64(rp.Bitrate)*(1+1e-9), "rung %d: the plan fits its target", i)
		assert.LessOrEqual(t, float64(got), math.Min(bound, 1.2*float64(rp.Bitrate)), "rung %d: average at its target", i)
	}
	assertReports(t, out, rep)
}

// multiShotTitle writes a 12 s, 320x180, 25 fps title of four 3 s scenes,
// each about twice as dear as the one before it at CRF 18 (a slow gradient,
// testsrc2, mandelbrot, testsrc2 under grain), with a tone, keyframes every
// second as mezzanine files have.
func multiShotTitle(t *testing.T) string {
	t.Helper()
	testmedia.RequireFFmpeg(t)
	scenes := []string{"gradients=s=320x180:r=25:speed=0.05", "testsrc2=s=320x180:r=25", "mandelbrot=s=320x180:r=25",
		"testsrc2=s=320x180:r=25,noise=alls=6:allf=t"}
	var args []string
	var graph strings.Builder
	for i, sc := range scenes {
		args = append(args, "-f", "lavfi", "-t", "3", "-i", sc)
		fmt.Fprintf(&graph, "[%d:v]format=yuv420p,setsar=1[v%d];", i, i)
	}
	graph.WriteString("[v0][v1][v2][v3]concat=n=4:v=1:a=0[v]")
	out := filepath.Join(t.TempDir(), "shots.mp4")
	args = append(append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...),
		"-f", "lavfi", "-t", "12", "-i", "sine=frequency=330:sample_rate=48000",
		"-filter_complex", graph.String(), "-map", "[v]", "-map", "4:a", "-c:a", "aac",
		"-r", "25", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-g", "25", out)
	b, err := exec.Command("ffmpeg", args...).CombinedOutput()
	require.NoError(t, err, "%s", b)
	return out
}

// assertCRFsFollowShots: in every rung the shots do not all share one CRF,
// and the first (mostly the slow gradient, whose VMAF barely moves with its
// CRF: the shots' probes say so) is not given more bits than the grainy
// last one, the dearest by far (which is known by construction, not from
// the profile pass, which does not see grain).
func assertCRFsFollowShots(t *testing.T, rep *pershot.Report) {
	t.Helper()
	easy, hard := 0, len(rep.Shots)-1
	require.InDelta(t, 10, rep.Shots[hard].Start, 1e-9, "the last shot is the grainy scene")
	for i, rp := range rep.Rungs {
		require.Len(t, rp.CRFs, len(rep.Shots))
		same := true
		for _, c := range rp.CRFs {
			same = same && c == rp.CRFs[0]
		}
		assert.False(t, same, "rung %d: shots of different content at different CRFs: %v", i, rp.CRFs)
		assert.GreaterOrEqual(t, rp.CRFs[easy], rp.CRFs[hard], "rung %d: the gradient at no lower a CRF than the grainy shot", i)
	}
}

// hlsSegments reads every rung's media playlist: its segments' durations.
func hlsSegments(t *testing.T, dir string, rep *pershot.Report) [][]float64 {
	t.Helper()
	probe(t, filepath.Join(dir, media.HLSMasterName), len(rep.Rungs))
	var out [][]float64
	for _, r := range rep.Renditions {
		b, err := os.ReadFile(filepath.Join(dir, r.Playlist))
		require.NoError(t, err)
		var durs []float64
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "#EXTINF:"); ok {
				d, err := strconv.ParseFloat(strings.TrimSuffix(v, ","), 64)
				require.NoError(t, err)
				durs = append(durs, d)
			}
		}
		out = append(out, durs)
	}
	return out
}

// dashSegments reads the MPD: every video representation's segments'
// durations from its template and the presentation's duration, and checks
// that each segment file exists.
func dashSegments(t *testing.T, dir string, rungs int) [][]float64 {
	t.Helper()
	path := filepath.Join(dir, media.DASHManifestName)
	probe(t, path, rungs)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var mpd struct {
		Duration string `xml:"mediaPresentationDuration,attr"`
		Sets     []struct {
			ContentType string `xml:"contentType,attr"`
			Reps        []struct {
				ID       string `xml:"id,attr"`
				Template struct {
					Timescale   float64 `xml:"timescale,attr"`
					Duration    float64 `xml:"duration,attr"`
					StartNumber float64 `xml:"startNumber,attr"`
					Media       string  `xml:"media,attr"`
				} `xml:"SegmentTemplate"`
			} `xml:"Representation"`
		} `xml:"Period>AdaptationSet"`
	}
	require.NoError(t, xml.Unmarshal(b, &mpd))
	total := isoSeconds(t, mpd.Duration)
	var out [][]float64
	for _, set := range mpd.Sets {
		if set.ContentType != "video" {
			continue
		}
		for _, r := range set.Reps {
			seg := r.Template.Duration / r.Template.Timescale
			require.Positive(t, seg)
			var durs []float64
			for at := 0.0; at < total-1e-3; at += seg {
				n := int(r.Template.StartNumber) + len(durs)
				name := strings.ReplaceAll(strings.ReplaceAll(r.Template.Media, "$RepresentationID$", r.ID), "$Number%05d$", strconv.Itoa(100000 + n)[1:])
				_, err := os.Stat(filepath.Join(dir, name))
				assert.NoError(t, err, "DASH segment %s exists", name)
				durs = append(durs, math.Min(seg, total-at))
			}
			out = append(out, durs)
		}
	}
	require.Len(t, out, rungs)
	return out
}

// isoSeconds parses an MPD duration such as "PT12.0S" or "PT1M2.5S".
func isoSeconds(t *testing.T, s string) float64 {
	t.Helper()
	rest, ok := strings.CutPrefix(s, "PT")
	require.True(t, ok, "duration %q", s)
	var total float64
	for _, unit := range []struct {
		sep string
		f   float64
	}{{"H", 3600}, {"M", 60}, {"S", 1}} {
		if v, r, ok := strings.Cut(rest, unit.sep); ok {
			x, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			total, rest = total+x*unit.f, r
		}
	}
	return total
}

// probe opens a manifest with ffprobe (local files only) and checks that it
// lists the video rungs and the audio.
func probe(t *testing.T, path string, rungs int) {
	t.Helper()
	b, err := exec.Command("ffprobe", "-v", "error", "-protocol_whitelist", "file", "-show_entries", "stream=index,codec_type",
		"-of", "csv=p=0", path).CombinedOutput()
	require.NoError(t, err, "%s: %s", filepath.Base(path), b)
	// Streams are listed again under each program (HLS variant): count
	// each index once.
	kinds := map[string]string{}
	for _, line := range strings.Fields(string(b)) {
		if idx, kind, ok := strings.Cut(line, ","); ok {
			kinds[idx] = kind
		}
	}
	video, audio := 0, 0
	for _, k := range kinds {
		switch k {
		case "video":
			video++
		case "audio":
			audio++
		}
	}
	assert.Equal(t, rungs, video, "%s: video streams", filepath.Base(path))
	assert.Positive(t, audio, "%s: audio", filepath.Base(path))
}

// keyframes is, for every frame of a rendition joined from its segments in
// decode order, whether it is a keyframe.
func keyframes(t *testing.T, dir, playlist string) []bool {
	t.Helper()
	joined := filepath.Join(t.TempDir(), "joined.mp4")
	f, err := os.Create(joined)
	require.NoError(t, err)
	require.NoError(t, media.JoinRendition(dir, playlist, f))
	require.NoError(t, f.Close())
	b, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=flags",
		"-of", "csv=p=0", joined).CombinedOutput()
	require.NoError(t, err, "%s", b)
	var keys []bool
	for _, line := range strings.Fields(string(b)) {
		keys = append(keys, strings.Contains(line, "K"))
	}
	return keys
}

// assertReports: report.json is pertitle's with the per-shot fields, and
// report.svg plots a CRF line per rung.
func assertReports(t *testing.T, dir string, rep *pershot.Report) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, pertitle.ReportJSONName))
	require.NoError(t, err)
	var js map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &js))
	for _, k := range []string{"source", "ladder", "renditions", "analysis", "shots", "rungs", "per_title_bd_rate_percent"} {
		assert.Contains(t, js, k)
	}
	var shots []struct{ CRFs []float64 }
	require.NoError(t, json.Unmarshal(js["shots"], &shots))
	require.Len(t, shots, len(rep.Shots))
	assert.Equal(t, rep.Shots[0].CRFs, shots[0].CRFs)
	svg, err := os.ReadFile(filepath.Join(dir, pertitle.ReportSVGName))
	require.NoError(t, err)
	require.NoError(t, xml.Unmarshal(svg, new(struct{})), "report.svg is well-formed XML")
	assert.Equal(t, len(rep.Rungs), strings.Count(string(svg), `<polyline class="crf"`), "a CRF line per rung")
	for _, rp := range rep.Rungs {
		assert.Contains(t, string(svg), strconv.Itoa(rp.Width)+"x"+strconv.Itoa(rp.Height)+", target")
	}
}

// TestProbesGoThroughPieces: with Options.Pieces (the services' workers),
// per-title's pieces and the probes both go through it, the probes as
// tasks that encode one size at three CRFs, and the shots without a piece
// of their own come back probed.
func TestProbesGoThroughPieces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := multiShotTitle(t)
	var calls [][]pertitle.PieceTask
	opt := pershot.Options{Options: pertitle.Options{Scorer: testScorer(t), Heights: []int{180, 120},
		CRFs: []float64{18, 26, 34, 42}, Constraints: pertitle.Constraints{MaxRenditions: 3}}}
	opt.Pieces = func(ctx context.Context, tasks []pertitle.PieceTask, done func()) ([]pertitle.PieceResult, error) {
		calls = append(calls, tasks)
		out := make([]pertitle.PieceResult, len(tasks))
		for i, task := range tasks {
			r, err := pertitle.AnalyzePiece(ctx, task, opt.Options)
			if err != nil {
				return nil, err
			}
			out[i] = *r
			done()
		}
		return out, nil
	}
	an, err := pershot.Analyze(ctx, src, opt)
	require.NoError(t, err)
	require.Len(t, calls, 2, "per-title's pieces, then the probes")
	probed := 0
	for _, sh := range an.Shots {
		if sh.Probe[1] > 0 {
			probed++
		}
	}
	require.Positive(t, probed, "shots without a piece of their own are probed")
	require.Len(t, calls[1], probed+1, "a probe per such shot and one of the piece they share")
	for _, task := range calls[1] {
		sizes := 0
		for _, enc := range task.Encoded {
			if len(enc) > 0 {
				sizes++
				assert.Len(t, enc, 3, "three CRFs")
			}
		}
		assert.Equal(t, 1, sizes, "one size")
	}
}
