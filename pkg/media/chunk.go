package media

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// A chunked encode splits a title into spans of whole segments, encodes each
// span on any worker, and joins the encoded spans of a rung without
// re-encoding before packaging them once, as the unchunked Encode would have.
// Every frame of the source lands in exactly one chunk: chunk boundaries are
// frame indices (the first frame of a segment), pieces of the source are cut
// by stream copy around them, and each chunk keeps exactly its frames by
// their original timestamps.

// Chunk is one span of a title: frames [First, First+Frames).
type Chunk struct {
	Index  int
	First  int64 // index of its first frame in the source
	Frames int64
}

// Timing is the frame arithmetic of a constant-rate source.
type Timing struct {
	RateNum, RateDen int64   // frames per second, as a fraction
	StartTime        float64 // seconds of the source's first timestamp
	SegmentSeconds   float64
}

// TimingOf is the timing of a probed source, or an error when its frames do
// not all last the same: a variable frame rate source has no frame index
// to cut at, and is encoded whole.
func TimingOf(s *Source, segSeconds float64) (Timing, error) {
	if s == nil || s.Video == nil || s.Video.RateNum <= 0 || s.Video.RateDen <= 0 {
		return Timing{}, errors.New("media: the frame rate is unknown")
	}
	if !s.Video.ConstantRate {
		return Timing{}, fmt.Errorf("media: variable frame rate (average %.4g, nominal %.4g fps)", s.Video.FrameRate, s.Video.NominalFrameRate)
	}
	return Timing{RateNum: s.Video.RateNum, RateDen: s.Video.RateDen, StartTime: s.StartTime, SegmentSeconds: segSeconds}, nil
}

// FPS is the frame rate.
func (t Timing) FPS() float64 { return float64(t.RateNum) / float64(t.RateDen) }

// Seconds is when frame n starts, from the source's start.
func (t Timing) Seconds(n int64) float64 { return float64(n) * float64(t.RateDen) / float64(t.RateNum) }

// SegmentStart is the first frame of segment n: the first frame whose time
// reaches n segments, as the keyframe rule of the unchunked encode decides
// ("-force_key_frames expr:gte(t,n_forced*seg)").
func (t Timing) SegmentStart(n int) int64 {
	x := float64(n) * t.SegmentSeconds * float64(t.RateNum) / float64(t.RateDen)
	return int64(math.Ceil(x - 1e-6))
}

// PlanChunks splits total frames into chunks of about chunkSeconds, each
// starting at a segment's first frame. Where a scene cut (seconds) falls near
// a boundary, the boundary moves to the segment start nearest the cut, within
// a quarter of a chunk, so that a chunk's rate control starts with its scene.
// A title shorter than two chunks is one chunk.
func PlanChunks(t Timing, total int64, chunkSeconds float64, cuts []float64) []Chunk {
	segs := int(math.Max(1, math.Round(chunkSeconds/t.SegmentSeconds)))
	var bounds []int64
	for n := segs; ; n += segs {
		if t.SegmentStart(n+segs) > total || t.SegmentStart(n) >= total {
			break // the rest is shorter than a chunk: it joins this one
		}
		bounds = append(bounds, t.SegmentStart(nearCut(t, n, segs, cuts)))
	}
	var chunks []Chunk
	first := int64(0)
	for _, b := range append(bounds, total) {
		if b <= first {
			continue
		}
		chunks = append(chunks, Chunk{Index: len(chunks), First: first, Frames: b - first})
		first = b
	}
	return chunks
}

// nearCut is the segment, within a quarter of a chunk of segment n, whose
// start is nearest a scene cut, or n when no cut is that near.
func nearCut(t Timing, n, segs int, cuts []float64) int {
	reach := max(segs/4, 0)
	best, bestDist := n, math.Inf(1)
	for m := n - reach; m <= n+reach; m++ {
		at := t.Seconds(t.SegmentStart(m))
		i := sort.SearchFloat64s(cuts, at)
		for _, j := range []int{i - 1, i} {
			if j < 0 || j >= len(cuts) {
				continue
			}
			if d := math.Abs(cuts[j] - at); d < bestDist && d <= t.SegmentSeconds/2 {
				best, bestDist = m, d
			}
		}
	}
	return best
}

