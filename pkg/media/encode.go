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

// Output file names written into EncodeRequest.OutDir.
const (
	DASHManifestName = "manifest.mpd"
	HLSMasterName    = "master.m3u8"

	initSegTemplate  = "init-$RepresentationID$.$ext$"
	mediaSegTemplate = "seg-$RepresentationID$-$Number%05d$.$ext$"
)

// Defaults applied by Encode to zero EncodeRequest fields.
const (
	DefaultSegmentSeconds = 2.0
	DefaultPreset         = "veryfast"

	audioBitrate    = 128_000
	audioSampleRate = 48_000
	audioChannels   = 2

	progressInterval = 500 * time.Millisecond
)

// EncodeRequest describes one ladder encode.
type EncodeRequest struct {
	FFmpeg         string  // ffmpeg binary; "ffmpeg" when empty
	SourcePath     string  // path of the source file
	Source         *Source // result of Probe for SourcePath (required)
	OutDir         string  // output directory; created if missing, must be empty
	Ladder         []Rung  // at least one rung, e.g. BuiltinLadder(Source)
	SegmentSeconds float64 // segment (and GOP) duration; DefaultSegmentSeconds when 0
	Preset         string  // x264 preset; DefaultPreset when empty
	// TwoPass encodes every rung in two passes (x264's fast first pass, then
	// the real one; each rung at its average bitrate under its VBV cap): how a
	// careful static ladder is made. Every rung must then be average-bitrate
	// (CRF 0): a CRF encode has no use for a first pass.
	TwoPass bool
	// Chunks and ChunkCRFs, when set, encode the title chunk by chunk with a
	// CRF per rung per chunk: ChunkCRFs[k][i] is rung i's CRF in chunk k
	// (each > 0; len(ChunkCRFs) == len(Chunks)). The chunks must follow one
	// another from the first frame (pkg/pershot's Shots, say) and the source
	// must have a constant frame rate. Every chunk is encoded in this process
	// (CutPiece, EncodeChunk, then Package), since one ffmpeg over the whole
	// title has one CRF per rung. TwoPass does not combine with them.
	Chunks    []Chunk
	ChunkCRFs [][]float64
	// passLog is the two-pass statistics prefix (set by Encode).
	passLog string
	// Progress, when set, is called from a single goroutine at most every
	// ~500 ms with monotonically non-decreasing Percent, and once with 100
	// when ffmpeg reports the end of the encode. It is never called after
	// Encode returns.
	Progress func(Progress)
}

// Progress is an encode progress report.
type Progress struct {
	Percent float64       // 0..100 of the source duration
	ETA     time.Duration // estimated time remaining
	Speed   float64       // encode speed relative to real time (ffmpeg's speed=)
	// Stage names the step of a multi-step job ("analysis", "encoding"); Encode
	// leaves it empty, which means encoding.
	Stage string
	// A chunked encode's chunks: done out of all, and the workers seen on
	// them lately (zero for an encode that is not chunked).
	ChunksDone, Chunks, Workers int
}

// Output describes the packaged ladder. Paths are relative to OutDir.
type Output struct {
	HLSMaster     string // "master.m3u8"
	DASHManifest  string // "manifest.mpd"
	Renditions    []Rendition
	Audio         *AudioRendition // nil when the source has no audio
	Duration      float64         // presentation duration, seconds
	EncodeSeconds float64         // wall-clock time of the ffmpeg run
	CPUTime       time.Duration   // user+system CPU time of the ffmpeg run
	Files         []string        // every file in OutDir, sorted
}

// Rendition describes one packaged video rendition, in ladder order.
type Rendition struct {
	Width, Height  int
	Bitrate        int64   // peak video bits/s over media segments
	AverageBitrate int64   // average video bits/s over media segments
	Codec          string  // "h264"
	Codecs         string  // RFC 6381 codecs string, e.g. "avc1.64001f"
	FrameRate      float64 // frames/s
	Bytes          int64   // init + media segments
	Playlist       string  // HLS media playlist, e.g. "media_0.m3u8"
}

// AudioRendition describes the packaged AAC audio rendition.
type AudioRendition struct {
	Bitrate        int64  // peak bits/s over media segments
	AverageBitrate int64  // average bits/s over media segments
	Codecs         string // "mp4a.40.2"
	Channels       int
	SampleRate     int
	Bytes          int64
	Playlist       string
}

