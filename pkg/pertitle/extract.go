package pertitle

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/pertitle/pertitle/pkg/media"
)

// normalizeFilter brings a source to display size, limited range, 4:2:0.
func normalizeFilter(s *media.Source, w, h int) string {
	rng := "tv"
	if s.Video != nil && s.Video.ColorRange == "pc" {
		rng = "pc"
	}
	return fmt.Sprintf("scale=w=%d:h=%d:flags=bicubic:in_range=%s:out_range=tv,setsar=1,format=yuv420p", w, h, rng)
}

// maxRawPieceBytes bounds a piece kept as raw video: 2 s of 1080p30 4:2:0
// is 187 MB. Larger pieces are kept as lossless H.264 instead.
const maxRawPieceBytes = 256 << 20

// rawBytes is the size of secs seconds of w×h 4:2:0 8-bit video at fps.
func rawBytes(w, h int, fps, secs float64) float64 {
	return float64(w*h) * 1.5 * fps * secs
}

// extract cuts piece i out of the source losslessly, normalised to display
// size, limited range and 4:2:0: the grid encodes read it and the quality
// filters compare against it, so the source is decoded (and sought) once per
// piece, not once per grid point. The piece is raw video when it is small
// enough (reading it back costs nothing, whereas every grid size and every
// scoring run would decode a lossless H.264 piece again, a large share of
// the analysis: docs/benchmarks.md, "Numbers behind the engine's comments"),
// else (or when compact: the piece is for another process) x264 -qp 0.
func (a *analyzer) extract(ctx context.Context, src string, i int, p *piece, compact bool) error {
	dw, dh := a.src.DisplaySize()
	dw, dh = dw&^1, dh&^1
	codec := []string{"-c:v", "rawvideo"}
	p.path = filepath.Join(a.dir, fmt.Sprintf("piece%d.nut", i))
	if compact || rawBytes(dw, dh, a.fps, p.secs) > maxRawPieceBytes {
		codec = []string{"-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-threads", "1"}
		p.path = filepath.Join(a.dir, fmt.Sprintf("piece%d.mkv", i))
	}
	args := append([]string{"-nostdin", "-hide_banner", "-nostats", "-v", "error", "-y"},
		media.InputArgs(src, media.SourceFormats, "-ss", strconv.FormatFloat(p.start, 'f', 3, 64))...)
	args = append(args, "-t", strconv.FormatFloat(p.secs, 'f', 3, 64),
		"-map", "0:v:0", "-an", "-sn", "-dn", "-vf", normalizeFilter(a.src, dw, dh))
	args = append(append(args, codec...), "-progress", "pipe:1", p.path)
	frames, cpu, err := runFFmpeg(ctx, a.opt.FFmpeg, args)
	a.addCPU("extract", cpu)
	if err != nil {
		return fmt.Errorf("pertitle: cannot extract sample %d: %w", i, err)
	}
	p.frames = frames
	if p.frames <= 0 {
		return fmt.Errorf("pertitle: sample %d at %.1fs has no frames", i, p.start)
	}
	p.secs = float64(p.frames) / a.fps
	p.ref = &media.Source{Duration: p.secs, Video: &media.VideoStream{Width: dw, Height: dh, FrameRate: a.fps, ColorRange: "tv"}}
	return nil
}

// extractAll extracts every sampled piece (compact: as lossless H.264 for
// other processes), at most AnalysisWorkers at once.
func (a *analyzer) extractAll(ctx context.Context, src string, pieces []*piece, compact bool) error {
	return runPool(ctx, a.opt.AnalysisWorkers, len(pieces), func(ctx context.Context, i int) error {
		err := a.extract(ctx, src, i, pieces[i], compact)
		a.step()
		return err
	})
}
