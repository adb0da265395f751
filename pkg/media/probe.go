// Package media wraps ffprobe and ffmpeg for the per-title pipeline: it
// inspects and validates uploaded sources (Probe, Validate), derives a bitrate
// ladder (BuiltinLadder) and encodes a ladder into CMAF/fMP4 segments packaged
// as both DASH (manifest.mpd) and HLS (master.m3u8) in a single ffmpeg run
// (Encode).
//
// Everything shells out to the ffmpeg/ffprobe binaries whose paths are passed
// in by the caller; nothing here links against libav*.
package media

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidSource is the sentinel wrapped by every *InvalidSourceError, so
// callers can test with errors.Is(err, media.ErrInvalidSource).
var ErrInvalidSource = errors.New("invalid source")

// InvalidSourceError reports that a file cannot be used as a video source.
// Reason is a short human-readable explanation suitable for end users.
type InvalidSourceError struct {
	Reason string
}

func (e *InvalidSourceError) Error() string { return "invalid source: " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalidSource) true.
func (e *InvalidSourceError) Unwrap() error { return ErrInvalidSource }

func invalid(format string, args ...any) error {
	return &InvalidSourceError{Reason: fmt.Sprintf(format, args...)}
}

// Source describes a probed media file.
type Source struct {
	Container string  // ffprobe format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
	Demuxer   string  // the entry of SourceFormats that opened it, e.g. "mov"
	Streams   int     // streams of every kind in the container
	Duration  float64 // seconds
	StartTime float64 // seconds of the first timestamp (format start_time)
	Size      int64   // bytes on disk
	Bitrate   int64   // overall bits/s (container bit_rate, or Size*8/Duration)
	Video     *VideoStream
	Audio     []AudioStream
}

// VideoStream describes the primary (first non-cover-art) video stream.
type VideoStream struct {
	Codec     string  // ffprobe codec_name, e.g. "h264"
	Width     int     // coded/storage width in pixels
	Height    int     // coded/storage height in pixels
	SARNum    int     // sample aspect ratio numerator (0 when unknown, treated as 1:1)
	SARDen    int     // sample aspect ratio denominator
	FrameRate float64 // frames/s from avg_frame_rate, falling back to r_frame_rate
	// NominalFrameRate is r_frame_rate (0 when unknown): the rate the
	// timestamps are written in, which a forged file sets far above its
	// average.
	NominalFrameRate float64
	// RateNum/RateDen is the frame rate as ffprobe gives it (30000/1001),
	// for frame arithmetic without rounding; ConstantRate tells whether the
	// average and nominal rates agree, as they do when every frame lasts
	// the same.
	RateNum, RateDen int64
	ConstantRate     bool
	PixFmt           string // e.g. "yuv420p", "yuvj420p", "yuv420p10le"
	Rotation         int    // display rotation in degrees as reported by ffprobe (display matrix or legacy rotate tag), normalised to 0..359
	HDR              bool   // PQ (smpte2084) or HLG (arib-std-b67) transfer
	ColorRange       string // "tv", "pc" or "" when unknown
	Profile          string // e.g. "High"
	Frames           int64  // nb_frames when the container declares it, else 0
}

// AudioStream describes one audio stream.
type AudioStream struct {
	Codec      string
	Channels   int
	SampleRate int
}

// DisplaySize returns the size at which the video is meant to be shown:
// non-square pixels are stretched horizontally according to the sample aspect
// ratio and width/height are swapped for 90/270 degree rotations. It returns
// 0, 0 when there is no video stream.
func (s *Source) DisplaySize() (w, h int) {
	if s == nil || s.Video == nil {
		return 0, 0
	}
	v := s.Video
	w, h = v.Width, v.Height
	if v.SARNum > 0 && v.SARDen > 0 && v.SARNum != v.SARDen {
		w = int(math.Round(float64(w) * float64(v.SARNum) / float64(v.SARDen)))
	}
	if v.Rotation == 90 || v.Rotation == 270 {
		w, h = h, w
	}
	return w, h
}

// HasAudio reports whether the source has at least one audio stream.
func (s *Source) HasAudio() bool { return s != nil && len(s.Audio) > 0 }

// probeTimeout bounds a single ffprobe run unless ctx has an earlier deadline.
const probeTimeout = 30 * time.Second

type ffprobeOutput struct {
	Streams []ffprobeStream `json:"streams"`
	Format  struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
		StartTime  string `json:"start_time"`
		Size       string `json:"size"`
		BitRate    string `json:"bit_rate"`
	} `json:"format"`
}