// Encode transcodes req.Source into every rung of req.Ladder with one ffmpeg
// process (decode once, split, scale per rung, libx264 per rung, AAC audio)
// and packages the result as CMAF fMP4 segments referenced by both a DASH MPD
// and HLS playlists. Keyframes are forced at every segment boundary with
// closed GOPs so that all renditions switch at the same points.
//
// After ffmpeg exits, Encode measures every segment and rewrites master.m3u8
// with BANDWIDTH (measured peak, never below ffmpeg's advertised value),
// AVERAGE-BANDWIDTH, RESOLUTION, CODECS and FRAME-RATE taken from the files.
//
// With req.Chunks and req.ChunkCRFs (a CRF per rung per chunk, as a per-shot
// ladder has) the title is encoded chunk by chunk instead, in this process
// (CutPiece, EncodeChunk per chunk with its CRFs, EncodeAudio, Package),
// every chunk stitchable so that each rung keeps one set of parameter sets.
//
// On failure the error is an *ExitError carrying the tail of ffmpeg's stderr. Cancelling ctx
// kills ffmpeg and returns an error wrapping ctx.Err(). Partial output is left
// in OutDir.
func Encode(ctx context.Context, req EncodeRequest) (*Output, error) {
	if err := req.normalize(); err != nil {
		return nil, err
	}
	if err := prepareOutDir(req.OutDir); err != nil {
		return nil, err
	}
	if len(req.Chunks) > 0 {
		return encodeChunks(ctx, &req)
	}
	var cpu time.Duration
	start := time.Now()
	progress := req.Progress
	if req.TwoPass {
		passDir, err := os.MkdirTemp("", "media-passlog-*")
		if err != nil {
			return nil, fmt.Errorf("media: encode: %w", err)
		}
		defer os.RemoveAll(passDir)
		req.passLog = filepath.Join(passDir, "pass")
		// The first pass is x264's fast analysis pass: about a fifth of the
		// whole, so it gets the first fifth of the progress.
		c, err := runEncode(ctx, &req, buildFirstPassArgs(&req), scaledProgress(progress, 0, firstPassShare))
		cpu += c
		if err != nil {
			return nil, err
		}
		progress = scaledProgress(progress, firstPassShare, 100)
	}
	c, err := runEncode(ctx, &req, buildEncodeArgs(&req), progress)
	cpu += c
	if err != nil {
		return nil, err
	}
	elapsed := time.Since(start)

	out, err := finalize(&req)
	if err != nil {
		return nil, err
	}
	out.EncodeSeconds = elapsed.Seconds()
	out.CPUTime = cpu
	return out, nil
}

// firstPassShare is the percentage of a two-pass encode's progress given to
// the first pass.
const firstPassShare = 20.0

// scaledProgress maps a pass's 0..100 onto from..to of the whole encode.
func scaledProgress(fn func(Progress), from, to float64) func(Progress) {
	if fn == nil {
		return nil
	}
	return func(p Progress) {
		p.Percent = from + p.Percent*(to-from)/100
		fn(p)
	}
}

// runEncode runs one ffmpeg pass of req with args, forwarding its progress,
// and returns the process's CPU time.
func runEncode(ctx context.Context, req *EncodeRequest, args []string, progress func(Progress)) (time.Duration, error) {
	reporter := newProgressReporter(req.Source.Duration, progress)
	res, err := (&Cmd{Bin: req.FFmpeg, Args: args, WaitDelay: 5 * time.Second, Progress: reporter.block}).Run(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return res.CPU, fmt.Errorf("media: encode cancelled: %w", ctx.Err())
		}
		return res.CPU, fmt.Errorf("media: encode: %w", err)
	}
	return res.CPU, nil
}

// CPUTime returns the user+system CPU time of an exited process (0 for nil).
func CPUTime(ps *os.ProcessState) time.Duration {
	if ps == nil {
		return 0
	}
	return ps.UserTime() + ps.SystemTime()
}

func (req *EncodeRequest) normalize() error {
	if req.FFmpeg == "" {
		req.FFmpeg = "ffmpeg"
	}
	if req.Preset == "" {
		req.Preset = DefaultPreset
	}
	if req.SegmentSeconds <= 0 {
		req.SegmentSeconds = DefaultSegmentSeconds
	}
	switch {
	case req.SourcePath == "":
		return errors.New("media: encode: Source path is required")
	case req.Source == nil || req.Source.Video == nil:
		return errors.New("media: encode: Source with a video stream is required (see Probe)")
	case req.OutDir == "":
		return errors.New("media: encode: OutDir is required")
	case len(req.Ladder) == 0:
		return errors.New("media: encode: Ladder is empty")
	}
	for i, r := range req.Ladder {
		if r.Width <= 0 || r.Height <= 0 || r.Width%2 != 0 || r.Height%2 != 0 {
			return fmt.Errorf("media: encode: rung %d: size %dx%d must be positive and even", i, r.Width, r.Height)
		}
		if r.Bitrate <= 0 {
			return fmt.Errorf("media: encode: rung %d: bitrate must be positive", i)
		}
		if req.TwoPass && r.CRF > 0 {
			return fmt.Errorf("media: encode: rung %d: a two-pass encode takes average-bitrate rungs, not CRF %g", i, r.CRF)
		}
	}
	return req.checkChunks()
}

func prepareOutDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("media: encode: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("media: encode: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("media: encode: output directory %s is not empty", dir)
	}
	return nil
}

// rungSAR is the sample aspect ratio ("num/den") that gives a w×h rung the
// display aspect of a dw×dh source. Rungs are rounded to even sizes, so their
// own w/h is off by a fraction of a percent (414x234 of an 848x480 source);
// the DASH muxer refuses an adaptation set whose picture aspect ratios
// differ, and players should show every rung at the source's aspect anyway.
// "1" when the rung's aspect is exact or the source's is unknown.
func rungSAR(dw, dh, w, h int) string {
	if dw <= 0 || dh <= 0 || w <= 0 || h <= 0 {
		return "1"
	}
	num, den := int64(dw)*int64(h), int64(dh)*int64(w)
	g := gcd64(num, den)
	num, den = num/g, den/g
	if num == den {
		return "1"
	}
	return strconv.FormatInt(num, 10) + "/" + strconv.FormatInt(den, 10)
}

// videoAdaptationSets groups the rungs into DASH adaptation sets by picture
// aspect ratio (width:height reduced): ffmpeg's DASH muxer refuses rungs of
// different ratios in one set, and even sizes cannot always keep a source's
// ratio exactly (854x480 has no smaller even size of the same ratio). Usually
// this is the single set "id=0,streams=v"; otherwise the sets list stream
// indices, the largest group first.
func videoAdaptationSets(ladder []Rung) string {
	var keys []string
	groups := map[string][]int{}
	for i, r := range ladder {
		g := gcd64(int64(r.Width), int64(r.Height))
		if g == 0 {
			g = 1
		}
		k := fmt.Sprintf("%d:%d", int64(r.Width)/g, int64(r.Height)/g)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	if len(keys) <= 1 {
		return "id=0,streams=v"
	}
	sort.SliceStable(keys, func(i, j int) bool { return len(groups[keys[i]]) > len(groups[keys[j]]) })
	var b strings.Builder
	for id, k := range keys {
		if id > 0 {
			b.WriteByte(' ')
		}
		idx := make([]string, len(groups[k]))
		for j, i := range groups[k] {
			idx[j] = strconv.Itoa(i)
		}
		fmt.Fprintf(&b, "id=%d,streams=%s", id, strings.Join(idx, ","))
	}
	return b.String()
}

func gcd64(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// videoFilterGraph decodes the source once, splits it and scales a copy per
// rung: [v0], [v1], ...
func videoFilterGraph(req *EncodeRequest) string {
	var fg strings.Builder
	fmt.Fprintf(&fg, "[0:v:0]split=%d", len(req.Ladder))
	for i := range req.Ladder {
		fmt.Fprintf(&fg, "[s%d]", i)
	}
	fg.WriteString(scaleGraph(req.Source, req.Ladder))
	return fg.String()
}

// scaleGraph scales split copy [si] to rung i's size and pixel aspect, in
// limited range 4:2:0: ";[s0]scale=...[v0];[s1]...".
func scaleGraph(src *Source, ladder []Rung) string {
	var fg strings.Builder
	inRange := ""
	if src.Video.ColorRange == "pc" {
		inRange = ":in_range=pc"
	}
	dw, dh := src.DisplaySize()
	for i, r := range ladder {
		fmt.Fprintf(&fg, ";[s%d]scale=w=%d:h=%d%s:out_range=tv,setsar=%s,format=yuv420p[v%d]",
			i, r.Width, r.Height, inRange, rungSAR(dw, dh, r.Width, r.Height), i)
	}
	return fg.String()
}

// videoArgs are the inputs, the filter graph, the video maps and the x264
// options of every rung, shared by both passes of a two-pass encode.
func videoArgs(req *EncodeRequest) []string {
	args := append([]string{"-nostdin", "-hide_banner", "-nostats", "-v", "error", "-y"},
		InputArgs(req.SourcePath, SourceFormats)...)
	args = append(args, "-filter_complex", videoFilterGraph(req))
	for i := range req.Ladder {
		args = append(args, "-map", fmt.Sprintf("[v%d]", i))
	}
	args = append(args, "-c:v", "libx264", "-preset", req.Preset)
	args = append(args, X264GOPArgs(req.Source.Video.FrameRate, req.SegmentSeconds)...)
	args = append(args, "-color_range", "tv")
	for i, r := range req.Ladder {
		args = append(args, rungRateArgs(r, strconv.Itoa(i))...)
	}
	if req.passLog != "" {
		// One prefix: ffmpeg appends each output stream's index to it.
		args = append(args, "-passlogfile:v", req.passLog)
	}
	return args
}

// rungRateArgs are rung r's rate control, VBV, profile and level, for the
// output's video stream number idx: constrained quality (the CRF decides,
// VBV caps peaks) when r has a CRF, else its average bitrate.
func rungRateArgs(r Rung, idx string) []string {
	profile := r.Profile
	if profile == "" {
		profile = "high"
	}
	if r.Lossless {
		return []string{"-qp:v:" + idx, "0", "-profile:v:" + idx, "high444"}
	}
	maxRate, bufSize := VBV(r)
	var args []string
	if r.CRF > 0 {
		args = append(args, "-crf:v:"+idx, strconv.FormatFloat(r.CRF, 'f', -1, 64))
	} else {
		args = append(args, "-b:v:"+idx, strconv.FormatInt(r.Bitrate, 10))
	}
	args = append(args,
		"-maxrate:v:"+idx, strconv.FormatInt(maxRate, 10),
		"-bufsize:v:"+idx, strconv.FormatInt(bufSize, 10),
		"-profile:v:"+idx, profile,
	)
	if r.Level != "" {
		args = append(args, "-level:v:"+idx, r.Level)
	}
	return args
}

// buildFirstPassArgs is the first pass of a two-pass encode: video only, into
// nothing but the statistics.
func buildFirstPassArgs(req *EncodeRequest) []string {
	return append(videoArgs(req), "-pass:v", "1", "-an", "-sn", "-dn", "-progress", "pipe:1", "-f", "null", "-")
}

func buildEncodeArgs(req *EncodeRequest) []string {
	args := videoArgs(req)
	if req.passLog != "" {
		args = append(args, "-pass:v", "2")
	}
	hasAudio := req.Source.HasAudio()
	if hasAudio {
		args = append(args, "-map", "0:a:0")
	}
	args = append(args, "-map_metadata", "-1", "-map_chapters", "-1")
	if hasAudio {
		args = append(args, audioCodecArgs()...)
	}
	return append(args, dashArgs(req.Ladder, hasAudio, req.SegmentSeconds, req.OutDir)...)
}

// audioCodecArgs encode the title's audio as stereo AAC-LC at 48 kHz.
func audioCodecArgs() []string {
	return []string{"-c:a", "aac", "-b:a", strconv.Itoa(audioBitrate),
		"-ar", strconv.Itoa(audioSampleRate), "-ac", strconv.Itoa(audioChannels)}
}

// dashArgs package the mapped rungs (and the audio, mapped last) as CMAF
// segments of segSeconds with a DASH MPD and HLS playlists in outDir.
func dashArgs(ladder []Rung, hasAudio bool, segSeconds float64, outDir string) []string {
	adaptationSets := videoAdaptationSets(ladder)
	if hasAudio {
		adaptationSets += fmt.Sprintf(" id=%d,streams=a", strings.Count(adaptationSets, "id="))
	}
	return []string{
		"-f", "dash",
		"-seg_duration", strconv.FormatFloat(segSeconds, 'f', -1, 64),
		"-use_template", "1", "-use_timeline", "0",
		"-hls_playlist", "1", "-hls_master_name", HLSMasterName,
		"-adaptation_sets", adaptationSets,
		"-init_seg_name", initSegTemplate,
		"-media_seg_name", mediaSegTemplate,
		"-progress", "pipe:1",
		filepath.Join(outDir, DASHManifestName),
	}
}

// progressReporter turns -progress blocks into throttled Progress reports
// with a percentage of the source duration and an ETA.
type progressReporter struct {
	duration float64
	fn       func(Progress)
	start    time.Time
	lastSent time.Time
	lastPct  float64
}

func newProgressReporter(duration float64, fn func(Progress)) *progressReporter {
	return &progressReporter{duration: duration, fn: fn, start: time.Now()}
}

func (r *progressReporter) block(b ProgressBlock) {
	if r.fn == nil {
		return
	}
	now := time.Now()
	if !b.End && (b.OutTime < 0 || now.Sub(r.lastSent) < progressInterval) {
		return
	}
	p := Progress{Speed: b.Speed}
	if b.End {
		p.Percent = 100
	} else if r.duration > 0 {
		done := b.OutTime.Seconds()
		p.Percent = math.Min(99.9, math.Max(0, done/r.duration*100))
		remaining := math.Max(0, r.duration-done)
		switch {
		case b.Speed > 0:
			p.ETA = time.Duration(remaining / b.Speed * float64(time.Second))
		case done > 0:
			p.ETA = time.Duration(now.Sub(r.start).Seconds() * remaining / done * float64(time.Second))
		}
	}
	p.Percent = math.Max(p.Percent, r.lastPct)
	r.lastPct = p.Percent
	r.lastSent = now
	r.fn(p)
}
