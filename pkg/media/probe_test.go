package media_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/media"
)

func TestProbe(t *testing.T) {
	t.Parallel()
	ffmpeg, ffprobe := tools(t)
	dir := t.TempDir()
	// One base clip shared by several cases (derived with stream copy).
	base := makeClip(t, dir, "base.mp4", clipOpts{audio: true})

	tests := []struct {
		name       string
		make       func(t *testing.T) string
		wantReason string // substring of InvalidSourceError.Reason; "" = valid
		check      func(t *testing.T, src *media.Source)
	}{
		{
			name: "good clip",
			make: func(t *testing.T) string { return base },
			check: func(t *testing.T, src *media.Source) {
				assert.Contains(t, src.Container, "mp4")
				assert.InDelta(t, 3.0, src.Duration, 0.1)
				fi, err := os.Stat(base)
				require.NoError(t, err)
				assert.Equal(t, fi.Size(), src.Size)
				assert.Positive(t, src.Bitrate)
				require.NotNil(t, src.Video)
				v := src.Video
				assert.Equal(t, "h264", v.Codec)
				assert.Equal(t, 640, v.Width)
				assert.Equal(t, 360, v.Height)
				assert.InDelta(t, 30.0, v.FrameRate, 0.01)
				assert.Equal(t, "yuv420p", v.PixFmt)
				assert.Equal(t, 0, v.Rotation)
				assert.False(t, v.HDR)
				assert.NotEmpty(t, v.Profile)
				assert.Equal(t, int64(90), v.Frames)
				w, h := src.DisplaySize()
				assert.Equal(t, [2]int{640, 360}, [2]int{w, h})
				require.Len(t, src.Audio, 1)
				assert.Equal(t, "aac", src.Audio[0].Codec)
				assert.Equal(t, 1, src.Audio[0].Channels)
				assert.Equal(t, 44100, src.Audio[0].SampleRate)
			},
		},
		{
			name: "rotated clip",
			make: func(t *testing.T) string {
				out := filepath.Join(dir, "rot.mp4")
				run(t, ffmpeg, "-v", "error", "-y", "-i", base, "-c", "copy", "-metadata:s:v:0", "rotate=90", out)
				return out
			},
			check: func(t *testing.T, src *media.Source) {
				assert.Contains(t, []int{90, 270}, src.Video.Rotation)
				assert.Equal(t, 640, src.Video.Width)
				w, h := src.DisplaySize()
				assert.Equal(t, [2]int{360, 640}, [2]int{w, h})
			},
		},
		{
			name: "hdr tagged full range clip",
			make: func(t *testing.T) string {
				return makeClip(t, dir, "hdr.mp4", clipOpts{size: "320x180", seconds: "1", extra: []string{
					"-color_range", "pc", "-color_trc", "smpte2084", "-color_primaries", "bt2020", "-colorspace", "bt2020nc"}})
			},
			check: func(t *testing.T, src *media.Source) {
				assert.True(t, src.Video.HDR)
				assert.Equal(t, "pc", src.Video.ColorRange)
				assert.Empty(t, src.Audio)
			},
		},
		{
			name: "audio only",
			make: func(t *testing.T) string {
				out := filepath.Join(dir, "audio.m4a")
				run(t, ffmpeg, "-v", "error", "-y", "-i", base, "-map", "0:a", "-c", "copy", out)
				return out
			},
			wantReason: "no video stream: the file is audio only (aac)",
		},
		{
			name: "audio with cover art",
			make: func(t *testing.T) string {
				img := filepath.Join(dir, "cover.jpg")
				run(t, ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1", img)
				out := filepath.Join(dir, "cover.m4a")
				run(t, ffmpeg, "-v", "error", "-y", "-i", base, "-i", img, "-map", "0:a", "-map", "1:v",
					"-c", "copy", "-disposition:v:0", "attached_pic", out)
				return out
			},
			wantReason: "only contains a still picture",
		},
		{
			name: "png image",
			make: func(t *testing.T) string {
				out := filepath.Join(dir, "img.png")
				run(t, ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1", out)
				return out
			},
			wantReason: "still image (png)",
		},
		{
			name: "jpeg image",
			make: func(t *testing.T) string {
				out := filepath.Join(dir, "img.jpg")
				run(t, ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1", out)
				return out
			},
			wantReason: "file is a still image, not a video", // refused by the demuxer whitelist (image2)
		},
		{
			name: "text file",
			make: func(t *testing.T) string {
				out := filepath.Join(dir, "notes.txt")
				require.NoError(t, os.WriteFile(out, []byte("this is not a video\nat all\n"), 0o644))
				return out
			},
			wantReason: "not a recognizable media file: ",
		},
		{
			name: "empty file",
			make: func(t *testing.T) string {
				out := filepath.Join(dir, "empty.mp4")
				require.NoError(t, os.WriteFile(out, nil, 0o644))
				return out
			},
			wantReason: "file is empty",
		},
		{
			name: "truncated mp4, moov at end",
			make: func(t *testing.T) string {
				return truncate(t, base, filepath.Join(dir, "trunc.mp4"), 0.6)
			},
			wantReason: "not a recognizable media file: moov atom not found",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.make(t)
			src, err := media.Probe(context.Background(), ffprobe, path)
			if tc.wantReason == "" {
				require.NoError(t, err)
				require.NotNil(t, src)
				tc.check(t, src)
				return
			}
			require.Error(t, err)
			assert.Nil(t, src)
			assert.ErrorIs(t, err, media.ErrInvalidSource)
			var ise *media.InvalidSourceError
			require.ErrorAs(t, err, &ise)
			assert.Contains(t, ise.Reason, tc.wantReason)
			assert.NotContains(t, ise.Reason, " @ 0x", "ffmpeg log prefix should be stripped")
		})
	}
}

func TestProbeMissingFileIsNotInvalidSource(t *testing.T) {
	t.Parallel()
	_, ffprobe := tools(t)
	_, err := media.Probe(context.Background(), ffprobe, filepath.Join(t.TempDir(), "nope.mp4"))
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.False(t, errors.Is(err, media.ErrInvalidSource))
}

// TestTruncatedSourcesRejected checks that a cut upload is rejected by Probe
// or by Validate whether or not its moov was moved to the front.
func TestTruncatedSourcesRejected(t *testing.T) {
	t.Parallel()
	ffmpeg, ffprobe := tools(t)
	dir := t.TempDir()
	base := makeClip(t, dir, "base.mp4", clipOpts{audio: true})
	fast := filepath.Join(dir, "fast.mp4")
	run(t, ffmpeg, "-v", "error", "-y", "-i", base, "-c", "copy", "-movflags", "+faststart", fast)

	tests := []struct {
		name       string
		path       string
		wantReason string // "" = accepted
		stage      string // "probe" or "validate"
	}{
		{"intact", base, "", ""},
		{"intact faststart", fast, "", ""},
		{"truncated moov at end", truncate(t, base, filepath.Join(dir, "t1.mp4"), 0.6), "moov atom not found", "probe"},
		{"truncated faststart", truncate(t, fast, filepath.Join(dir, "t2.mp4"), 0.6), "truncated or corrupt", "validate"},
		{"truncated faststart 95%", truncate(t, fast, filepath.Join(dir, "t3.mp4"), 0.95), "truncated or corrupt", "validate"},
		{"truncated faststart 99.5%", truncate(t, fast, filepath.Join(dir, "t4.mp4"), 0.995), "truncated or corrupt", "validate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			stage := "probe"
			src, err := media.Probe(ctx, ffprobe, tc.path)
			if err == nil {
				stage = "validate"
				err = media.Validate(ctx, ffmpeg, tc.path, src)
			}
			if tc.wantReason == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tc.stage, stage)
			var ise *media.InvalidSourceError
			require.ErrorAs(t, err, &ise)
			assert.Contains(t, ise.Reason, tc.wantReason)
			assert.ErrorIs(t, err, media.ErrInvalidSource)
		})
	}
}

func TestHasLibVMAF(t *testing.T) {
	t.Parallel()
	ffmpeg, _ := tools(t)
	out, err := exec.Command(ffmpeg, "-hide_banner", "-filters").Output()
	require.NoError(t, err)
	want := false
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == "libvmaf" {
			want = true
		}
	}
	assert.Equal(t, want, media.HasLibVMAF(context.Background(), ffmpeg))
	assert.False(t, media.HasLibVMAF(context.Background(), filepath.Join(t.TempDir(), "no-ffmpeg")))
}

func TestValidateLongGOPTransportStream(t *testing.T) {
	t.Parallel()
	// MPEG-TS has no seek index: a seek near the end finds no keyframe to start
	// from when the GOP is long. Such a file is valid and must not be refused.
	dir := t.TempDir()
	ts := filepath.Join(dir, "long-gop.ts")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-t", "6",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "1000", "-f", "mpegts", ts).CombinedOutput()
	require.NoError(t, err, "%s", out)
	src, err := media.Probe(context.Background(), "ffprobe", ts)
	require.NoError(t, err)
	require.NoError(t, media.Validate(context.Background(), "ffmpeg", ts, src))
}
