package media_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/media"
)

func TestPlanChunks(t *testing.T) {
	t.Parallel()
	pal := media.Timing{RateNum: 25, RateDen: 1, SegmentSeconds: 2}
	ntsc := media.Timing{RateNum: 30000, RateDen: 1001, SegmentSeconds: 2}
	firsts := func(cs []media.Chunk) []int64 {
		var out []int64
		for _, c := range cs {
			out = append(out, c.First)
		}
		return out
	}
	tests := []struct {
		name   string
		t      media.Timing
		total  int64
		chunk  float64
		cuts   []float64
		firsts []int64
	}{
		{"even split, remainder joins the last", pal, 1003, 8, nil, []int64{0, 200, 400, 600, 800}},
		{"shorter than two chunks: whole", pal, 399, 8, nil, []int64{0}},
		{"just two chunks", pal, 425, 8, nil, []int64{0, 200}},
		{"boundaries on 29.97 segment starts", ntsc, 1202, 8, nil, []int64{0, 240, 480, 720, 960}},
		{"a cut near a boundary pulls it", pal, 1003, 8, []float64{10.1, 23.2}, []int64{0, 250, 400, 600, 800}},
		{"a cut far from boundaries does not", pal, 1003, 8, []float64{12.9}, []int64{0, 200, 400, 600, 800}},
	}
	for _, tc := range tests {
		cs := media.PlanChunks(tc.t, tc.total, tc.chunk, tc.cuts)
		assert.Equal(t, tc.firsts, firsts(cs), tc.name)
		var sum int64
		for i, c := range cs {
			assert.Equal(t, i, c.Index, tc.name)
			assert.Equal(t, sum, c.First, "%s: chunks are contiguous", tc.name)
			sum += c.Frames
			onSegment := false
			for n := 0; tc.t.SegmentStart(n) <= c.First; n++ {
				onSegment = onSegment || tc.t.SegmentStart(n) == c.First
			}
			assert.True(t, onSegment, "%s: chunk %d starts on a segment", tc.name, i)
		}
		assert.Equal(t, tc.total, sum, "%s: every frame in one chunk", tc.name)
	}
}

// encodeChunked runs a title through the chunked path as the workers would,
// each chunk from its own piece in its own directory.
func encodeChunked(t *testing.T, src string, ladder []media.Rung, chunkSeconds float64) (*media.Output, string, []media.Chunk) {
	t.Helper()
	ctx := context.Background()
	s, err := media.Probe(ctx, "ffprobe", src)
	require.NoError(t, err)
	tm, err := media.TimingOf(s, 2)
	require.NoError(t, err)
	total := s.Video.Frames
	if total == 0 {
		total, err = media.CountFrames(ctx, "ffprobe", src)
		require.NoError(t, err)
	}
	chunks := media.PlanChunks(tm, total, chunkSeconds, nil)
	work := t.TempDir()
	files := make([][]string, len(ladder))
	for _, c := range chunks {
		dir := filepath.Join(work, fmt.Sprintf("chunk-%d", c.Index))
		piece := filepath.Join(work, fmt.Sprintf("piece-%d.mkv", c.Index))
		require.NoError(t, media.CutPiece(ctx, "ffmpeg", src, tm, c, piece))
		out, err := media.EncodeChunk(ctx, media.ChunkRequest{Piece: piece, Source: s, Timing: tm, Chunk: c, Ladder: ladder, OutDir: dir})
		require.NoError(t, err, "chunk %d", c.Index)
		for i, f := range out.Files {
			files[i] = append(files[i], filepath.Join(dir, f))
		}
	}
	audio := ""
	if s.HasAudio() {
		audio = filepath.Join(work, "audio.mp4")
		_, err := media.EncodeAudio(ctx, "ffmpeg", src, audio)
		require.NoError(t, err)
	}
	outDir := filepath.Join(work, "out")
	out, err := media.Package(ctx, media.PackageRequest{Source: s, Ladder: ladder, Chunks: files, Audio: audio, OutDir: outDir, SegmentSeconds: 2})
	require.NoError(t, err)
	return out, outDir, chunks
}

// framemd5 lists the checksum of every decoded frame of a file's video.
func framemd5(t *testing.T, path string) []string {
	t.Helper()
	out := run(t, "ffmpeg", "-v", "error", "-i", path, "-map", "0:v:0", "-f", "framemd5", "-")
	var sums []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if line := sc.Text(); !strings.HasPrefix(line, "#") {
			f := strings.Split(line, ",")
			sums = append(sums, strings.TrimSpace(f[len(f)-1]))
		}
	}
	return sums
}

func joined(t *testing.T, dir, playlist string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "joined.mp4")
	f, err := os.Create(p)
	require.NoError(t, err)
	require.NoError(t, media.JoinRendition(dir, playlist, f))
	require.NoError(t, f.Close())
	return p
}

// TestChunkedEncodeIsFrameExact: a title of four scenes with an odd number
// of frames, chunked at 8 s and encoded losslessly, decodes to exactly the
// source's frames, at 25 and at 29.97 frames per second.
func TestChunkedEncodeIsFrameExact(t *testing.T) {
	t.Parallel()
	for _, rate := range []string{"25", "30000/1001"} {
		t.Run(strings.ReplaceAll(rate, "/", "_"), func(t *testing.T) {
			t.Parallel()
			src := testmedia.Scenes(t, testmedia.ScenesSpec{Width: 320, Height: 240, Rate: rate, Scenes: []float64{7.3, 9.1, 11.7, 12.02}, Audio: true})
			want := framemd5(t, src)
			require.Greater(t, len(want), 1000)
			out, dir, chunks := encodeChunked(t, src, []media.Rung{{Width: 320, Height: 240, Bitrate: 1, Lossless: true}}, 8)
			assert.Len(t, chunks, 5)
			got := framemd5(t, joined(t, dir, out.Renditions[0].Playlist))
			require.Equal(t, len(want), len(got), "frame count")
			for i := range want {
				if want[i] != got[i] {
					t.Fatalf("frame %d differs from the source (chunk joins at %v)", i, chunks)
				}
			}
			require.NotNil(t, out.Audio, "the title's audio is packaged")
		})
	}
}