// pieceMargin is how far past a chunk's end its piece reaches: frames shown
// before the cut may be stored after it (B-frames).
const pieceMargin = 1.0

// CutPiece copies, without decoding, the stretch of src that holds chunk c
// into out (Matroska, original timestamps): from the keyframe at or before
// the chunk's first frame to a little past its last one.
func CutPiece(ctx context.Context, ffmpeg, src string, t Timing, c Chunk, out string) error {
	from := t.StartTime + t.Seconds(c.First)
	to := t.StartTime + t.Seconds(c.First+c.Frames) + pieceMargin
	args := append([]string{"-nostdin", "-hide_banner", "-nostats", "-v", "error", "-y", "-copyts"},
		InputArgs(src, SourceFormats, "-ss", formatSeconds(from))...)
	args = append(args, "-to", formatSeconds(to), "-map", "0:v:0", "-c", "copy", "-f", "matroska", out)
	if _, err := (&Cmd{Bin: ffmpeg, Args: args}).Run(ctx); err != nil {
		return fmt.Errorf("media: cut piece %d: %w", c.Index, err)
	}
	return nil
}

// ChunkRequest is the encode of one chunk into one file per rung.
type ChunkRequest struct {
	FFmpeg string
	// Piece is the chunk's stretch of the source (CutPiece).
	Piece  string
	Source *Source // the whole source's probe
	Timing Timing
	Chunk  Chunk
	Ladder []Rung
	// CRFs, when set, overrides the CRF of every rung for this chunk
	// (CRFs[i] for rung i, each > 0): a per-shot ladder's settings for one
	// shot. Such chunks are encoded stitchable (x264StitchArgs), so that a
	// rung's chunks at different CRFs share their parameter sets. nil keeps
	// the ladder's.
	CRFs   []float64
	Preset string
	// OutDir receives ChunkFile(i) for rung i.
	OutDir   string
	Progress func(Progress)
}

// ChunkFile is the name of rung i's encoded chunk.
func ChunkFile(rung int) string { return fmt.Sprintf("rung-%d.mp4", rung) }

// ChunkOutput is what a chunk encode produced.
type ChunkOutput struct {
	Files []string // ChunkFile(i) for every rung, in OutDir
	CPU   time.Duration
	Wall  time.Duration
}

// EncodeChunk decodes the piece, keeps the frames of the chunk by their
// original timestamps, renumbers them from zero at the source's exact rate,
// and encodes every rung with the unchunked encode's x264 options. Keyframes
// fall on the segment starts of the whole title. A chunk whose frame count
// comes out different from the plan is an error: the join would drop or
// repeat frames.
func EncodeChunk(ctx context.Context, req ChunkRequest) (*ChunkOutput, error) {
	if req.FFmpeg == "" {
		req.FFmpeg = "ffmpeg"
	}
	if req.Preset == "" {
		req.Preset = DefaultPreset
	}
	if len(req.Ladder) == 0 || req.Chunk.Frames <= 0 {
		return nil, errors.New("media: encode chunk: nothing to encode")
	}
	if err := checkChunkCRFs(req.Ladder, req.CRFs); err != nil {
		return nil, fmt.Errorf("media: encode chunk %d: %w", req.Chunk.Index, err)
	}
	if err := os.MkdirAll(req.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("media: encode chunk: %w", err)
	}
	args := chunkArgs(&req)
	duration := req.Timing.Seconds(req.Chunk.Frames)
	res, err := (&Cmd{Bin: req.FFmpeg, Args: args, WaitDelay: 5 * time.Second,
		Progress: newProgressReporter(duration, req.Progress).block}).Run(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("media: chunk %d cancelled: %w", req.Chunk.Index, ctx.Err())
		}
		return nil, fmt.Errorf("media: chunk %d: %w", req.Chunk.Index, err)
	}
	if res.Frames != req.Chunk.Frames {
		return nil, fmt.Errorf("media: chunk %d has %d frames, the plan says %d", req.Chunk.Index, res.Frames, req.Chunk.Frames)
	}
	out := &ChunkOutput{CPU: res.CPU, Wall: res.Wall}
	for i := range req.Ladder {
		out.Files = append(out.Files, ChunkFile(i))
	}
	return out, nil
}

