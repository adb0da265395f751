package benchladder

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pertitle"
)

// calPoint is one calibration encode: SSIM and PSNR as the engine measures
// them (Debian's ffmpeg, pertitle.MeasureQuality without VMAF, every 2nd
// frame) and VMAF as the benchmark measures it (libvmaf, every frame).
type calPoint struct {
	clip       string
	w, h       int
	crf        float64
	bitrate    float64
	ssim, psnr float64
	vmaf       float64
}

// TestCalibrateMetrics measures SSIM, PSNR and VMAF on the same encodes
// (final preset, plain CRF, at the source's size and at the analysis grid's
// next size down, upscaled to the source) across clips and CRFs, and prints
// the SSIM and PSNR at which each clip crosses VMAF 95: the data behind
// pertitle.DefaultTargetQuality for the SSIM/PSNR fallback. Run with
// PERTITLE_BENCH_CALIBRATE=1 (PERTITLE_BENCH_CLIPS limits the clips).
func TestCalibrateMetrics(t *testing.T) {
	if os.Getenv("PERTITLE_BENCH_CALIBRATE") != "1" {
		t.Skip("metric calibration: run with PERTITLE_BENCH_CALIBRATE=1")
	}
	clips := benchClips(t)
	vbin, model := vmafTools(t)
	ctx := context.Background()
	preset := benchPresets()[0]
	crfs := []float64{18, 22, 26, 30, 34}
	var (
		mu  sync.Mutex
		all []calPoint
	)
	for _, clip := range clips {
		name := strings.TrimSuffix(filepath.Base(clip), filepath.Ext(clip))
		dir := t.TempDir()
		src := filepath.Join(dir, "source.mp4")
		require.NoError(t, prepareSource(ctx, clip, src, clipSeconds))
		s, err := media.Probe(ctx, ffprobeBin(), src)
		require.NoError(t, err)
		w, h := s.Video.Width, s.Video.Height
		sizes := [][2]int{{w, h}}
		half := [2]int{int(math.Round(float64(w)*360/float64(h)/2)) * 2, 360}
		if h > 360 {
			sizes = append(sizes, half)
		} else {
			sizes = append(sizes, [2]int{416, 234})
		}
		type job struct {
			sz  [2]int
			crf float64
		}
		var jobs []job
		for _, sz := range sizes {
			for _, c := range crfs {
				jobs = append(jobs, job{sz, c})
			}
		}
		sem := make(chan struct{}, 2)
		var wg sync.WaitGroup
		errs := make([]error, len(jobs))
		for i, j := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				out := filepath.Join(dir, fmt.Sprintf("c%d.mp4", i))
				_, err := run(ctx, ffmpegBin(), "-nostdin", "-v", "error", "-y", "-i", src, "-vf",
					fmt.Sprintf("scale=%d:%d:flags=bicubic,setsar=1,format=yuv420p", j.sz[0], j.sz[1]),
					"-c:v", "libx264", "-preset", preset, "-crf", strconv.FormatFloat(j.crf, 'f', -1, 64), "-an", out)
				if err != nil {
					errs[i] = err
					return
				}
				ds, err := media.Probe(ctx, ffprobeBin(), out)
				if err != nil {
					errs[i] = err
					return
				}
				sc, err := pertitle.MeasureQuality(ctx, src, out, pertitle.QualityOptions{FFmpeg: ffmpegBin(), FFprobe: ffprobeBin(), NoVMAF: true})
				if err != nil {
					errs[i] = err
					return
				}
				v, err := vmaf(ctx, vbin, model, out, src, w, h)
				if err != nil {
					errs[i] = err
					return
				}
				mu.Lock()
				all = append(all, calPoint{clip: name, w: j.sz[0], h: j.sz[1], crf: j.crf, bitrate: float64(ds.Size*8) / ds.Duration,
					ssim: sc.Scores[pertitle.MetricSSIM], psnr: sc.Scores[pertitle.MetricPSNR], vmaf: v})
				mu.Unlock()
			}()
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		t.Logf("%s calibrated", name)
	}
	printCalibration(all)
}

// crossing interpolates (linearly in CRF order) the x at which y crosses at.
func crossing(ps []calPoint, at float64, y, x func(calPoint) float64) (float64, bool) {
	for i := 1; i < len(ps); i++ {
		a, b := ps[i-1], ps[i] // CRF ascending: quality descending
		if (y(a)-at)*(y(b)-at) <= 0 && y(a) != y(b) {
			f := (y(a) - at) / (y(a) - y(b))
			return x(a) + f*(x(b)-x(a)), true
		}
	}
	return 0, false
}

func printCalibration(all []calPoint) {
	p := func(format string, a ...any) { fmt.Printf(format+"\n", a...) }
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.clip != b.clip {
			return a.clip < b.clip
		}
		if a.h != b.h {
			return a.h > b.h
		}
		return a.crf < b.crf
	})
	p("## SSIM / PSNR against VMAF on the same encodes (x264 %s, plain CRF, first %d s; SSIM/PSNR as the engine measures them, VMAF v0.6.1 on every frame)", benchPresets()[0], clipSeconds)
	p("")
	p("| clip | size | CRF | kb/s | SSIM (All) | PSNR dB | VMAF |")
	p("|---|---|---:|---:|---:|---:|---:|")
	for _, c := range all {
		p("| %s | %dx%d | %.0f | %.0f | %.4f | %.2f | %.1f |", c.clip, c.w, c.h, c.crf, c.bitrate/1e3, c.ssim, c.psnr, c.vmaf)
	}
	p("")
	p("### Where each clip and size crosses VMAF 95 and 93 (linear between CRF steps)")
	p("")
	p("| clip | size | SSIM at VMAF 95 | PSNR at VMAF 95 | SSIM at VMAF 93 | PSNR at VMAF 93 |")
	p("|---|---|---:|---:|---:|---:|")
	groups := map[string][]calPoint{}
	var keys []string
	for _, c := range all {
		k := fmt.Sprintf("%s|%dx%d", c.clip, c.w, c.h)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], c)
	}
	vm := func(c calPoint) float64 { return c.vmaf }
	ss := func(c calPoint) float64 { return c.ssim }
	ps := func(c calPoint) float64 { return c.psnr }
	cell := func(v float64, ok bool, f string) string {
		if !ok {
			return "—"
		}
		return fmt.Sprintf(f, v)
	}
	for _, k := range keys {
		g := groups[k]
		s95, ok1 := crossing(g, 95, vm, ss)
		p95, ok2 := crossing(g, 95, vm, ps)
		s93, ok3 := crossing(g, 93, vm, ss)
		p93, ok4 := crossing(g, 93, vm, ps)
		parts := strings.SplitN(k, "|", 2)
		p("| %s | %s | %s | %s | %s | %s |", parts[0], parts[1], cell(s95, ok1, "%.4f"), cell(p95, ok2, "%.2f"), cell(s93, ok3, "%.4f"), cell(p93, ok4, "%.2f"))
	}
}