// TestChunkedEncodeMatchesUnchunked: the same title and ladder, chunked and
// not, give the same segments, about the same bits and the same quality, and
// no window of segments at a join holds more than the VBV allows.
func TestChunkedEncodeMatchesUnchunked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := testmedia.Scenes(t, testmedia.ScenesSpec{Width: 640, Height: 360, Rate: "25", Scenes: []float64{9.2, 8.4, 12.4}, Audio: true})
	s, err := media.Probe(ctx, "ffprobe", src)
	require.NoError(t, err)
	ladder := []media.Rung{
		{Width: 640, Height: 360, Bitrate: 1_200_000, CRF: 24, MaxRate: 1_200_000, BufSize: 2_400_000},
		{Width: 320, Height: 180, Bitrate: 400_000, CRF: 26, MaxRate: 600_000, BufSize: 800_000},
	}
	wholeDir := filepath.Join(t.TempDir(), "whole")
	whole, err := media.Encode(ctx, media.EncodeRequest{SourcePath: src, Source: s, OutDir: wholeDir, Ladder: ladder})
	require.NoError(t, err)
	chunked, dir, chunks := encodeChunked(t, src, ladder, 8)
	require.Len(t, chunks, 3)
	var joins []int // segment index of each join
	for _, c := range chunks[1:] {
		joins = append(joins, int(c.First/50))
	}
	for i, r := range ladder {
		w, c := whole.Renditions[i], chunked.Renditions[i]
		assert.InEpsilon(t, w.AverageBitrate, c.AverageBitrate, 0.03, "rung %d: average bitrate", i)
		wd, cd := segments(t, wholeDir, w.Playlist), segments(t, dir, c.Playlist)
		require.Equal(t, len(wd), len(cd), "rung %d: segment count", i)
		for k := range wd {
			assert.InDelta(t, wd[k].seconds, cd[k].seconds, 0.001, "rung %d segment %d: same boundaries", i, k)
		}
		if i > 0 {
			first := segments(t, dir, chunked.Renditions[0].Playlist)
			for k := range cd {
				assert.InDelta(t, first[k].seconds, cd[k].seconds, 0.001, "segment %d aligned across rungs", k)
			}
		}
		ref := ssim(t, joined(t, wholeDir, w.Playlist), src)
		got := ssim(t, joined(t, dir, c.Playlist), src)
		assert.InDelta(t, ref, got, 0.003, "rung %d: SSIM within 0.3 points", i)
		t.Logf("rung %d: average %d (whole) %d (chunked) bit/s, SSIM %.4f %.4f", i, w.AverageBitrate, c.AverageBitrate, ref, got)
		maxRate, bufSize := media.VBV(r)
		for _, j := range joins {
			for _, win := range [][2]int{{j - 1, j}, {j, j + 1}, {j - 1, j + 1}} {
				var bits, secs float64
				for k := win[0]; k < win[1]; k++ {
					bits += float64(cd[k].bytes * 8)
					secs += cd[k].seconds
				}
				assert.LessOrEqual(t, bits, float64(maxRate)*secs+float64(bufSize),
					"rung %d: segments %d..%d at a join stay within the VBV bound", i, win[0], win[1]-1)
			}
		}
	}
}

type segment struct {
	seconds float64
	bytes   int64
}

// segments reads a media playlist: each segment's duration and size.
func segments(t *testing.T, dir, playlist string) []segment {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, playlist))
	require.NoError(t, err)
	var out []segment
	var dur float64
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "#EXTINF:"):
			dur, err = strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(line, "#EXTINF:"), ","), 64)
			require.NoError(t, err)
		case line != "" && !strings.HasPrefix(line, "#"):
			st, err := os.Stat(filepath.Join(dir, line))
			require.NoError(t, err)
			out = append(out, segment{dur, st.Size()})
		}
	}
	return out
}

// ssim scores distorted against reference at the reference's size.
func ssim(t *testing.T, distorted, reference string) float64 {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "info", "-nostats", "-i", distorted, "-i", reference,
		"-lavfi", "[0:v]scale=640:360:flags=bicubic[d];[1:v]setpts=PTS-STARTPTS[r];[d][r]ssim", "-f", "null", "-").CombinedOutput()
	require.NoError(t, err, "%s", out)
	log := string(out)
	i := strings.LastIndex(log, "All:")
	require.GreaterOrEqual(t, i, 0, "no SSIM in %s", log)
	f := strings.Fields(log[i+4:])
	v, err := strconv.ParseFloat(f[0], 64)
	require.NoError(t, err)
	return v
}

// TestCountFramesOfATransportStream: ffprobe lists a transport stream's
// video stream twice (under its program too); the count is the stream's.
func TestCountFramesOfATransportStream(t *testing.T) {
	t.Parallel()
	ts := filepath.Join(t.TempDir(), "clip.ts")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=2",
		"-c:v", "mpeg2video", "-f", "mpegts", ts).CombinedOutput()
	require.NoError(t, err, "%s", out)
	n, err := media.CountFrames(context.Background(), "ffprobe", ts)
	require.NoError(t, err)
	assert.EqualValues(t, 50, n)
}
