package media

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// validateTimeout bounds each decode pass of Validate.
const validateTimeout = 2 * time.Minute

// Validate decodes the first ~2 s and the last ~1 s of the primary video
// stream (and of the audio streams) of a probed source. It catches files that ffprobe accepts from their
// headers but whose media data is missing or damaged (typically an upload cut
// short after a faststart moov). It returns an *InvalidSourceError
// ("truncated or corrupt ...") when ffmpeg reports a decode error, exits with
// an error, or cannot decode any frame in one of the stretches.
func Validate(ctx context.Context, ffmpeg, path string, src *Source) error {
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	if src == nil || src.Video == nil {
		return invalid("no video stream to validate")
	}
	head := 2.0
	if src.Duration < head {
		head = src.Duration
	}
	if err := decodeStretch(ctx, ffmpeg, path, 0, head, "start"); err != nil {
		return err
	}
	if src.Duration <= head {
		return nil // the head pass already covered the whole file
	}
	err := decodeStretch(ctx, ffmpeg, path, max(0, src.Duration-1), 0, "end")
	if errors.Is(err, errNoFrame) {
		// Containers without a seek index (MPEG-TS) resume decoding at the next
		// keyframe after the seek point, and a long GOP may have none in the last
		// second: start far enough back to cover any GOP a sane encoder makes.
		err = decodeStretch(ctx, ffmpeg, path, max(0, src.Duration-tailLookback), 0, "end")
	}
	return err
}

// tailLookback is how far before the end the second tail pass starts.
const tailLookback = 12.0

// errNoFrame marks a stretch in which no frame could be decoded.
var errNoFrame = errors.New("no frame decoded")

func decodeStretch(ctx context.Context, ffmpeg, path string, start, dur float64, where string) error {
	ctx, cancel := context.WithTimeout(ctx, validateTimeout)
	defer cancel()

	var opts []string
	if start > 0 {
		opts = []string{"-ss", formatSeconds(start)}
	}
	args := append([]string{"-nostdin", "-hide_banner", "-nostats", "-v", "error", "-xerror"},
		InputArgs(path, SourceFormats, opts...)...)
	if dur > 0 {
		args = append(args, "-t", formatSeconds(dur))
	}
	args = append(args, "-map", "0:v:0", "-map", "0:a?", "-sn", "-dn", "-f", "null", "-progress", "pipe:1", "-")

	res, runErr := (&Cmd{Bin: ffmpeg, Args: args}).Run(ctx)
	if ctx.Err() != nil {
		return fmt.Errorf("media: validate %s: %w", path, ctx.Err())
	}
	var ee *ExitError
	if runErr != nil && !errors.As(runErr, &ee) {
		return fmt.Errorf("media: run ffmpeg: %w", runErr)
	}
	if runErr != nil || isDecodeError(res.Stderr) {
		msg := firstLine(res.Stderr)
		if msg == "" {
			msg = runErr.Error()
		}
		return invalid("truncated or corrupt video data near the %s of the file: %s", where, msg)
	}
	if res.Frames <= 0 {
		return fmt.Errorf("%w: %w", invalid("truncated or corrupt: no video frame could be decoded near the %s of the file", where), errNoFrame)
	}
	return nil
}

// isDecodeError reports whether ffmpeg's error-level log mentions damaged
// data. Plain informational errors (e.g. unsupported metadata) are ignored.
func isDecodeError(log string) bool {
	l := strings.ToLower(log)
	for _, p := range []string{"corrupt", "partial file", "invalid nal", "truncat",
		"error while decoding", "invalid data found", "missing picture"} {
		if strings.Contains(l, p) {
			return true
		}
	}
	return false
}

func formatSeconds(s float64) string { return strconv.FormatFloat(s, 'f', 3, 64) }

// HasLibVMAF reports whether the ffmpeg binary was built with the libvmaf
// filter.
func HasLibVMAF(ctx context.Context, ffmpeg string) bool {
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var out strings.Builder
	if _, err := (&Cmd{Bin: ffmpeg, Args: []string{"-hide_banner", "-nostdin", "-filters"}, Stdout: &out, WaitDelay: time.Second}).Run(ctx); err != nil {
		return false
	}
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[1] == "libvmaf" {
			return true
		}
	}
	return false
}
