package pertitle

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/media"
)

// TestGOPParity: the analysis measures bits that the final encode will spend
// only while both cut GOPs the same way. For the same frame rate and segment,
// the grid encodes' x264 GOP flags must be exactly the final encode's, and a
// chunked encode's GOP length flags the same too (its keyframes are listed by
// time on purpose). The final and chunked command lines are the ones media
// really runs, caught by a stand-in ffmpeg that records its arguments.
func TestGOPParity(t *testing.T) {
	t.Parallel()
	cases := []struct {
		num, den int64
		seg      float64
	}{
		{25, 1, 2}, {30000, 1001, 2}, {24000, 1001, 4}, {60, 1, 1}, {50, 1, 6}, {24, 1, 2.5}, {30, 1, 0.5},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d_%d_fps_%gs", tc.num, tc.den, tc.seg), func(t *testing.T) {
			t.Parallel()
			fps := float64(tc.num) / float64(tc.den)
			src := &media.Source{Duration: 20, Video: &media.VideoStream{Width: 1280, Height: 720, FrameRate: fps,
				RateNum: tc.num, RateDen: tc.den, ConstantRate: true}}
			opt := Options{SegmentSeconds: tc.seg, Preset: "slow"}
			opt.setDefaults()

			a := newAnalyzer(src, opt, t.TempDir())
			analysis := gopFlagSets(a.encodeArgs(&piece{path: "piece.nut", ref: src}, 0, opt.AnalysisPreset,
				a.crfs, []string{"a.h264", "b.h264", "c.h264", "d.h264"}))

			ffmpeg := recordingFFmpeg(t)
			_, err := encodeLadder(context.Background(), "in.mp4", src, t.TempDir(),
				[]Rung{{Width: 1280, Height: 720, Bitrate: 3_000_000, CRF: 23}, {Width: 640, Height: 360, Bitrate: 800_000, CRF: 25}},
				"encoding", false, Options{FFmpeg: ffmpeg, SegmentSeconds: opt.SegmentSeconds, Preset: opt.Preset})
			require.Error(t, err, "the stand-in ffmpeg fails after recording")
			final := gopFlagSets(recordedArgs(t, ffmpeg))
			require.Len(t, final, 1, "the final encode sets the GOP once for every rung")
			require.NotEmpty(t, final[0])

			require.Len(t, analysis, len(a.crfs), "one GOP flag set per grid output")
			for i, got := range analysis {
				assert.Equal(t, final[0], got, "grid output %d", i)
			}

			timing, err := media.TimingOf(src, opt.SegmentSeconds)
			require.NoError(t, err)
			_, err = media.EncodeChunk(context.Background(), media.ChunkRequest{FFmpeg: ffmpeg, Piece: "piece.mkv", Source: src,
				Timing: timing, Chunk: media.Chunk{Index: 1, First: 250, Frames: 250}, Ladder: media.BuiltinLadder(src), OutDir: t.TempDir()})
			require.Error(t, err)
			chunk := gopFlagSets(recordedArgs(t, ffmpeg))
			require.NotEmpty(t, chunk)
			for i, got := range chunk {
				assert.Equal(t, withoutKeyframes(final[0]), withoutKeyframes(got), "chunk rung %d", i)
			}
		})
	}
}

// gopFlags are the x264 options that decide the GOP structure.
var gopFlags = map[string]bool{"-sc_threshold": true, "-g": true, "-keyint_min": true, "-flags": true, "-force_key_frames": true}

// gopFlagSets collects the GOP options of a command line with their values,
// one set per occurrence of -sc_threshold (each output or each command).
func gopFlagSets(args []string) [][]string {
	var sets [][]string
	for i := 0; i+1 < len(args); i++ {
		if !gopFlags[args[i]] {
			continue
		}
		if args[i] == "-sc_threshold" || len(sets) == 0 {
			sets = append(sets, nil)
		}
		sets[len(sets)-1] = append(sets[len(sets)-1], args[i], args[i+1])
		i++
	}
	return sets
}

func withoutKeyframes(set []string) []string {
	var out []string
	for i := 0; i+1 < len(set); i += 2 {
		if set[i] != "-force_key_frames" {
			out = append(out, set[i], set[i+1])
		}
	}
	return out
}

// recordingScript is the stand-in ffmpeg's script, written once by TestMain
// before any test starts a process: a script written while parallel tests
// fork can be held open for writing by a child between its fork and exec, and
// running it then fails with "text file busy" (a run of the parallel tests
// once found no recorded arguments).
var recordingScript string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pertitle-test-*")
	if err != nil {
		panic(err)
	}
	recordingScript = filepath.Join(dir, "ffmpeg")
	if err := os.WriteFile(recordingScript, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$0.args\"\nexit 1\n"), 0o755); err != nil {
		panic(err)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// recordingFFmpeg is a stand-in ffmpeg that writes its arguments, one a
// line, to recordedArgs's file and fails: a link of its own to the shared
// script, so that each test's arguments land beside its own link ($0).
func recordingFFmpeg(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ffmpeg")
	require.NoError(t, os.Symlink(recordingScript, p))
	return p
}

func recordedArgs(t *testing.T, ffmpeg string) []string {
	t.Helper()
	b, err := os.ReadFile(ffmpeg + ".args")
	require.NoError(t, err)
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}