func chunkArgs(req *ChunkRequest) []string {
	t, c := req.Timing, req.Chunk
	// Half a frame either side: a frame belongs to the chunk its timestamp
	// rounds into, whatever the container's time base did to it.
	half := 0.5 * float64(t.RateDen) / float64(t.RateNum)
	start := t.StartTime + t.Seconds(c.First) - half
	end := t.StartTime + t.Seconds(c.First+c.Frames) - half
	var fg strings.Builder
	fmt.Fprintf(&fg, "[0:v:0]trim=start=%s:end=%s,setpts=N*%d/%d/TB,split=%d", formatSeconds(start), formatSeconds(end),
		t.RateDen, t.RateNum, len(req.Ladder))
	for i := range req.Ladder {
		fmt.Fprintf(&fg, "[s%d]", i)
	}
	fg.WriteString(scaleGraph(req.Source, req.Ladder))

	args := append([]string{"-nostdin", "-hide_banner", "-nostats", "-v", "error", "-y", "-copyts"},
		InputArgs(req.Piece, []string{"matroska"})...)
	args = append(args, "-filter_complex", fg.String())
	rate := strconv.FormatInt(t.RateNum, 10) + "/" + strconv.FormatInt(t.RateDen, 10)
	keys := chunkKeyframes(t, c)
	for i, r := range req.Ladder {
		args = append(args, "-map", fmt.Sprintf("[v%d]", i), "-c:v", "libx264", "-preset", req.Preset)
		args = append(args, chunkGOPArgs(t, keys)...)
		args = append(args, "-color_range", "tv")
		if req.CRFs != nil {
			r.CRF = req.CRFs[i]
			args = append(args, x264StitchArgs()...)
		}
		args = append(args, rungRateArgs(r, "0")...)
		args = append(args, "-r", rate, "-video_track_timescale", strconv.FormatInt(t.RateNum, 10),
			"-an", "-sn", "-dn", "-map_metadata", "-1", "-f", "mp4", filepath.Join(req.OutDir, ChunkFile(i)))
	}
	return append(args, "-progress", "pipe:1")
}

// chunkKeyframes are the chunk-relative times of the segment starts inside
// chunk c (its first frame is a keyframe anyway), a hundredth of a frame
// early so that rounding never pushes one to the next frame.
func chunkKeyframes(t Timing, c Chunk) []float64 {
	var out []float64
	eps := 0.01 * float64(t.RateDen) / float64(t.RateNum)
	for n := 0; ; n++ {
		f := t.SegmentStart(n)
		if f >= c.First+c.Frames {
			return out
		}
		if f > c.First {
			out = append(out, t.Seconds(f-c.First)-eps)
		}
	}
}

// EncodeAudio encodes the first audio stream of the whole title once, as the
// unchunked encode does (AAC split at chunk joins would gain priming gaps).
func EncodeAudio(ctx context.Context, ffmpeg, src, out string) (time.Duration, error) {
	args := append([]string{"-nostdin", "-hide_banner", "-nostats", "-v", "error", "-y"}, InputArgs(src, SourceFormats)...)
	args = append(args, "-map", "0:a:0", "-vn", "-sn", "-dn", "-map_metadata", "-1")
	args = append(append(args, audioCodecArgs()...), "-f", "mp4", out)
	res, err := (&Cmd{Bin: ffmpeg, Args: args}).Run(ctx)
	if err != nil {
		return res.CPU, fmt.Errorf("media: encode audio: %w", err)
	}
	return res.CPU, nil
}

// PackageRequest joins the encoded chunks of every rung and packages them.
type PackageRequest struct {
	FFmpeg string
	Source *Source
	Ladder []Rung
	// Chunks[i] are rung i's encoded chunks (ChunkFile), in order, as paths.
	Chunks [][]string
	// Audio is EncodeAudio's output, "" for a silent title.
	Audio          string
	OutDir         string // created; must be empty
	SegmentSeconds float64
}

