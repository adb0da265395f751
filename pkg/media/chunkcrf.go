package media

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// maxCRF is x264's highest CRF (8-bit).
const maxCRF = 51

// checkChunkCRFs checks a chunk's per-rung CRF override: nil, or one CRF
// in (0, 51] per rung, none for a lossless rung.
func checkChunkCRFs(ladder []Rung, crfs []float64) error {
	if crfs == nil {
		return nil
	}
	if len(crfs) != len(ladder) {
		return fmt.Errorf("%d CRFs for %d rungs", len(crfs), len(ladder))
	}
	for i, c := range crfs {
		if !(c > 0 && c <= maxCRF) {
			return fmt.Errorf("rung %d: CRF %g is not in (0, %d]", i, c, maxCRF)
		}
		if ladder[i].Lossless {
			return fmt.Errorf("rung %d: a lossless rung takes no CRF", i)
		}
	}
	return nil
}

// checkChunks checks an encode's per-chunk CRFs: chunks numbered in order,
// contiguous from the first frame, each with a CRF per rung, and ending at
// the source's last frame when the probe counted them.
func (req *EncodeRequest) checkChunks() error {
	if len(req.Chunks) == 0 && len(req.ChunkCRFs) == 0 {
		return nil
	}
	switch {
	case len(req.Chunks) == 0:
		return errors.New("media: encode: ChunkCRFs without Chunks")
	case len(req.ChunkCRFs) != len(req.Chunks):
		return fmt.Errorf("media: encode: %d chunks but CRFs for %d", len(req.Chunks), len(req.ChunkCRFs))
	case req.TwoPass:
		return errors.New("media: encode: per-chunk CRFs and TwoPass exclude each other")
	}
	var next int64
	for k, c := range req.Chunks {
		if c.Index != k || c.First != next || c.Frames <= 0 {
			return fmt.Errorf("media: encode: chunk %d (index %d, frames %d+%d) does not follow on frame %d", k, c.Index, c.First, c.Frames, next)
		}
		next = c.First + c.Frames
		if req.ChunkCRFs[k] == nil {
			return fmt.Errorf("media: encode: chunk %d has no CRFs", k)
		}
		if err := checkChunkCRFs(req.Ladder, req.ChunkCRFs[k]); err != nil {
			return fmt.Errorf("media: encode: chunk %d: %w", k, err)
		}
	}
	if n := req.Source.Video.Frames; n > 0 && next != n {
		return fmt.Errorf("media: encode: the chunks hold %d frames, the source %d", next, n)
	}
	if _, err := TimingOf(req.Source, req.SegmentSeconds); err != nil {
		return fmt.Errorf("media: encode: per-chunk CRFs: %w", err)
	}
	return nil
}

// encodeChunks is Encode with per-chunk CRFs: every chunk is cut from the
// source by stream copy and encoded on its own at its CRFs (EncodeChunk),
// the audio once for the whole title, then Package joins and packages
// them. One ffmpeg over the whole title has one CRF per rung; a per-shot
// ladder needs one per chunk.
func encodeChunks(ctx context.Context, req *EncodeRequest) (*Output, error) {
	start := time.Now()
	work, err := os.MkdirTemp(filepath.Dir(filepath.Clean(req.OutDir)), "."+filepath.Base(req.OutDir)+".chunks-")
	if err != nil {
		return nil, fmt.Errorf("media: encode: %w", err)
	}
	defer os.RemoveAll(work)
	files, cpu, err := encodeEachChunk(ctx, req, work)
	if err != nil {
		return nil, err
	}
	audio := ""
	if req.Source.HasAudio() {
		audio = filepath.Join(work, "audio.mp4")
		c, err := EncodeAudio(ctx, req.FFmpeg, req.SourcePath, audio)
		cpu += c
		if err != nil {
			return nil, err
		}
	}
	out, err := Package(ctx, PackageRequest{FFmpeg: req.FFmpeg, Source: req.Source, Ladder: req.Ladder, Chunks: files,
		Audio: audio, OutDir: req.OutDir, SegmentSeconds: req.SegmentSeconds})
	if err != nil {
		return nil, err
	}
	if req.Progress != nil {
		req.Progress(Progress{Percent: 100, ChunksDone: len(req.Chunks), Chunks: len(req.Chunks)})
	}
	out.EncodeSeconds, out.CPUTime = time.Since(start).Seconds(), cpu+out.CPUTime
	return out, nil
}

// encodeEachChunk cuts and encodes every chunk of req into work, and returns
// each rung's chunk files in order and the CPU time spent.
func encodeEachChunk(ctx context.Context, req *EncodeRequest, work string) ([][]string, time.Duration, error) {
	t, err := TimingOf(req.Source, req.SegmentSeconds)
	if err != nil {
		return nil, 0, fmt.Errorf("media: encode: %w", err)
	}
	last := req.Chunks[len(req.Chunks)-1]
	total := float64(last.First + last.Frames)
	files := make([][]string, len(req.Ladder))
	var cpu time.Duration
	start := time.Now()
	for k, c := range req.Chunks {
		piece := filepath.Join(work, fmt.Sprintf("piece-%d.mkv", k))
		if err := CutPiece(ctx, req.FFmpeg, req.SourcePath, t, c, piece); err != nil {
			return nil, cpu, err
		}
		// Chunks share 0..99 of the progress by frames; packaging is the rest.
		from, to := 99*float64(c.First)/total, 99*float64(c.First+c.Frames)/total
		dir := filepath.Join(work, fmt.Sprintf("chunk-%d", k))
		out, err := EncodeChunk(ctx, ChunkRequest{FFmpeg: req.FFmpeg, Piece: piece, Source: req.Source, Timing: t,
			Chunk: c, Ladder: req.Ladder, CRFs: req.ChunkCRFs[k], Preset: req.Preset, OutDir: dir,
			Progress: chunkShare(req.Progress, start, from, to, k, len(req.Chunks))})
		if err != nil {
			return nil, cpu, err
		}
		cpu += out.CPU
		for i, f := range out.Files {
			files[i] = append(files[i], filepath.Join(dir, f))
		}
		if err := os.Remove(piece); err != nil {
			return nil, cpu, fmt.Errorf("media: encode: %w", err)
		}
	}
	return files, cpu, nil
}

// chunkShare maps chunk k's progress onto from..to of the whole encode and
// counts the chunks done; it never reports 100 (packaging is left).
// The ETA is the title's, from the time taken so far (start).
func chunkShare(fn func(Progress), start time.Time, from, to float64, k, chunks int) func(Progress) {
	if fn == nil {
		return nil
	}
	scaled := scaledProgress(func(p Progress) {
		p.ETA = 0
		if p.Percent > 0 {
			p.ETA = time.Duration(float64(time.Since(start)) * (100 - p.Percent) / p.Percent)
		}
		fn(p)
	}, from, to)
	return func(p Progress) {
		p.ChunksDone, p.Chunks = k, chunks
		if p.Percent >= 100 {
			p.ChunksDone = k + 1
		}
		scaled(p)
	}
}