type ffprobeStream struct {
	Index             int               `json:"index"`
	CodecName         string            `json:"codec_name"`
	CodecType         string            `json:"codec_type"`
	Profile           string            `json:"profile"`
	Width             int               `json:"width"`
	Height            int               `json:"height"`
	SampleAspectRatio string            `json:"sample_aspect_ratio"`
	PixFmt            string            `json:"pix_fmt"`
	ColorRange        string            `json:"color_range"`
	ColorTransfer     string            `json:"color_transfer"`
	RFrameRate        string            `json:"r_frame_rate"`
	AvgFrameRate      string            `json:"avg_frame_rate"`
	Duration          string            `json:"duration"`
	NbFrames          string            `json:"nb_frames"`
	SampleRate        string            `json:"sample_rate"`
	Channels          int               `json:"channels"`
	Disposition       map[string]int    `json:"disposition"`
	Tags              map[string]string `json:"tags"`
	SideDataList      []struct {
		SideDataType string   `json:"side_data_type"`
		Rotation     *float64 `json:"rotation"`
	} `json:"side_data_list"`
}

// Probe runs ffprobe on path and returns a typed description of it. Files that
// cannot serve as a video source (empty, not media, audio only, still image,
// no duration, no dimensions) yield an *InvalidSourceError. Other failures
// (missing file, ffprobe not installed, timeout) are returned as-is.
//
// Probe only reads headers; a truncated file whose index is at the start can
// pass, so callers should also run Validate.
func Probe(ctx context.Context, ffprobe, path string) (*Source, error) {
	if ffprobe == "" {
		ffprobe = "ffprobe"
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("media: probe: %w", err)
	}
	if fi.IsDir() {
		return nil, invalid("%s is a directory, not a media file", fi.Name())
	}
	if fi.Size() == 0 {
		return nil, invalid("file is empty (0 bytes)")
	}

	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	args := append([]string{"-v", "error", "-print_format", "json", "-show_format", "-show_streams"},
		InputArgs(path, SourceFormats)...)
	var stdout bytes.Buffer
	if _, err := (&Cmd{Bin: ffprobe, Args: args, Stdout: &stdout}).Run(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("media: probe %s: %w", path, ctx.Err())
		}
		var ee *ExitError
		if !errors.As(err, &ee) {
			return nil, fmt.Errorf("media: run ffprobe: %w", err)
		}
		return nil, unreadable(ee, path)
	}
	var out ffprobeOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("media: parse ffprobe output: %w", err)
	}
	return buildSource(&out, fi.Size())
}

// unreadable explains why ffprobe could not open a file.
func unreadable(ee *ExitError, path string) error {
	if m := reNotWhitelisted.FindStringSubmatch(ee.Stderr); m != nil {
		return refusedFormat(m[1])
	}
	msg := strings.TrimPrefix(ee.FirstLine(), path+": ")
	if msg == "" {
		msg = ee.Err.Error()
	}
	return invalid("not a recognizable media file: %s", msg)
}

// refusedFormat explains a demuxer outside SourceFormats.
func refusedFormat(demuxer string) error {
	switch {
	case demuxer == "image2":
		return invalid("file is a still image, not a video")
	case strings.HasSuffix(demuxer, "_pipe"):
		return invalid("file is a still image (%s), not a video", strings.TrimSuffix(demuxer, "_pipe"))
	case referringFormats[demuxer]:
		return invalid("file is a %s playlist or script that refers to other files, not a video; upload the video itself (%s)",
			demuxer, acceptedContainers)
	}
	return invalid("%s files are not accepted; upload a video in one of these containers: %s", demuxer, acceptedContainers)
}

// referringFormats open other files or URLs named inside them.
var referringFormats = map[string]bool{"hls": true, "dash": true, "concat": true, "ffconcat": true,
	"tee": true, "mpjpeg": true, "sdp": true, "rtsp": true, "rtp": true, "ffmetadata": true,
	"imf": true, "mov_drefs": true, "hds": true, "smoothstreaming": true}

// reNotWhitelisted finds the demuxer refused by -format_whitelist in ffmpeg's log.
var reNotWhitelisted = regexp.MustCompile(`\[([a-z0-9_,]+) @ [^\]]*\] Format not on whitelist`)

