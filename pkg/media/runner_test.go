package media_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/media"
)

func TestRunRefusesAnInputWithoutWhitelists(t *testing.T) {
	t.Parallel()
	ffmpeg, _ := tools(t)
	clip := makeClip(t, t.TempDir(), "a.mp4", clipOpts{seconds: "1", size: "64x64"})
	for name, args := range map[string][]string{
		"bare -i":              {"-i", clip, "-f", "null", "-"},
		"second input bare":    append(media.InputArgs(clip, media.SourceFormats), "-i", clip, "-f", "null", "-"),
		"format list only":     {"-format_whitelist", "mov", "-i", clip, "-f", "null", "-"},
		"other protocols too":  {"-protocol_whitelist", "file,http", "-format_whitelist", "mov", "-i", clip, "-f", "null", "-"},
		"whitelist of earlier": append(media.InputArgs(clip, media.SourceFormats), "-ss", "0", "-i", clip, "-f", "null", "-"),
	} {
		_, err := (&media.Cmd{Bin: ffmpeg, Args: args}).Run(context.Background())
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "no protocol and format whitelist", name)
	}
	// The same inputs through InputArgs and GeneratedInputArgs run.
	args := append(media.InputArgs(clip, media.SourceFormats, "-ss", "0"), media.GeneratedInputArgs("testsrc2=size=64x64:duration=0.2")...)
	res, err := (&media.Cmd{Bin: ffmpeg, Args: append(args, "-map", "0:v", "-f", "null", "-progress", "pipe:1", "-")}).Run(context.Background())
	require.NoError(t, err)
	assert.Greater(t, res.Frames, int64(0), "frames are read off the -progress stream")
	assert.Greater(t, res.CPU.Nanoseconds(), int64(0))
}

// writeReferrers writes files that make ffmpeg open another file when read
// without a format whitelist: the first finding of issue 10.
func writeReferrers(t *testing.T, dir, secret string) map[string]string {
	t.Helper()
	files := map[string]string{
		"hls.mp4":      "#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3,\n" + secret + "\n#EXT-X-ENDLIST\n",
		"hls.m3u8":     "#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3,\nfile:" + secret + "\n#EXT-X-ENDLIST\n",
		"ffconcat.mkv": "ffconcat version 1.0\nfile '" + secret + "'\n",
		"remote.mp4":   "#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3,\nhttp://127.0.0.1:1/x.ts\n#EXT-X-ENDLIST\n",
	}
	paths := map[string]string{}
	for name, body := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		paths[name] = p
	}
	return paths
}

func TestProbeRefusesFilesThatReferToOtherFiles(t *testing.T) {
	t.Parallel()
	_, ffprobe := tools(t)
	dir := t.TempDir()
	secret := makeClip(t, dir, "secret.mp4", clipOpts{seconds: "2", size: "64x64"})
	for name, path := range writeReferrers(t, dir, secret) {
		src, err := media.Probe(context.Background(), ffprobe, path)
		require.Error(t, err, name)
		assert.Nil(t, src, name)
		var inv *media.InvalidSourceError
		require.True(t, errors.As(err, &inv), "%s: %v", name, err)
		assert.Contains(t, inv.Reason, "refers to other files", name)
	}
}

func TestEncodeCannotBeMadeToReadAnotherFile(t *testing.T) {
	t.Parallel()
	ffmpeg, _ := tools(t)
	dir := t.TempDir()
	secret := makeClip(t, dir, "secret.mp4", clipOpts{seconds: "2", size: "64x64"})
	// Even with a forged probe result (a caller that skipped Probe), the
	// encoder refuses to open the playlist, so it never reads the secret.
	src := &media.Source{Duration: 2, Video: &media.VideoStream{Width: 64, Height: 64, FrameRate: 10}}
	for name, path := range writeReferrers(t, dir, secret) {
		out := filepath.Join(dir, "out-"+name)
		_, err := media.Encode(context.Background(), media.EncodeRequest{FFmpeg: ffmpeg, SourcePath: path, Source: src, OutDir: out,
			Ladder: []media.Rung{{Width: 64, Height: 64, Bitrate: 100_000}}})
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "not on whitelist", name)
		files, _ := media.ListFiles(out)
		for _, f := range files {
			assert.NotContains(t, f, "seg-", "%s: no segment may be written", name)
		}
	}
}
