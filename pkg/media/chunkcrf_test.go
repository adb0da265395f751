package media_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pershot"
)

// TestEncodeChunkCRFsRejectsBadShapes: per-chunk CRFs of the wrong shape are
// errors before anything runs.
func TestEncodeChunkCRFsRejectsBadShapes(t *testing.T) {
	t.Parallel()
	src := &media.Source{Duration: 12, Video: &media.VideoStream{Width: 320, Height: 180, FrameRate: 25,
		RateNum: 25, RateDen: 1, ConstantRate: true, Frames: 300}}
	ladder := []media.Rung{{Width: 320, Height: 180, Bitrate: 500_000, CRF: 23}, {Width: 160, Height: 90, Bitrate: 200_000, CRF: 23}}
	three := []media.Chunk{{Index: 0, First: 0, Frames: 100}, {Index: 1, First: 100, Frames: 100}, {Index: 2, First: 200, Frames: 100}}
	good := [][]float64{{20, 22}, {30, 32}, {25, 27}}
	vfr := *src
	vfrVideo := *src.Video
	vfrVideo.ConstantRate = false
	vfr.Video = &vfrVideo
	tests := []struct {
		name   string
		src    *media.Source
		chunks []media.Chunk
		crfs   [][]float64
		two    bool
		want   string
	}{
		{"CRFs without chunks", src, nil, good, false, "without Chunks"},
		{"chunks without CRFs", src, three, nil, false, "3 chunks but CRFs for 0"},
		{"fewer CRF rows", src, three, good[:2], false, "3 chunks but CRFs for 2"},
		{"a row short of a rung", src, three, [][]float64{{20, 22}, {30}, {25, 27}}, false, "chunk 1: 1 CRFs for 2 rungs"},
		{"a nil row", src, three, [][]float64{{20, 22}, nil, {25, 27}}, false, "chunk 1 has no CRFs"},
		{"CRF 0", src, three, [][]float64{{20, 22}, {0, 30}, {25, 27}}, false, "CRF 0 is not"},
		{"CRF over 51", src, three, [][]float64{{20, 22}, {30, 30}, {25, 60}}, false, "CRF 60 is not"},
		{"NaN CRF", src, three, [][]float64{{20, 22}, {30, 30}, {25, nan()}}, false, "CRF NaN is not"},
		{"a gap", src, []media.Chunk{three[0], {Index: 1, First: 101, Frames: 99}, three[2]}, good, false, "does not follow on frame 100"},
		{"an overlap", src, []media.Chunk{three[0], {Index: 1, First: 90, Frames: 110}, three[2]}, good, false, "does not follow on frame 100"},
		{"out of order", src, []media.Chunk{three[1], three[0], three[2]}, good, false, "does not follow"},
		{"short of the source", src, three[:2], good[:2], false, "hold 200 frames, the source 300"},
		{"two-pass", src, three, good, true, "TwoPass"},
		{"variable frame rate", &vfr, three, good, false, "variable frame rate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rungs := ladder
			if tc.two {
				rungs = []media.Rung{{Width: 320, Height: 180, Bitrate: 500_000}, {Width: 160, Height: 90, Bitrate: 200_000}}
			}
			out := filepath.Join(t.TempDir(), "out")
			_, err := media.Encode(context.Background(), media.EncodeRequest{SourcePath: "/nonexistent.mp4", Source: tc.src,
				OutDir: out, Ladder: rungs, Chunks: tc.chunks, ChunkCRFs: tc.crfs, TwoPass: tc.two})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			_, statErr := os.Stat(out)
			assert.True(t, os.IsNotExist(statErr), "nothing is written for a refused request")
		})
	}
}

func nan() float64 { v, _ := strconv.ParseFloat("NaN", 64); return v }