// acceptedContainers names SourceFormats for people.
const acceptedContainers = "MP4/MOV, Matroska/WebM, MPEG-TS, MPEG-PS, AVI, FLV, ASF/WMV, MXF, Ogg or YUV4MPEG"

// buildSource turns ffprobe's answer about a file of size bytes into a
// Source, or an *InvalidSourceError when it is not a video pertitle accepts
// (a refused container, no video stream, a still picture, no picture size or
// no duration).
func buildSource(out *ffprobeOutput, size int64) (*Source, error) {
	demuxer := sourceDemuxer(out.Format.FormatName)
	if demuxer == "" {
		return nil, refusedFormat(out.Format.FormatName)
	}
	src := &Source{
		Container: out.Format.FormatName,
		Demuxer:   demuxer,
		Streams:   len(out.Streams),
		Size:      size,
		Duration:  parseFloat(out.Format.Duration),
		StartTime: parseFloat(out.Format.StartTime),
		Bitrate:   parseInt(out.Format.BitRate),
	}
	video, err := pickStreams(out, src)
	if err != nil {
		return nil, err
	}
	v := videoStreamOf(video)
	src.Video = v

	if isStillImage(src.Container, v, src.Duration) || video.Disposition["still_image"] == 1 {
		return nil, invalid("file is a still image (%s), not a video", v.Codec)
	}
	if v.Width <= 0 || v.Height <= 0 {
		return nil, invalid("video stream has no picture size (width %d, height %d)", v.Width, v.Height)
	}
	if src.Duration <= 0 || math.IsNaN(src.Duration) || math.IsInf(src.Duration, 0) {
		src.Duration = parseFloat(video.Duration)
	}
	if src.Duration <= 0 || math.IsNaN(src.Duration) || math.IsInf(src.Duration, 0) {
		return nil, invalid("duration is zero or unknown")
	}
	if src.Bitrate <= 0 {
		src.Bitrate = averageBitrate(size, src.Duration)
	}
	return src, nil
}

// pickStreams adds every audio stream to src and returns the first video
// stream that is not cover art, or an *InvalidSourceError saying what the
// file holds instead.
func pickStreams(out *ffprobeOutput, src *Source) (*ffprobeStream, error) {
	var video, coverArt *ffprobeStream
	for i := range out.Streams {
		st := &out.Streams[i]
		switch st.CodecType {
		case "video":
			if st.Disposition["attached_pic"] == 1 {
				if coverArt == nil {
					coverArt = st
				}
				continue
			}
			if video == nil {
				video = st
			}
		case "audio":
			src.Audio = append(src.Audio, AudioStream{
				Codec:      st.CodecName,
				Channels:   st.Channels,
				SampleRate: int(parseInt(st.SampleRate)),
			})
		}
	}
	if video != nil {
		return video, nil
	}
	if coverArt != nil {
		return nil, invalid("file only contains a still picture (%s cover art), not a video", coverArt.CodecName)
	}
	if len(src.Audio) > 0 {
		return nil, invalid("no video stream: the file is audio only (%s)", src.Audio[0].Codec)
	}
	return nil, invalid("no video stream found (container %q)", src.Container)
}

// videoStreamOf describes ffprobe's video stream: picture, colour, aspect,
// rotation and frame rate (the average, else the nominal; 0 when only
// timebase-like garbage is known).
func videoStreamOf(video *ffprobeStream) *VideoStream {
	v := &VideoStream{
		Codec:      video.CodecName,
		Width:      video.Width,
		Height:     video.Height,
		PixFmt:     video.PixFmt,
		ColorRange: video.ColorRange,
		Profile:    video.Profile,
		Frames:     max(parseInt(video.NbFrames), 0),
		HDR:        video.ColorTransfer == "smpte2084" || video.ColorTransfer == "arib-std-b67",
	}
	if v.ColorRange == "" && strings.HasPrefix(v.PixFmt, "yuvj") {
		v.ColorRange = "pc"
	}
	v.SARNum, v.SARDen = sampleAspectRatio(video.SampleAspectRatio, v.Width)
	v.NominalFrameRate = parseRate(video.RFrameRate)
	v.FrameRate = parseRate(video.AvgFrameRate)
	if n, d, ok := parseRatio(video.AvgFrameRate, "/"); ok && n > 0 && d > 0 {
		v.RateNum, v.RateDen = n, d
		if rn, rd, ok := parseRatio(video.RFrameRate, "/"); ok && rn*d == n*rd {
			v.ConstantRate = true
		}
	}
	if v.FrameRate <= 0 || v.FrameRate > 1000 {
		v.FrameRate = parseRate(video.RFrameRate)
	}
	if v.FrameRate > 1000 { // timebase-like garbage, treat as unknown
		v.FrameRate = 0
	}
	v.Rotation = streamRotation(video)
	return v
}

