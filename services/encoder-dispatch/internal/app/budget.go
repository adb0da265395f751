package app

import (
	"math"
	"time"

	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/media"
)

// Budget bounds how long one job may run on the local backend. Without it a
// file that slipped past the source limits, or an encoder that stalls, holds a
// worker until SQS's twelve-hour in-flight cap hands the message to another
// one, again and again. A job past its deadline fails cleanly with
// EncodingFailed (code DEADLINE_EXCEEDED) and is not retried.
type Budget struct {
	// Base is the time every job gets whatever its size (start-up, probing,
	// uploading outputs).
	Base time.Duration
	// MinPixelRate is the slowest encoding accepted, in pixels per second
	// over every rung (duration × frame rate × Σ width × height).
	MinPixelRate float64
	// Max caps the deadline; keep it under the bus's longest in-flight time
	// (SQS: 12 h), or a longer job is redelivered while it still runs.
	Max time.Duration
}

// DefaultBudget allows jobs about fifty times slower than x264's veryfast
// preset on one core, and never more than eleven hours.
func DefaultBudget() Budget {
	return Budget{Base: 10 * time.Minute, MinPixelRate: 2e6, Max: 11 * time.Hour}
}

// perTitleWork is how many times a ladder's encoding work a per-title or
// per-shot job does: its analysis, the final encode and its scoring, and the
// static comparison ladder when asked for, each bounded by about one encode.
const perTitleWork = 3

// For is job's deadline, counted from its start.
func (b Budget) For(job Job) time.Duration {
	dur := job.Probe.GetDurationSeconds()
	fps := job.Probe.GetFrameRate()
	if fps <= 0 {
		fps = 30
	}
	ladder := job.Ladder
	if len(ladder) == 0 {
		// Per-title, per-shot: the backend chooses the ladder; the fixed one
		// stands for its size.
		ladder = media.BuiltinLadder(&media.Source{Video: &media.VideoStream{Width: int(job.Probe.GetWidth()),
			Height: int(job.Probe.GetHeight()), FrameRate: fps}})
	}
	var px float64
	for _, r := range ladder {
		px += float64(r.Width) * float64(r.Height)
	}
	work := dur * fps * px
	if jobs.Analysed(job.LadderMode) {
		work *= perTitleWork
	}
	d := b.Base
	if b.MinPixelRate > 0 {
		d += time.Duration(math.Min(work/b.MinPixelRate, b.Max.Seconds()) * float64(time.Second))
	}
	if b.Max > 0 && d > b.Max {
		d = b.Max
	}
	return d
}
