package settings

import (
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/svc"
)

// SourceLimits reads the bounds on what an uploaded source may be (ingest
// refuses past them; encoder-dispatch checks the probe an event carries).
func SourceLimits(e *svc.Env) media.Limits {
	d := media.DefaultLimits()
	var l media.Limits
	e.Duration(&l.MaxDuration, "PERTITLE_SOURCE_MAX_DURATION", d.MaxDuration, "longest accepted video")
	e.Int64(&l.MaxPixels, "PERTITLE_SOURCE_MAX_PIXELS", d.MaxPixels, "largest accepted picture, width × height")
	e.Int(&l.MinSide, "PERTITLE_SOURCE_MIN_SIDE", d.MinSide, "smallest accepted picture width or height")
	e.Float64(&l.MaxAspect, "PERTITLE_SOURCE_MAX_ASPECT", d.MaxAspect, "widest accepted aspect ratio (long side over short side)")
	e.Float64(&l.MinFrameRate, "PERTITLE_SOURCE_MIN_FPS", d.MinFrameRate, "lowest accepted average frame rate (frames per second of duration)")
	e.Float64(&l.MaxFrameRate, "PERTITLE_SOURCE_MAX_FPS", d.MaxFrameRate, "highest accepted frame rate")
	e.Float64(&l.MaxFrameRateRatio, "PERTITLE_SOURCE_MAX_FPS_RATIO", d.MaxFrameRateRatio, "how many times the nominal frame rate may exceed the average one")
	e.Float64(&l.MinBytesPerSecond, "PERTITLE_SOURCE_MIN_BYTES_PER_SECOND", d.MinBytesPerSecond, "least data per second of duration (a forged duration has almost none)")
	e.Int(&l.MaxStreams, "PERTITLE_SOURCE_MAX_STREAMS", d.MaxStreams, "most streams accepted in one file")
	return l
}
