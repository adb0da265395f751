package media_test

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/media"
)

const segSeconds = 2.0

func TestEncode(t *testing.T) {
	t.Parallel()
	ffmpeg, ffprobe := tools(t)

	tests := []struct {
		name       string
		audio      bool
		clip       clipOpts
		wantLadder []string
		fps        float64
	}{
		{"with audio", true, clipOpts{}, []string{"640x360@800k", "416x234@400k"}, 30},
		{"video only", false, clipOpts{}, []string{"640x360@800k", "416x234@400k"}, 30},
		{
			"rotated full-range 29.97", false,
			clipOpts{rate: "30000/1001", rotate: true, extra: []string{"-pix_fmt", "yuvj420p"}},
			[]string{"360x640@800k", "234x416@400k"}, 30000.0 / 1001,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tc.clip.seconds, tc.clip.audio = "4", tc.audio
			in := makeClip(t, dir, "in.mp4", tc.clip)
			src, err := media.Probe(context.Background(), ffprobe, in)
			require.NoError(t, err)

			ladder := media.BuiltinLadder(src)
			var got []string
			for _, r := range ladder {
				got = append(got, r.String())
			}
			require.Equal(t, tc.wantLadder, got)

			var (
				mu    sync.Mutex
				calls []media.Progress
			)
			outDir := filepath.Join(dir, "out")
			out, err := media.Encode(context.Background(), media.EncodeRequest{
				FFmpeg:         ffmpeg,
				SourcePath:     in,
				Source:         src,
				OutDir:         outDir,
				Ladder:         ladder,
				SegmentSeconds: segSeconds,
				Progress: func(p media.Progress) {
					mu.Lock()
					defer mu.Unlock()
					calls = append(calls, p)
				},
			})
			require.NoError(t, err)

			// Progress: non-decreasing, ends at 100.
			mu.Lock()
			t.Logf("progress calls: %+v", calls)
			require.NotEmpty(t, calls)
			for i := 1; i < len(calls); i++ {
				assert.GreaterOrEqual(t, calls[i].Percent, calls[i-1].Percent)
			}
			assert.InDelta(t, 100, calls[len(calls)-1].Percent, 0.5)
			mu.Unlock()

			// Output summary.
			assert.Equal(t, "master.m3u8", out.HLSMaster)
			assert.Equal(t, "manifest.mpd", out.DASHManifest)
			assert.InDelta(t, 4.0, out.Duration, 0.1)
			assert.Positive(t, out.EncodeSeconds)
			assert.Contains(t, out.Files, "master.m3u8")
			assert.Contains(t, out.Files, "manifest.mpd")
			for _, f := range out.Files {
				_, err := os.Stat(filepath.Join(outDir, f))
				assert.NoError(t, err)
			}
			entries, err := os.ReadDir(outDir)
			require.NoError(t, err)
			assert.Len(t, out.Files, len(entries), "Files lists every file written")
			if tc.audio {
				require.NotNil(t, out.Audio)
				assert.Equal(t, "mp4a.40.2", out.Audio.Codecs)
				assert.Equal(t, 2, out.Audio.Channels)
				assert.Equal(t, 48000, out.Audio.SampleRate)
				assert.Positive(t, out.Audio.AverageBitrate)
			} else {
				assert.Nil(t, out.Audio)
			}

			require.Len(t, out.Renditions, len(ladder))
			master := parseMaster(t, filepath.Join(outDir, out.HLSMaster))
			require.Len(t, master.variants, len(ladder))
			var keyframes [][]float64
			for i, r := range out.Renditions {
				rung := ladder[i]
				assert.Equal(t, rung.Width, r.Width)
				assert.Equal(t, rung.Height, r.Height)
				assert.Equal(t, "h264", r.Codec)
				assert.Regexp(t, `^avc1\.6400[0-9a-f]{2}$`, r.Codecs, "High profile")
				assert.InDelta(t, tc.fps, r.FrameRate, 0.001)
				assert.GreaterOrEqual(t, r.Bitrate, r.AverageBitrate)

				segs := parseMediaPlaylist(t, filepath.Join(outDir, r.Playlist))
				require.Len(t, segs.files, 2, "4 s at 2 s segments: %v", segs.durations)

				// Bytes and peak/average match the files; the peak respects VBV.
				bytes := fileSize(t, filepath.Join(outDir, segs.init))
				var peak float64
				var segBits, total float64
				for j, f := range segs.files {
					size := fileSize(t, filepath.Join(outDir, f))
					bytes += size
					rate := float64(size) * 8 / segs.durations[j]
					peak = math.Max(peak, rate)
					segBits += float64(size) * 8
					total += segs.durations[j]
					bound := float64(rung.MaxRate) + float64(rung.BufSize)/segs.durations[j]
					assert.LessOrEqual(t, rate, bound*1.05, "segment %s over VBV bound", f)
				}
				assert.Equal(t, bytes, r.Bytes)
				assert.InDelta(t, peak, float64(r.Bitrate), 1)
				assert.InDelta(t, segBits/total, float64(r.AverageBitrate), 1)

				// Master playlist line for this variant.
				v := master.variants[i]
				assert.Equal(t, r.Playlist, v.uri)
				assert.Equal(t, fmt.Sprintf("%dx%d", rung.Width, rung.Height), v.attrs["RESOLUTION"])
				assert.Equal(t, fmt.Sprintf("%.3f", tc.fps), v.attrs["FRAME-RATE"])
				bw, _ := strconv.ParseInt(v.attrs["BANDWIDTH"], 10, 64)
				avg, _ := strconv.ParseInt(v.attrs["AVERAGE-BANDWIDTH"], 10, 64)
				assert.GreaterOrEqual(t, bw, r.Bitrate)
				assert.GreaterOrEqual(t, bw, avg)
				assert.GreaterOrEqual(t, avg, r.AverageBitrate)
				if tc.audio {
					assert.Equal(t, r.Codecs+",mp4a.40.2", v.attrs["CODECS"])
					assert.Equal(t, "audio", v.attrs["AUDIO"])
					assert.GreaterOrEqual(t, bw, r.Bitrate+out.Audio.Bitrate)
					assert.Equal(t, r.AverageBitrate+out.Audio.AverageBitrate, avg)
				} else {
					assert.Equal(t, r.Codecs, v.attrs["CODECS"])
					assert.NotContains(t, v.attrs, "AUDIO")
					assert.Equal(t, r.AverageBitrate, avg)
				}

				keys, joined := keyframeTimes(t, ffprobe, outDir, segs)
				keyframes = append(keyframes, keys)
				// Output is 8-bit 4:2:0 limited range, whatever the source.
				info := run(t, ffprobe, "-v", "error", "-select_streams", "v:0",
					"-show_entries", "stream=pix_fmt,color_range,profile,width,height", "-of", "default=nw=1", joined)
				assert.Contains(t, string(info), "pix_fmt=yuv420p\n")
				assert.NotContains(t, string(info), "color_range=pc", "limited range (tv or unspecified)")
				assert.Contains(t, string(info), "profile=High\n")
				assert.Contains(t, string(info), fmt.Sprintf("width=%d\nheight=%d\n", rung.Width, rung.Height))
			}
			if tc.audio {
				assert.Contains(t, master.text, `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio"`)
			} else {
				assert.NotContains(t, master.text, "#EXT-X-MEDIA:")
			}

			t.Logf("master.m3u8:\n%s", master.text)
			t.Logf("keyframes: %v", keyframes)
			// Keyframes identical across rungs and on segment boundaries.
			require.NotEmpty(t, keyframes[0])
			for i := 1; i < len(keyframes); i++ {
				assert.Equal(t, keyframes[0], keyframes[i], "keyframes of rung %d differ from rung 0", i)
			}
			for _, k := range keyframes[0] {
				rel := k - keyframes[0][0]
				assert.InDelta(t, 0, math.Remainder(rel, segSeconds), 0.5/30, "keyframe at %.3f not on a %gs boundary", k, segSeconds)
			}
			assert.Len(t, keyframes[0], 2, "one keyframe per 2 s segment (closed GOPs)")

			// DASH manifest parses and lists the renditions.
			mpdPath := filepath.Join(outDir, out.DASHManifest)
			checkMPD(t, mpdPath, ladder, tc.audio)

			// ffprobe can open both manifests and sees every variant size.
			want := map[string]bool{}
			for _, r := range ladder {
				want[fmt.Sprintf("%dx%d", r.Width, r.Height)] = true
			}
			for _, m := range []string{filepath.Join(outDir, out.HLSMaster), mpdPath} {
				sizes, hasAudio := probeManifest(t, ffprobe, m)
				assert.Equal(t, want, sizes, "video sizes seen by ffprobe in %s", filepath.Base(m))
				assert.Equal(t, tc.audio, hasAudio, "audio in %s", filepath.Base(m))
			}
		})
	}
}

