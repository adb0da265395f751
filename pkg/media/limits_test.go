package media_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/media"
)

func TestLimitsCheck(t *testing.T) {
	t.Parallel()
	ok := func() *media.Source {
		return &media.Source{Duration: 60, Size: 5_000_000, Streams: 2, Video: &media.VideoStream{
			Width: 1280, Height: 720, FrameRate: 30, NominalFrameRate: 30, Frames: 1800}}
	}
	tests := []struct {
		name   string
		mod    func(s *media.Source)
		reason string // "" = accepted
	}{
		{"a real title", func(*media.Source) {}, ""},
		{"variable frame rate phone video", func(s *media.Source) { s.Video.NominalFrameRate = 120; s.Video.Frames = 1790 }, ""},
		{"odd size", func(s *media.Source) { s.Video.Width, s.Video.Height = 641, 359 }, ""},
		{"rotated portrait", func(s *media.Source) { s.Video.Rotation = 90 }, ""},
		{"timestamp bomb", func(s *media.Source) {
			s.Duration, s.Size, s.Video.Frames, s.Video.FrameRate = 36001, 5507, 3, 3.0/36001
		}, "frames per second of duration"},
		{"few frames, plausible declared rate", func(s *media.Source) { s.Duration, s.Video.Frames = 3600, 30 }, "frames per second of duration"},
		{"nominal far above average", func(s *media.Source) { s.Video.NominalFrameRate, s.Video.FrameRate, s.Video.Frames = 240, 2, 0 }, "times apart"},
		{"too long", func(s *media.Source) { s.Duration, s.Size, s.Video.Frames = 5*3600, 1e10, 5*3600*30 }, "longer than"},
		{"huge picture", func(s *media.Source) { s.Video.Width, s.Video.Height = 30000, 30000 }, "pixels"},
		{"tiny picture", func(s *media.Source) { s.Video.Width, s.Video.Height = 8, 8 }, "smaller than"},
		{"extreme aspect", func(s *media.Source) { s.Video.Width, s.Video.Height = 4000, 32 }, "aspect ratio"},
		{"extreme aspect by pixel shape", func(s *media.Source) { s.Video.Width, s.Video.Height, s.Video.SARNum, s.Video.SARDen = 640, 360, 10, 1 }, "aspect ratio"},
		{"absurd frame rate", func(s *media.Source) { s.Video.FrameRate, s.Video.NominalFrameRate, s.Video.Frames = 1000, 1000, 60000 }, "over the 240"},
		{"unknown frame rate", func(s *media.Source) { s.Video.FrameRate, s.Video.Frames = 0, 0 }, "unknown"},
		{"too few bytes for the duration", func(s *media.Source) { s.Size = 2000 }, "bytes per second"},
		{"too many streams", func(s *media.Source) { s.Streams = 40 }, "streams"},
	}
	for _, tc := range tests {
		s := ok()
		tc.mod(s)
		err := media.Limits{}.Check(s)
		if tc.reason == "" {
			assert.NoError(t, err, tc.name)
			continue
		}
		var inv *media.InvalidSourceError
		require.True(t, errors.As(err, &inv), "%s: %v", tc.name, err)
		assert.Contains(t, inv.Reason, tc.reason, tc.name)
	}
}

func TestLimitsValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, media.DefaultLimits().Validate())
	l := media.DefaultLimits()
	l.MaxDuration, l.MinFrameRate, l.MaxFrameRate = 0, 10, 5
	err := l.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "duration")
	assert.Contains(t, err.Error(), "frame rate bounds")
}

// TestTimestampBombIsRefused makes the file of issue 10's second finding: three
// frames, the last stamped at ten hours.
func TestTimestampBombIsRefused(t *testing.T) {
	t.Parallel()
	ffmpeg, ffprobe := tools(t)
	bomb := filepath.Join(t.TempDir(), "bomb.mp4")
	run(t, ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=1:duration=3",
		"-vf", "setpts='if(eq(N,2),36000/TB,PTS)'", "-fps_mode", "passthrough", "-c:v", "libx264", bomb)
	src, err := media.Probe(context.Background(), ffprobe, bomb)
	require.NoError(t, err, "the headers alone are well formed")
	assert.Greater(t, src.Duration, 10*time.Hour.Seconds()-1)
	err = media.Limits{}.Check(src)
	var inv *media.InvalidSourceError
	require.True(t, errors.As(err, &inv), "%v", err)
	assert.Contains(t, inv.Reason, "frames per second of duration")
}
