package pertitle

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func ladderString(rs []Rung) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%dx%d@%d", r.Width, r.Height, r.Bitrate/1000))
	}
	return out
}

func TestAppleLadder(t *testing.T) {
	t.Parallel()
	apple := []string{"1920x1080@7800", "1920x1080@6000", "1280x720@4500", "1280x720@3000", "960x540@2000", "768x432@1100", "768x432@730", "640x360@365", "416x234@145"}
	tests := []struct {
		name string
		w, h int
		want []string
	}{
		{"1080p: the whole specification ladder", 1920, 1080, apple},
		{"unknown size: the 16:9 ladder", 0, 0, apple},
		{"4K: nothing above 1080p is invented", 3840, 2160, apple},
		{"720p: capped, no upscaling", 1280, 720, apple[2:]},
		{"360p", 640, 360, apple[7:]},
		{"854x480: top rung capped at the source size", 854, 480, []string{"854x480@2000", "768x432@1100", "768x432@730", "640x360@365", "416x234@145"}},
		{"720x400 (9:5)", 720, 400, []string{"720x400@730", "648x360@365", "420x234@145"}},
		{"4:3 keeps the short side", 1440, 1080, []string{"1440x1080@7800", "1440x1080@6000", "960x720@4500", "960x720@3000", "720x540@2000", "576x432@1100", "576x432@730", "480x360@365", "312x234@145"}},
		{"portrait 9:16", 1080, 1920, []string{"1080x1920@7800", "1080x1920@6000", "720x1280@4500", "720x1280@3000", "540x960@2000", "432x768@1100", "432x768@730", "360x640@365", "234x416@145"}},
		{"odd source size: even dimensions", 853, 481, []string{"852x480@2000", "766x432@1100", "766x432@730", "638x360@365", "414x234@145"}},
		{"tiny source: one rung at its size", 320, 180, []string{"320x180@145"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := AppleLadder(tt.w, tt.h)
			assert.Equal(t, tt.want, ladderString(got))
			for i, r := range got {
				assert.NotEmpty(t, r.Why)
				assert.Zero(t, r.Width%2)
				assert.Zero(t, r.Height%2)
				if tt.w > 0 {
					assert.LessOrEqual(t, r.Width, tt.w)
					assert.LessOrEqual(t, r.Height, tt.h)
				}
				if i > 0 {
					assert.Less(t, r.Bitrate, got[i-1].Bitrate)
				}
			}
		})
	}
}