func TestEncodeCancel(t *testing.T) {
	t.Parallel()
	ffmpeg, ffprobe := tools(t)
	dir := t.TempDir()
	in := makeClip(t, dir, "long.mp4", clipOpts{seconds: "20", size: "640x360"})
	src, err := media.Probe(context.Background(), ffprobe, in)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{})
	var once sync.Once
	time.AfterFunc(3*time.Second, func() { once.Do(func() { close(started) }) }) // fallback
	go func() {
		<-started
		cancel()
	}()
	begin := time.Now()
	out, err := media.Encode(ctx, media.EncodeRequest{
		FFmpeg: ffmpeg, SourcePath: in, Source: src, OutDir: filepath.Join(dir, "out"),
		Ladder: media.BuiltinLadder(src), Preset: "veryslow",
		Progress: func(media.Progress) { once.Do(func() { close(started) }) },
	})
	require.Error(t, err)
	assert.Nil(t, out)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(begin), 10*time.Second, "ffmpeg was not stopped promptly")
}

func TestEncodeErrors(t *testing.T) {
	t.Parallel()
	ffmpeg, ffprobe := tools(t)
	dir := t.TempDir()
	in := makeClip(t, dir, "in.mp4", clipOpts{seconds: "1", size: "320x180"})
	src, err := media.Probe(context.Background(), ffprobe, in)
	require.NoError(t, err)
	nonEmpty := filepath.Join(dir, "busy")
	require.NoError(t, os.MkdirAll(nonEmpty, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(nonEmpty, "x"), []byte("x"), 0o644))

	base := media.EncodeRequest{FFmpeg: ffmpeg, SourcePath: in, Source: src, Ladder: media.BuiltinLadder(src)}
	tests := []struct {
		name    string
		mod     func(r *media.EncodeRequest)
		wantErr string
	}{
		{"bad preset shows ffmpeg stderr", func(r *media.EncodeRequest) { r.Preset = "no-such-preset" }, "no-such-preset"},
		{"missing source", func(r *media.EncodeRequest) { r.SourcePath = filepath.Join(dir, "missing.mp4") }, "No such file"},
		{"non-empty out dir", func(r *media.EncodeRequest) { r.OutDir = nonEmpty }, "not empty"},
		{"empty ladder", func(r *media.EncodeRequest) { r.Ladder = nil }, "Ladder is empty"},
		{"odd rung", func(r *media.EncodeRequest) { r.Ladder = []media.Rung{{Width: 321, Height: 180, Bitrate: 1000}} }, "even"},
		{"no probe result", func(r *media.EncodeRequest) { r.Source = nil }, "Source"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := base
			req.OutDir = filepath.Join(dir, fmt.Sprintf("out%d", i))
			tc.mod(&req)
			_, err := media.Encode(context.Background(), req)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
	// ffmpeg failures are typed.
	req := base
	req.OutDir = filepath.Join(dir, "typed")
	req.Preset = "no-such-preset"
	_, err = media.Encode(context.Background(), req)
	var fe *media.ExitError
	require.True(t, errors.As(err, &fe))
	assert.NotEmpty(t, fe.Stderr)
	assert.LessOrEqual(t, len(fe.Stderr), 4096)
}

// --- helpers -----------------------------------------------------------------

type variant struct {
	attrs map[string]string
	uri   string
}

type masterPlaylist struct {
	text     string
	variants []variant
}

var attrRE = regexp.MustCompile(`([A-Z0-9-]+)=("[^"]*"|[^,]*)`)

func parseMaster(t *testing.T, path string) masterPlaylist {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	m := masterPlaylist{text: string(data)}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	require.Equal(t, "#EXTM3U", lines[0])
	for i := 0; i < len(lines); i++ {
		rest, ok := strings.CutPrefix(lines[i], "#EXT-X-STREAM-INF:")
		if !ok {
			continue
		}
		v := variant{attrs: map[string]string{}}
		for _, kv := range attrRE.FindAllStringSubmatch(rest, -1) {
			v.attrs[kv[1]] = strings.Trim(kv[2], `"`)
		}
		for _, k := range []string{"BANDWIDTH", "AVERAGE-BANDWIDTH", "RESOLUTION", "CODECS", "FRAME-RATE"} {
			assert.Contains(t, v.attrs, k, "variant %d", len(m.variants))
		}
		require.Less(t, i+1, len(lines))
		v.uri = strings.TrimSpace(lines[i+1])
		m.variants = append(m.variants, v)
	}
	return m
}

type mediaPlaylist struct {
	init      string
	files     []string
	durations []float64
}

func parseMediaPlaylist(t *testing.T, path string) mediaPlaylist {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var p mediaPlaylist
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, `#EXT-X-MAP:URI="`):
			p.init = strings.TrimSuffix(strings.TrimPrefix(line, `#EXT-X-MAP:URI="`), `"`)
		case strings.HasPrefix(line, "#EXTINF:"):
			d, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(line, "#EXTINF:"), ","), 64)
			require.NoError(t, err)
			p.durations = append(p.durations, d)
		case line != "" && !strings.HasPrefix(line, "#"):
			p.files = append(p.files, line)
		}
	}
	require.NotEmpty(t, p.init)
	require.Len(t, p.files, len(p.durations))
	return p
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Size()
}