// TestEncodeChunkCRFs: a three-scene title encoded with a different CRF per
// chunk in each rung keeps every frame, its keyframes on segment starts, one
// set of parameter sets per rung (the chunks' own, none in band), and its
// VBV cap across the joins.
func TestEncodeChunkCRFs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := testmedia.Scenes(t, testmedia.ScenesSpec{Width: 320, Height: 180, Rate: "25", Scenes: []float64{4, 4, 4}, Audio: true})
	s, err := media.Probe(ctx, "ffprobe", src)
	require.NoError(t, err)
	ladder := []media.Rung{
		{Width: 320, Height: 180, Bitrate: 400_000, CRF: 23},
		{Width: 160, Height: 90, Bitrate: 150_000, CRF: 23},
	}
	chunks := []media.Chunk{{Index: 0, First: 0, Frames: 100}, {Index: 1, First: 100, Frames: 100}, {Index: 2, First: 200, Frames: 100}}
	// Two dear chunks, both held by the VBV cap, then a cheap one: the
	// second dear chunk starts at x264's initial buffer fullness while the
	// first left the buffer drained, the hardest join.
	crfs := [][]float64{{16, 18}, {14, 16}, {38, 40}}
	dir := filepath.Join(t.TempDir(), "out")
	var last media.Progress
	out, err := media.Encode(ctx, media.EncodeRequest{SourcePath: src, Source: s, OutDir: dir, Ladder: ladder,
		Chunks: chunks, ChunkCRFs: crfs, Progress: func(p media.Progress) {
			assert.GreaterOrEqual(t, p.Percent, last.Percent, "progress never goes back")
			last = p
		}})
	require.NoError(t, err)
	assert.Equal(t, 100.0, last.Percent)
	assert.Equal(t, 3, last.ChunksDone)
	require.NotNil(t, out.Audio)
	require.Len(t, out.Renditions, 2)
	assert.Positive(t, out.CPUTime)

	ref := chunkParameterSets(t, src, s, ladder, chunks, crfs)
	for i, r := range ladder {
		rd := out.Renditions[i]
		joinedFile := joined(t, dir, rd.Playlist)
		sizes, keys := packets(t, joinedFile)
		require.Len(t, sizes, 300, "rung %d: every frame, once", i)
		for n, k := range keys {
			assert.Equal(t, n%50 == 0, k, "rung %d frame %d: keyframes exactly on segment starts", i, n)
		}
		assertOneParameterSet(t, dir, rd.Playlist, ref[i], i)
		maxRate, bufSize := media.VBV(r)
		window := int(float64(bufSize) / float64(maxRate) * 25)
		for _, c := range chunks[1:] {
			j := int(c.First)
			excess := pershot.VBVExcess(sizes[max(0, j-window):min(len(sizes), j+window)], 25, maxRate, bufSize)
			t.Logf("rung %d, join at frame %d: VBV excess %.0f bits (buffer %d); %d and %d bit/s (cap %d) the 2 s before and after",
				i, j, excess, bufSize, rate(sizes[j-50:j]), rate(sizes[j:j+50]), maxRate)
			assert.LessOrEqual(t, excess, 0.02*float64(bufSize), "rung %d: the VBV holds across the join at frame %d", i, j)
		}
	}
}

// chunkParameterSets encodes each chunk alone, as a worker would, and
// checks that a rung's chunks at different CRFs have one avcC, which it
// returns per rung.
func chunkParameterSets(t *testing.T, src string, s *media.Source, ladder []media.Rung, chunks []media.Chunk, crfs [][]float64) [][]byte {
	t.Helper()
	ctx := context.Background()
	tm, err := media.TimingOf(s, 2)
	require.NoError(t, err)
	work := t.TempDir()
	ref := make([][]byte, len(ladder))
	for k, c := range chunks {
		piece := filepath.Join(work, fmt.Sprintf("piece-%d.mkv", k))
		require.NoError(t, media.CutPiece(ctx, "ffmpeg", src, tm, c, piece))
		cdir := filepath.Join(work, fmt.Sprintf("chunk-%d", k))
		co, err := media.EncodeChunk(ctx, media.ChunkRequest{Piece: piece, Source: s, Timing: tm, Chunk: c, Ladder: ladder, CRFs: crfs[k], OutDir: cdir})
		require.NoError(t, err)
		for i, f := range co.Files {
			avcC, err := media.MoovAVCC(filepath.Join(cdir, f))
			require.NoError(t, err)
			require.NotEmpty(t, avcC, "chunk %d rung %d has an avcC", k, i)
			if k == 0 {
				ref[i] = avcC
			}
			assert.Equal(t, ref[i], avcC, "rung %d: chunk %d at CRF %g has chunk 0's parameter sets (CRF %g)", i, k, crfs[k][i], crfs[0][i])
		}
	}
	return ref
}

// assertOneParameterSet: the rendition's sample entry carries the chunks'
// avcC and no media segment carries an SPS or PPS in band.
func assertOneParameterSet(t *testing.T, dir, playlist string, want []byte, rung int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, playlist))
	require.NoError(t, err)
	var segs int
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "#EXT-X-MAP:URI=") {
			got, err := media.MoovAVCC(filepath.Join(dir, strings.Trim(strings.TrimPrefix(line, "#EXT-X-MAP:URI="), `"`)))
			require.NoError(t, err)
			assert.Equal(t, want, got, "rung %d: the sample entry is the chunks' own", rung)
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, line))
		require.NoError(t, err)
		nals := media.MdatNALTypes(data)
		require.NotEmpty(t, nals, "segment %s has video", line)
		assert.NotContains(t, nals, 7, "rung %d %s: no SPS in band", rung, line)
		assert.NotContains(t, nals, 8, "rung %d %s: no PPS in band", rung, line)
		segs++
	}
	assert.Equal(t, 6, segs, "rung %d: six 2 s segments", rung)
}

// packets lists the video packets of a file in decode order: their sizes
// in bits and whether each is a keyframe.
func packets(t *testing.T, path string) (bits []int64, keys []bool) {
	t.Helper()
	out := run(t, "ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=size,flags", "-of", "csv=p=0", path)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		size, flags, ok := strings.Cut(line, ",")
		require.True(t, ok, "packet line %q", line)
		n, err := strconv.ParseInt(size, 10, 64)
		require.NoError(t, err)
		bits = append(bits, 8*n)
		keys = append(keys, strings.Contains(flags, "K"))
	}
	return bits, keys
}

// rate is the bitrate of frames (bits each) at 25 frames/s.
func rate(frames []int64) int64 {
	var sum int64
	for _, b := range frames {
		sum += b
	}
	return sum * 25 / int64(len(frames))
}
