package pertitle

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wellFormed parses the whole document and returns its element names.
func wellFormed(t *testing.T, b []byte) map[string]int {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	names := map[string]int{}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return names
		}
		require.NoError(t, err)
		if se, ok := tok.(xml.StartElement); ok {
			names[se.Name.Local]++
		}
	}
}

func TestReportSVG(t *testing.T) {
	t.Parallel()
	full := testReport()
	noStatic := testReport()
	noStatic.Static, noStatic.Savings, noStatic.Renditions = nil, nil, nil
	tests := []struct {
		name   string
		r      *Report
		want   []string
		absent []string
	}{
		{"full report", full, []string{"VMAF", "kbit/s", "clip &lt;&amp;&gt;.mp4", "convex hull", "static ladder", "1920x1080", "416x234"}, nil},
		{"without static ladder", noStatic, []string{"VMAF", "convex hull"}, []string{"static ladder"}},
		{"empty report", &Report{}, []string{"no measured points"}, nil},
		{"nil report", nil, []string{"no measured points"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := tt.r.SVG()
			names := wellFormed(t, b)
			assert.Equal(t, 1, names["svg"])
			s := string(b)
			for _, w := range tt.want {
				assert.Contains(t, s, w)
			}
			for _, w := range tt.absent {
				assert.NotContains(t, s, w)
			}
			if tt.r != nil {
				for _, g := range tt.r.Ladder.Rungs {
					assert.Contains(t, s, ">"+RungLabel(g)+"<", "rung labelled")
				}
				if tt.r.Analysis != nil {
					assert.Equal(t, len(tt.r.Analysis.Points), strings.Count(s, `fill-opacity="0.75"`), "one marker per analysed point")
				}
			}
			// Self-contained: no links, images, scripts or styles from elsewhere.
			for _, bad := range []string{"href", "<image", "<script", "url(", "@import"} {
				assert.NotContains(t, s, bad)
			}
			assert.Equal(t, 1, strings.Count(s, "http://"), "only the SVG namespace")
		})
	}
}

func TestRungLabel(t *testing.T) {
	t.Parallel()
	for b, want := range map[int64]string{2_100_000: "1280x720 2.1 Mb/s", 450_000: "1280x720 450 kb/s", 3_000_000: "1280x720 3 Mb/s", 4_350_000: "1280x720 4.35 Mb/s"} {
		assert.Equal(t, want, RungLabel(Rung{Width: 1280, Height: 720, Bitrate: b}))
	}
}