// keyframeTimes concatenates init + segments into joined and returns the
// keyframe pts.
func keyframeTimes(t *testing.T, ffprobe, dir string, p mediaPlaylist) (keys []float64, joined string) {
	t.Helper()
	var data []byte
	for _, f := range append([]string{p.init}, p.files...) {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		data = append(data, b...)
	}
	joined = filepath.Join(t.TempDir(), "joined.mp4")
	require.NoError(t, os.WriteFile(joined, data, 0o644))
	out := run(t, ffprobe, "-v", "error", "-select_streams", "v:0",
		"-show_entries", "packet=pts_time,flags", "-of", "csv=p=0", joined)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pts, flags, ok := strings.Cut(line, ",")
		if ok && strings.Contains(flags, "K") {
			v, err := strconv.ParseFloat(pts, 64)
			require.NoError(t, err)
			keys = append(keys, v)
		}
	}
	sort.Float64s(keys)
	return keys, joined
}

func probeManifest(t *testing.T, ffprobe, path string) (sizes map[string]bool, hasAudio bool) {
	t.Helper()
	out := run(t, ffprobe, "-v", "error", "-show_entries", "stream=codec_type,width,height", "-of", "json", path)
	var res struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
			Width     int    `json:"width"`
			Height    int    `json:"height"`
		} `json:"streams"`
	}
	require.NoError(t, json.Unmarshal(out, &res))
	sizes = map[string]bool{}
	for _, s := range res.Streams {
		switch s.CodecType {
		case "video":
			sizes[fmt.Sprintf("%dx%d", s.Width, s.Height)] = true
		case "audio":
			hasAudio = true
		}
	}
	return sizes, hasAudio
}

