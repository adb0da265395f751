package media_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/media"
)

func src(w, h int, mod ...func(*media.VideoStream)) *media.Source {
	v := &media.VideoStream{Codec: "h264", Width: w, Height: h, FrameRate: 30}
	for _, m := range mod {
		m(v)
	}
	return &media.Source{Duration: 10, Video: v}
}

func TestBuiltinLadder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		src     *media.Source
		wantLen int
		wantTop string // "WxH@kbps"
		wantLow string
	}{
		{"1080p", src(1920, 1080), 5, "1920x1080@5000k", "416x234@400k"},
		{"2160p capped at 1080p", src(3840, 2160), 5, "1920x1080@5000k", "416x234@400k"},
		{"720p", src(1280, 720), 4, "1280x720@3000k", "416x234@400k"},
		{"360p", src(640, 360), 2, "640x360@800k", "416x234@400k"},
		{"between steps 800x450", src(800, 450), 2, "640x360@800k", "416x234@400k"},
		{"4:3 480p", src(640, 480), 2, "480x360@800k", "312x234@400k"},
		{"portrait 1080x1920", src(1080, 1920), 5, "1080x1920@5000k", "234x416@400k"},
		{"rotated 1920x1080", src(1920, 1080, func(v *media.VideoStream) { v.Rotation = 90 }), 5, "1080x1920@5000k", "234x416@400k"},
		{"anamorphic 1440x1080 SAR 4:3", src(1440, 1080, func(v *media.VideoStream) { v.SARNum, v.SARDen = 4, 3 }), 5, "1920x1080@5000k", "416x234@400k"},
		{"odd 1279x719", src(1279, 719), 3, "960x540@2000k", "416x234@400k"},
		{"cinemascope 1920x800", src(1920, 800), 4, "1728x720@3000k", "562x234@400k"},
		{"tiny 320x180", src(320, 180), 1, "320x180@236k", "320x180@236k"},
		{"tiny odd 161x91", src(161, 91), 1, "160x90@100k", "160x90@100k"},
		{"nil source", nil, 5, "1920x1080@5000k", "416x234@400k"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ladder := media.BuiltinLadder(tc.src)
			require.Len(t, ladder, tc.wantLen, "%v", ladder)
			assert.Equal(t, tc.wantTop, ladder[0].String())
			assert.Equal(t, tc.wantLow, ladder[len(ladder)-1].String())

			dw, dh := tc.src.DisplaySize()
			if dw == 0 {
				dw, dh = 1920, 1080
			}
			for i, r := range ladder {
				assert.Zero(t, r.Width%2, "rung %d width even", i)
				assert.Zero(t, r.Height%2, "rung %d height even", i)
				assert.LessOrEqual(t, r.Width, dw, "rung %d no upscale", i)
				assert.LessOrEqual(t, r.Height, dh, "rung %d no upscale", i)
				srcAR, ar := float64(dw)/float64(dh), float64(r.Width)/float64(r.Height)
				assert.InDelta(t, 1, ar/srcAR, 0.015, "rung %d aspect %v vs %v", i, ar, srcAR)
				assert.Equal(t, r.Bitrate*3/2, r.MaxRate)
				assert.Equal(t, r.Bitrate*2, r.BufSize)
				assert.Equal(t, "high", r.Profile)
				assert.NotEmpty(t, r.Level)
				if i > 0 {
					prev := ladder[i-1]
					assert.Less(t, r.Bitrate, prev.Bitrate, "bitrates strictly decreasing")
					assert.Less(t, r.Width*r.Height, prev.Width*prev.Height, "sizes strictly decreasing")
				}
			}
		})
	}
}

func TestBuiltinLadderLevels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  *media.Source
		want []string
	}{
		{src(1920, 1080), []string{"4.0", "3.1", "3.1", "3.0", "3.0"}},
		{src(1920, 1080, func(v *media.VideoStream) { v.FrameRate = 60 }), []string{"4.2", "3.2", "3.2", "3.1", "3.0"}},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			var got []string
			for _, r := range media.BuiltinLadder(tc.src) {
				got = append(got, r.Level)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestDisplaySize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  *media.Source
		w, h int
	}{
		{nil, 0, 0},
		{&media.Source{}, 0, 0},
		{src(1920, 1080), 1920, 1080},
		{src(1920, 1080, func(v *media.VideoStream) { v.Rotation = 270 }), 1080, 1920},
		{src(1920, 1080, func(v *media.VideoStream) { v.Rotation = 180 }), 1920, 1080},
		{src(720, 576, func(v *media.VideoStream) { v.SARNum, v.SARDen = 64, 45 }), 1024, 576},
	}
	for _, tc := range tests {
		w, h := tc.src.DisplaySize()
		assert.Equal(t, [2]int{tc.w, tc.h}, [2]int{w, h})
	}
}
