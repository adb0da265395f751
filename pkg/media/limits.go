package media

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Limits bound what a source may claim to be. Headers are cheap to forge: a
// 1.7 KB file with three frames, the last stamped at ten hours, probes as a
// 36,000 s title at 0.000083 fps, and the encoder would then duplicate frames
// for ten hours on every rung. Each bound below refuses one such lie (or one
// honest file too costly to take) before any decoding.
type Limits struct {
	// MaxDuration is the longest title accepted.
	MaxDuration time.Duration
	// MaxPixels bounds width × height of the picture.
	MaxPixels int64
	// MinSide is the smallest width or height.
	MinSide int
	// MaxAspect bounds the longer side over the shorter one (display size).
	MaxAspect float64
	// MinFrameRate and MaxFrameRate bound the average frame rate, measured as
	// frames per second of duration where the container counts frames.
	MinFrameRate, MaxFrameRate float64
	// MaxFrameRateRatio bounds how far the nominal frame rate (r_frame_rate)
	// may exceed the average one: variable frame rate phones stay within 4,
	// a file whose few frames are spread over hours does not.
	MaxFrameRateRatio float64
	// MinBytesPerSecond is the least data per second of duration: no codec
	// describes a second of real video in a few bytes.
	MinBytesPerSecond float64
	// MaxStreams bounds the number of streams of the container.
	MaxStreams int
}

// DefaultLimits are generous for real titles (up to 8K, four hours, 240 fps)
// and refuse the forged ones.
func DefaultLimits() Limits {
	return Limits{
		MaxDuration:       4 * time.Hour,
		MaxPixels:         8192 * 4320,
		MinSide:           16,
		MaxAspect:         4,
		MinFrameRate:      1,
		MaxFrameRate:      240,
		MaxFrameRateRatio: 10,
		MinBytesPerSecond: 125, // 1 kbit/s
		MaxStreams:        16,
	}
}

// Validate reports impossible limits.
func (l Limits) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(l.MaxDuration > 0, "maximum duration %s must be positive", l.MaxDuration)
	check(l.MaxPixels >= 64*64, "maximum pixels %d must be at least 64x64", l.MaxPixels)
	check(l.MinSide >= 2, "minimum side %d must be at least 2", l.MinSide)
	check(l.MaxAspect >= 1, "maximum aspect ratio %g must be at least 1", l.MaxAspect)
	check(l.MinFrameRate > 0 && l.MaxFrameRate > l.MinFrameRate, "frame rate bounds %g..%g must be positive and increasing", l.MinFrameRate, l.MaxFrameRate)
	check(l.MaxFrameRateRatio >= 1, "maximum frame rate ratio %g must be at least 1", l.MaxFrameRateRatio)
	check(l.MinBytesPerSecond >= 0, "minimum bytes per second %g must not be negative", l.MinBytesPerSecond)
	check(l.MaxStreams >= 1, "maximum streams %d must be at least 1", l.MaxStreams)
	return errors.Join(errs...)
}

// withDefaults fills the zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	def := func(v *float64, dv float64) {
		if *v == 0 {
			*v = dv
		}
	}
	if l.MaxDuration == 0 {
		l.MaxDuration = d.MaxDuration
	}
	if l.MaxPixels == 0 {
		l.MaxPixels = d.MaxPixels
	}
	if l.MinSide == 0 {
		l.MinSide = d.MinSide
	}
	if l.MaxStreams == 0 {
		l.MaxStreams = d.MaxStreams
	}
	def(&l.MaxAspect, d.MaxAspect)
	def(&l.MinFrameRate, d.MinFrameRate)
	def(&l.MaxFrameRate, d.MaxFrameRate)
	def(&l.MaxFrameRateRatio, d.MaxFrameRateRatio)
	def(&l.MinBytesPerSecond, d.MinBytesPerSecond)
	return l
}

// Check refuses a probed source outside the limits with an *InvalidSourceError
// that names the bound. Zero fields take DefaultLimits.
func (l Limits) Check(s *Source) error {
	l = l.withDefaults()
	if s == nil || s.Video == nil {
		return invalid("no video stream")
	}
	// The lies first: a forged duration is better explained as one than as
	// a title too long.
	if err := l.checkPicture(s); err != nil {
		return err
	}
	if err := l.checkFrameRate(s); err != nil {
		return err
	}
	if bps := float64(s.Size) / s.Duration; s.Size > 0 && bps < l.MinBytesPerSecond {
		return invalid("%d bytes cannot hold %.0f s of video (%.2f bytes per second, under %g): its timestamps are not those of a real video",
			s.Size, s.Duration, bps, l.MinBytesPerSecond)
	}
	if s.Streams > l.MaxStreams {
		return invalid("the file has %d streams, more than the %d accepted", s.Streams, l.MaxStreams)
	}
	if d := time.Duration(s.Duration * float64(time.Second)); d > l.MaxDuration {
		return invalid("the video lasts %s, longer than the %s accepted", d.Round(time.Second), l.MaxDuration)
	}
	return nil
}

func (l Limits) checkPicture(s *Source) error {
	v := s.Video
	if px := int64(v.Width) * int64(v.Height); px > l.MaxPixels {
		return invalid("the picture is %dx%d (%d pixels), more than the %d accepted", v.Width, v.Height, px, l.MaxPixels)
	}
	if min(v.Width, v.Height) < l.MinSide {
		return invalid("the picture is %dx%d, smaller than %d pixels on a side", v.Width, v.Height, l.MinSide)
	}
	w, h := s.DisplaySize()
	if w <= 0 || h <= 0 {
		return invalid("the picture has no display size")
	}
	if a := float64(max(w, h)) / float64(min(w, h)); a > l.MaxAspect {
		return invalid("the picture is %dx%d, an aspect ratio of %.1f:1, beyond the %g:1 accepted", w, h, a, l.MaxAspect)
	}
	return nil
}

func (l Limits) checkFrameRate(s *Source) error {
	v := s.Video
	avg := v.FrameRate
	if v.Frames > 0 && s.Duration > 0 {
		// The container counts its frames: frames per second of duration is
		// what the encoder will really face.
		avg = float64(v.Frames) / s.Duration
	}
	switch {
	case avg <= 0 || math.IsNaN(avg):
		return invalid("the frame rate is unknown")
	case avg < l.MinFrameRate:
		return invalid("%.6g frames per second of duration, under the %g accepted: its timestamps are spread far beyond its frames", avg, l.MinFrameRate)
	case avg > l.MaxFrameRate:
		return invalid("%.6g frames per second, over the %g accepted", avg, l.MaxFrameRate)
	}
	if n := v.NominalFrameRate; n > 0 && n <= l.MaxFrameRate && n/avg > l.MaxFrameRateRatio {
		return invalid("nominal frame rate %.6g against an average of %.6g frames per second: more than %g times apart", n, avg, l.MaxFrameRateRatio)
	}
	return nil
}