func checkMPD(t *testing.T, path string, ladder []media.Rung, audio bool) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var doc struct {
		Periods []struct {
			Sets []struct {
				ContentType string `xml:"contentType,attr"`
				Reps        []struct {
					Width     int    `xml:"width,attr"`
					Height    int    `xml:"height,attr"`
					Codecs    string `xml:"codecs,attr"`
					Bandwidth int64  `xml:"bandwidth,attr"`
				} `xml:"Representation"`
			} `xml:"AdaptationSet"`
		} `xml:"Period"`
	}
	require.NoError(t, xml.Unmarshal(data, &doc))
	require.Len(t, doc.Periods, 1)
	sets := doc.Periods[0].Sets
	if audio {
		require.Len(t, sets, 2)
		assert.Equal(t, "audio", sets[1].ContentType)
		require.Len(t, sets[1].Reps, 1)
		assert.Equal(t, "mp4a.40.2", sets[1].Reps[0].Codecs)
	} else {
		require.Len(t, sets, 1)
	}
	assert.Equal(t, "video", sets[0].ContentType)
	require.Len(t, sets[0].Reps, len(ladder))
	for i, r := range sets[0].Reps {
		assert.Equal(t, ladder[i].Width, r.Width)
		assert.Equal(t, ladder[i].Height, r.Height)
		assert.Equal(t, ladder[i].Bitrate, r.Bandwidth)
	}
}