// sourceDemuxer is the entry of SourceFormats among ffprobe's format_name
// ("mov,mp4,m4a,3gp,3g2,mj2" is one demuxer with several names), or "".
func sourceDemuxer(formatName string) string {
	for _, name := range strings.Split(formatName, ",") {
		for _, f := range SourceFormats {
			if name == f {
				return f
			}
		}
	}
	return ""
}

// sourceExtensions is the file extension a source is stored under, by
// demuxer: it comes from what the file is, never from the client's name for
// it (a ".m3u8" would tell the next reader to treat it as a playlist).
var sourceExtensions = map[string]string{
	"mov": ".mp4", "matroska": ".mkv", "mpegts": ".ts", "mpeg": ".mpg", "avi": ".avi",
	"flv": ".flv", "asf": ".wmv", "mxf": ".mxf", "ogg": ".ogv", "yuv4mpegpipe": ".y4m",
}

// Extension is the extension to store the source under (".mp4", ".mkv"...),
// from its detected container.
func (s *Source) Extension() string {
	if e, ok := sourceExtensions[s.Demuxer]; ok {
		return e
	}
	return ".bin"
}

// sampleAspectRatio parses ffprobe's "n:d". Codecs store each side in 16 bits;
// a ratio outside that, or one that would squeeze the picture to no width, is
// garbage and reads as unknown (0:0, square pixels), so that DisplaySize stays
// positive.
func sampleAspectRatio(s string, width int) (num, den int) {
	n, d, ok := parseRatio(s, ":")
	if !ok || n <= 0 || d <= 0 || n > 65535 || d > 65535 || math.Round(float64(width)*float64(n)/float64(d)) < 1 {
		return 0, 0
	}
	return int(n), int(d)
}

// averageBitrate is size over duration in bits/s, rounded up and held within
// int64: a tiny duration once overflowed it into a negative bitrate.
func averageBitrate(size int64, duration float64) int64 {
	br := math.Ceil(float64(size) * 8 / duration)
	if br >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(br)
}

var stillImageCodecs = map[string]bool{
	"png": true, "mjpeg": true, "jpeg2000": true, "bmp": true, "tiff": true,
	"webp": true, "gif": true, "jpegls": true, "ljpeg": true, "pam": true,
	"ppm": true, "pgm": true, "qoi": true, "exr": true, "dpx": true,
}

func isStillImage(container string, v *VideoStream, duration float64) bool {
	if container == "image2" || strings.HasSuffix(container, "_pipe") {
		return true
	}
	if stillImageCodecs[v.Codec] && v.Frames <= 1 && duration < 0.5 {
		return true
	}
	return false
}

func streamRotation(st *ffprobeStream) int {
	var deg float64
	found := false
	for _, sd := range st.SideDataList {
		if sd.Rotation != nil {
			deg, found = *sd.Rotation, true
			break
		}
	}
	if !found {
		if r, ok := st.Tags["rotate"]; ok {
			if f, err := strconv.ParseFloat(r, 64); err == nil {
				deg, found = f, true
			}
		}
	}
	if !found {
		return 0
	}
	r := int(math.Round(deg)) % 360
	if r < 0 {
		r += 360
	}
	return r
}

// firstLine returns the first non-empty line of s with ffmpeg's
// "[demuxer @ 0x...] " log prefix removed.
func firstLine(s string) string {
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "[") {
			if i := strings.Index(line, "] "); i > 0 && strings.Contains(line[:i], " @ ") {
				line = strings.TrimSpace(line[i+2:])
			}
		}
		return line
	}
	return ""
}

func parseFloat(s string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

func parseInt(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func parseRatio(s, sep string) (num, den int64, ok bool) {
	a, b, found := strings.Cut(s, sep)
	if !found {
		return 0, 0, false
	}
	n, err1 := strconv.ParseInt(a, 10, 64)
	d, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return n, d, true
}

// parseRate parses "30000/1001" (or a plain number) into frames per second.
func parseRate(s string) float64 {
	if n, d, ok := parseRatio(s, "/"); ok {
		if d <= 0 || n <= 0 {
			return 0
		}
		return float64(n) / float64(d)
	}
	return parseFloat(s)
}
