package pertitle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pertitle/pertitle/pkg/media"
)

// measureVMAFJoined scores every distorted file against one reference with
// VMAF alone, in one libvmaf run: each file, paired with its own copy of the
// reference, is one segment of a concatenated stream, and the per-frame log
// is split back into files. frames[i] is the frame count of distorted[i]; every
// one must equal the reference's (refFrames), else the pairing could slip and
// it returns errJoinedFrames.
//
// Why joined: libvmaf 1.x in the shipped scorer costs about half a second of
// CPU per run on a half-megapixel window before its first frame, as much as
// fifteen scored frames, so the analysis's runs of one file each (vmafPerProcess)
// spent most of their scoring CPU on that (docs/benchmarks.md, "Issue 11, third
// round"). One run holds one libvmaf instance, which libvmaf 1.x takes.
//
// VMAF's motion feature of a frame is the smaller difference to either
// neighbour in the scored stream. The first frame of a file's segment has the
// previous segment's last frame before it; the first segment gets a lead-in
// frame (the reference's second scored frame, scored against itself and
// dropped), so every file is scored alike.
func measureVMAFJoined(ctx context.Context, reference string, ref *media.Source, refFrames int64, distorted []string, frames []int64, opt QualityOptions) ([]Score, time.Duration, error) {
	vm := detectVMAF(ctx, opt.FFmpeg, opt.VMAFModel)
	if vm.filter == "" {
		return nil, 0, fmt.Errorf("pertitle: quality: %s", vm.why)
	}
	every := max(opt.Every, 1)
	want := selectedFrames(refFrames, every)
	for i := range distorted {
		if frames[i] != refFrames || want == 0 {
			return nil, 0, fmt.Errorf("%w: %s has %d frames, the reference %d", errJoinedFrames, filepath.Base(distorted[i]), frames[i], refFrames)
		}
	}
	logDir, err := os.MkdirTemp("", "pertitle-vmaf-*")
	if err != nil {
		return nil, 0, fmt.Errorf("pertitle: quality: %w", err)
	}
	defer removeAll(logDir)
	w, h := ref.DisplaySize()
	logPath := vmafLogPath(logDir, 0)
	graph := joinedGraph(w, h, ref, len(distorted), every, vm.filter, logPath, vmafWindow(w, h, opt.VMAFPixels))
	args := scorerArgs("error", reference, distorted, graph)
	var stderr bytes.Buffer
	res, err := (&media.Cmd{Bin: opt.FFmpeg, Args: args, Stderr: &stderr}).Run(ctx)
	if ctx.Err() != nil {
		return nil, res.CPU, fmt.Errorf("pertitle: quality: %w", ctx.Err())
	}
	if err != nil {
		return nil, res.CPU, fmt.Errorf("pertitle: quality: %w: %s", err, tail(stderr.String(), 800))
	}
	per, err := readVMAFFrames(logPath)
	if err != nil {
		return nil, res.CPU, fmt.Errorf("pertitle: quality: %w", err)
	}
	scores, err := splitJoined(per, len(distorted), int(want))
	return scores, res.CPU, err
}

// errJoinedFrames: a distorted file's frame count differs from the
// reference's, so joined scoring cannot pair them (the caller scores the
// files one by one instead).
var errJoinedFrames = errors.New("pertitle: quality: frame counts differ")

// splitJoined turns the per-frame VMAF of a joined run (a lead-in frame, then
// per files of per frames each) into one Score per file: the mean of its frames.
func splitJoined(frames []float64, files, per int) ([]Score, error) {
	if len(frames) != 1+files*per {
		return nil, fmt.Errorf("%w: libvmaf scored %d frames, expected 1+%d×%d", errJoinedFrames, len(frames), files, per)
	}
	out := make([]Score, files)
	for i := range out {
		var sum float64
		for _, v := range frames[1+i*per : 1+(i+1)*per] {
			sum += v
		}
		v := sum / float64(per)
		out[i] = Score{Metric: MetricVMAF, Value: v, Scores: map[Metric]float64{MetricVMAF: v}}
	}
	return out, nil
}

// selectedFrames is how many of n frames qualityGraph's selection keeps for
// VMAF with every > 1 (pairs, two in 2·every+1), or n.
func selectedFrames(n int64, every int) int64 {
	if every <= 1 {
		return n
	}
	period := int64(2*every + 1)
	return n/period*2 + min(n%period, 2)
}

// joinedGraph is qualityGraph for measureVMAFJoined: input 0 the reference,
// 1..n the distorted files, each normalised and sampled as qualityGraph does;
// the pairs are concatenated behind a lead-in pair and scored by one libvmaf
// (vmafFilter) logging every frame to logPath.
func joinedGraph(w, h int, ref *media.Source, n, every int, vmafFilter, logPath string, crop [2]int) string {
	norm := func(in string, src *media.Source) string {
		return in + normChain(w, h, src, every, true, crop)
	}
	var g strings.Builder
	g.WriteString(norm("[0:v:0]", ref))
	fmt.Fprintf(&g, ",split=%d[lead]", n+1)
	for i := range n {
		fmt.Fprintf(&g, "[r%d]", i)
	}
	// The lead-in: the second scored frame (the first when there is one).
	g.WriteString(";[lead]trim=end_frame=2,reverse,trim=end_frame=1,split=2[la][lb]")
	for i := range n {
		fmt.Fprintf(&g, ";%s[d%d]", norm(fmt.Sprintf("[%d:v:0]", i+1), nil), i)
	}
	g.WriteString(";[la][lb]")
	for i := range n {
		fmt.Fprintf(&g, "[d%d][r%d]", i, i)
	}
	// libvmaf: first input distorted, second reference.
	fmt.Fprintf(&g, "concat=n=%d:v=2:a=0[cd][cr];[cd]setpts=N[jd];[cr]setpts=N[jr];[jd][jr]%s:n_threads=1:log_fmt=json:log_path=%s",
		n+1, vmafFilter, escapeFilterArg(logPath))
	return g.String()
}

// readVMAFFrames returns the per-frame VMAF of a libvmaf JSON log, in order.
func readVMAFFrames(path string) ([]float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Frames []struct {
			Metrics map[string]float64 `json:"metrics"`
		} `json:"frames"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("libvmaf log %s: %w", filepath.Base(path), err)
	}
	out := make([]float64, 0, len(doc.Frames))
	for i, f := range doc.Frames {
		v, ok := f.Metrics["vmaf"]
		if !ok {
			return nil, fmt.Errorf("libvmaf log %s: frame %d has no vmaf", filepath.Base(path), i)
		}
		out = append(out, v)
	}
	return out, nil
}
