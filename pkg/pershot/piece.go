package pershot

import (
	"fmt"

	"github.com/pertitle/pertitle/pkg/pertitle"
)

// FromPiece turns the grid of one shot's analysis (pertitle.AnalyzePiece
// run on a piece cut from inside the shot) into the shot's candidates: one
// per size and CRF encoded, its bitrate the cell's bits over its seconds
// and its quality the score of the metric the task steers by. Cells not
// encoded (no bits) are skipped; an encoded cell without that score, or a
// grid whose shape is not the task's, is an error rather than a candidate
// at quality zero. Peaks depend on the rung's buffer, so they are left 0
// here; each candidate keeps its encode's bits per picture (FrameBits) for
// Plan to measure them (PeakRate).
func FromPiece(task pertitle.PieceTask, res *pertitle.PieceResult) ([]Candidate, error) {
	if res == nil || len(res.Cells) != len(task.Sizes) {
		return nil, fmt.Errorf("pershot: a piece grid of %d sizes for a task of %d", cellRows(res), len(task.Sizes))
	}
	var out []Candidate
	for si, row := range res.Cells {
		if len(row) != len(task.CRFs) {
			return nil, fmt.Errorf("pershot: size %d of the piece grid has %d CRFs, the task %d", si, len(row), len(task.CRFs))
		}
		for ci, cell := range row {
			if cell.Bits <= 0 {
				continue
			}
			q, ok := cell.Scores[task.Metric]
			if !ok || !(cell.Seconds > 0) {
				return nil, fmt.Errorf("pershot: the piece's %dx%d CRF %g has no %s score over %g s", task.Sizes[si][0], task.Sizes[si][1], task.CRFs[ci], task.Metric, cell.Seconds)
			}
			out = append(out, Candidate{Point: pertitle.Point{
				Width: task.Sizes[si][0], Height: task.Sizes[si][1], CRF: task.CRFs[ci],
				Bitrate: int64(cell.Bits/cell.Seconds + 0.5), Quality: q, Metric: task.Metric,
				Scores: cell.Scores,
			}, FrameBits: cell.FrameBits})
		}
	}
	return out, nil
}

func cellRows(res *pertitle.PieceResult) int {
	if res == nil {
		return 0
	}
	return len(res.Cells)
}
