package pershot

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/pertitle"
)

// TestFromPiece: a piece grid becomes the shot's candidates; cells not
// encoded are skipped, and a grid that cannot be read is an error.
func TestFromPiece(t *testing.T) {
	t.Parallel()
	task := pertitle.PieceTask{Sizes: [][2]int{{1280, 720}, {640, 360}}, CRFs: []float64{22, 28, 34}, Metric: pertitle.MetricVMAF}
	vmaf := func(q float64) map[pertitle.Metric]float64 {
		return map[pertitle.Metric]float64{pertitle.MetricVMAF: q}
	}
	res := &pertitle.PieceResult{Cells: [][]pertitle.PieceCell{
		{{Bits: 4_000_000, Seconds: 2, Scores: vmaf(95)}, {}, {Bits: 1_000_000, Seconds: 2, Scores: vmaf(80)}},
		{{}, {Bits: 600_000, Seconds: 1.5, Scores: vmaf(70)}, {}},
	}}
	got, err := FromPiece(task, res)
	require.NoError(t, err)
	require.Len(t, got, 3)
	assert.Equal(t, [4]any{1280, 22.0, int64(2_000_000), 95.0}, [4]any{got[0].Width, got[0].CRF, got[0].Bitrate, got[0].Quality})
	assert.Equal(t, [4]any{1280, 34.0, int64(500_000), 80.0}, [4]any{got[1].Width, got[1].CRF, got[1].Bitrate, got[1].Quality})
	assert.Equal(t, [4]any{360, 28.0, int64(400_000), 70.0}, [4]any{got[2].Height, got[2].CRF, got[2].Bitrate, got[2].Quality})
	assert.Equal(t, pertitle.MetricVMAF, got[2].Metric)

	// The candidates feed the allocation directly.
	a, err := Allocate([]Shot{{Seconds: 2, Candidates: got}}, Target{Bitrate: 600_000})
	require.NoError(t, err)
	assert.Equal(t, 34.0, a.Choices[0].CRF, "the best candidate under 600 kbit/s")

	bad := map[string]*pertitle.PieceResult{
		"no result":         nil,
		"a size missing":    {Cells: res.Cells[:1]},
		"a CRF missing":     {Cells: [][]pertitle.PieceCell{res.Cells[0][:2], res.Cells[1]}},
		"no score":          {Cells: [][]pertitle.PieceCell{{{Bits: 1, Seconds: 1}, {}, {}}, {{}, {}, {}}}},
		"another metric":    {Cells: [][]pertitle.PieceCell{{{Bits: 1, Seconds: 1, Scores: map[pertitle.Metric]float64{pertitle.MetricSSIM: 0.9}}, {}, {}}, {{}, {}, {}}}},
		"bits over no time": {Cells: [][]pertitle.PieceCell{{{Bits: 1, Scores: vmaf(50)}, {}, {}}, {{}, {}, {}}}},
	}
	for name, r := range bad {
		_, err := FromPiece(task, r)
		assert.Error(t, err, name)
	}
}