// Package joins each rung's chunks without re-encoding (the concat demuxer
// over lists it writes itself, never over anything a user sent) and packages
// the rungs and the audio into CMAF segments with an HLS master and a DASH
// MPD, measured and described exactly as Encode's.
func Package(ctx context.Context, req PackageRequest) (*Output, error) {
	if req.FFmpeg == "" {
		req.FFmpeg = "ffmpeg"
	}
	if req.SegmentSeconds <= 0 {
		req.SegmentSeconds = DefaultSegmentSeconds
	}
	if len(req.Chunks) != len(req.Ladder) || len(req.Ladder) == 0 {
		return nil, fmt.Errorf("media: package: %d rungs but chunks for %d", len(req.Ladder), len(req.Chunks))
	}
	if err := prepareOutDir(req.OutDir); err != nil {
		return nil, err
	}
	lists, err := os.MkdirTemp("", "media-concat-*")
	if err != nil {
		return nil, fmt.Errorf("media: package: %w", err)
	}
	defer os.RemoveAll(lists)
	args := []string{"-nostdin", "-hide_banner", "-nostats", "-v", "error", "-y"}
	for i, files := range req.Chunks {
		if err := checkParameterSets(files); err != nil {
			return nil, fmt.Errorf("rung %d: %w", i, err)
		}
		list := filepath.Join(lists, fmt.Sprintf("rung-%d.ffconcat", i))
		if err := writeConcatList(list, files); err != nil {
			return nil, err
		}
		// auto_convert off: the demuxer would turn the samples into Annex B,
		// and the muxer would then keep an SPS and PPS in band before every
		// IDR picture, which an avc1 sample entry promises to hold.
		args = append(args, InputArgs(list, []string{"concat", "mov"}, "-f", "concat", "-safe", "0", "-auto_convert", "0")...)
	}
	if req.Audio != "" {
		args = append(args, InputArgs(req.Audio, []string{"mov"})...)
	}
	for i := range req.Ladder {
		args = append(args, "-map", fmt.Sprintf("%d:v:0", i))
	}
	if req.Audio != "" {
		args = append(args, "-map", fmt.Sprintf("%d:a:0", len(req.Ladder)))
	}
	args = append(args, "-c", "copy", "-map_metadata", "-1", "-map_chapters", "-1")
	args = append(args, dashArgs(req.Ladder, req.Audio != "", req.SegmentSeconds, req.OutDir)...)
	res, err := (&Cmd{Bin: req.FFmpeg, Args: args}).Run(ctx)
	if err != nil {
		return nil, fmt.Errorf("media: package: %w", err)
	}
	src := *req.Source
	if req.Audio == "" {
		src.Audio = nil
	}
	out, err := finalize(&EncodeRequest{Source: &src, Ladder: req.Ladder, OutDir: req.OutDir, SegmentSeconds: req.SegmentSeconds})
	if err != nil {
		return nil, err
	}
	out.EncodeSeconds, out.CPUTime = res.Wall.Seconds(), res.CPU
	return out, nil
}

// writeConcatList writes an ffconcat script naming files, quoted.
func writeConcatList(path string, files []string) error {
	var b strings.Builder
	b.WriteString("ffconcat version 1.0\n")
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			return fmt.Errorf("media: package: %w", err)
		}
		fmt.Fprintf(&b, "file '%s'\n", strings.ReplaceAll(abs, "'", `'\''`))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("media: package: %w", err)
	}
	return nil
}

// CountFrames counts the video frames of path by reading its packets (no
// decoding), for containers that do not say (Matroska, MPEG-TS).
func CountFrames(ctx context.Context, ffprobe, path string) (int64, error) {
	if ffprobe == "" {
		ffprobe = "ffprobe"
	}
	args := append([]string{"-v", "error", "-select_streams", "v:0", "-count_packets",
		"-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"}, InputArgs(path, WorkFormats)...)
	var out strings.Builder
	if _, err := (&Cmd{Bin: ffprobe, Args: args, Stdout: &out}).Run(ctx); err != nil {
		return 0, fmt.Errorf("media: count frames: %w", err)
	}
	// A transport stream lists its video stream again under its program
	// ("50,\n\n\n50,"): the first count is the stream's.
	for _, f := range strings.FieldsFunc(out.String(), func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64); err == nil && n > 0 {
			return n, nil
		}
	}
	return 0, fmt.Errorf("media: count frames of %s: %q", filepath.Base(path), out.String())
}
