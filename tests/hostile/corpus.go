// Package hostile holds the hostile-input suite: files made to hurt a video
// pipeline (playlists that read other files, forged timestamps and sizes,
// still images, garbage) and odd but honest videos (rotated, variable frame
// rate, odd sizes, 10-bit, 4:4:4) that must still encode.
package hostile

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Case is one file of the corpus.
type Case struct {
	Name string
	Path string
	// Refused files must get a 4xx whose error contains Reason; the others
	// must become ready.
	Refused bool
	Reason  string
	// Check inspects the ready asset's ladder (accepted files only).
	Portrait bool // the display is taller than wide
}

// Corpus writes every case into dir. secret is a file the playlists point at:
// if any of them were read, the attacker would get it encoded.
func Corpus(t testing.TB, dir, secret string) []Case {
	t.Helper()
	var (
		mu    sync.Mutex
		cases []Case
		wg    sync.WaitGroup
		errs  []error
	)
	add := func(c Case) {
		mu.Lock()
		cases = append(cases, c)
		mu.Unlock()
	}
	refuse := func(name, file, reason string) { add(Case{Name: name, Path: file, Refused: true, Reason: reason}) }
	accept := func(name, file string) { add(Case{Name: name, Path: file}) }
	p := func(name string) string { return filepath.Join(dir, name) }
	write := func(name, body string) string {
		require.NoError(t, os.WriteFile(p(name), []byte(body), 0o644))
		return p(name)
	}
	ffmpeg := func(out string, args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "ffmpeg", append([]string{"-nostdin", "-hide_banner", "-v", "error", "-y"}, append(args, out)...)...)
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w: %s", filepath.Base(out), err, stderr.String())
		}
		return nil
	}
	// gen runs steps in the background: the corpus takes seconds, not a minute.
	gen := func(steps ...func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, step := range steps {
				if err := step(); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	run := func(out string, args ...string) func() error { return func() error { return ffmpeg(out, args...) } }
	src := func(size string, secs float64) []string {
		return []string{"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=25:duration=%g", size, secs)}
	}
	h264 := []string{"-c:v", "libx264", "-preset", "ultrafast", "-g", "25"}

	// Playlists and scripts that make a demuxer open other files or URLs.
	refuse("hls playlist of a local file", write("hls-local.mp4", "#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3,\n"+secret+"\n#EXT-X-ENDLIST\n"), "")
	refuse("hls playlist with a file: url", write("hls-fileurl.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3,\nfile://"+secret+"\n#EXT-X-ENDLIST\n"), "")
	refuse("hls playlist of a remote url", write("hls-remote.mp4", "#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3,\nhttp://169.254.169.254/latest/meta-data/\n#EXT-X-ENDLIST\n"), "")
	refuse("ffconcat script of a local file", write("concat.mkv", "ffconcat version 1.0\nfile '"+secret+"'\n"), "")
	refuse("dash manifest of a local file", write("manifest.mp4", `<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT3S" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011"><Period><AdaptationSet mimeType="video/mp4"><Representation id="1" bandwidth="1000"><BaseURL>file://`+secret+`</BaseURL></Representation></AdaptationSet></Period></MPD>`), "")
	refuse("sdp session reading the network", write("session.mp4", "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video 5004 RTP/AVP 96\na=rtpmap:96 H264/90000\n"), "")
	// Forged timing.
	gen(run(p("bomb-10h.mp4"), append(append(src("64x64", 3), "-vf", "setpts='if(eq(N,2),36000/TB,PTS)'", "-fps_mode", "passthrough"), h264...)...))
	refuse("timestamp bomb: three frames over ten hours", p("bomb-10h.mp4"), "frames per second of duration")
	gen(run(p("bomb-3h.mp4"), append(append(src("64x64", 3), "-vf", "setpts='if(eq(N,74),10800/TB,PTS)'", "-fps_mode", "passthrough"), h264...)...))
	refuse("timestamp bomb within the duration limit", p("bomb-3h.mp4"), "frames per second of duration")
	gen(run(p("fps1000.mp4"), append(append([]string{"-f", "lavfi", "-i", "testsrc2=size=64x64:rate=1000:duration=1"}, h264...), "-r", "1000")...))
	refuse("absurd frame rate", p("fps1000.mp4"), "frames per second")
	gen(run(p("fps-low.mp4"), append([]string{"-f", "lavfi", "-i", "testsrc2=size=64x64:rate=0.2:duration=20"}, h264...)...))
	refuse("one frame every five seconds", p("fps-low.mp4"), "frames per second of duration")
	// Forged or unusable pictures.
	y4m := "YUV4MPEG2 W30000 H30000 F25:1 Ip A1:1 C420jpeg\nFRAME\n" + strings.Repeat("\x80", 1<<16)
	refuse("huge declared dimensions", write("huge.y4m", y4m), "")
	gen(run(p("big.mp4"), "-f", "lavfi", "-i", "color=size=8208x4400:duration=1:rate=2", "-c:v", "libx264", "-preset", "ultrafast"))
	refuse("picture over the pixel limit", p("big.mp4"), "pixels")
	gen(run(p("tiny.mp4"), append(src("8x8", 1), h264...)...))
	refuse("tiny picture", p("tiny.mp4"), "smaller than")
	gen(run(p("sliver.mp4"), append(src("1600x32", 1), h264...)...))
	refuse("extreme aspect ratio", p("sliver.mp4"), "aspect ratio")
	gen(run(p("still.png"), "-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1"))
	refuse("png still image", p("still.png"), "")
	gen(run(p("still.jpg"), "-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1"))
	refuse("jpeg still image", p("still.jpg"), "")
	gen(run(p("anim.gif"), "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10:duration=1"))
	refuse("animated gif", p("anim.gif"), "")
	gen(run(p("audio.m4a"), "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "aac"))
	refuse("audio only", p("audio.m4a"), "")
	gen(run(p("streams.mkv"), streamsArgs(20)...))
	refuse("too many streams", p("streams.mkv"), "streams")
	// Damaged and garbage bytes.
	refuse("zero bytes", write("empty.mp4", ""), "")
	refuse("text with a video extension", write("notes.mp4", strings.Repeat("this is not a video\n", 100)), "")
	refuse("pdf", write("doc.mp4", "%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"+strings.Repeat(" ", 2000)), "")
	refuse("random bytes with a video extension", writeRandom(t, p("random.mp4"), 64<<10), "")
	refuse("random bytes behind an mp4 header", writeBytes(t, p("ftyp-random.mp4"), append([]byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"), random(t, 64<<10)...)), "")

	// Honest but awkward videos that must encode.
	// ffmpeg 5 honours the rotate tag only when remuxing.
	gen(run(p("unrotated.mp4"), append(src("320x180", 2), h264...)...),
		run(p("rotated.mp4"), "-i", p("unrotated.mp4"), "-c", "copy", "-metadata:s:v:0", "rotate=90"))
	add(Case{Name: "rotated by 90 degrees", Path: p("rotated.mp4"), Portrait: true})
	gen(run(p("vfr.mkv"), append(append(src("320x180", 3), "-vf", "setpts='N/25/TB+if(gt(N,30),0.5/TB,0)+if(gt(N,50),N/100/TB,0)'", "-fps_mode", "passthrough"), h264...)...))
	accept("variable frame rate", p("vfr.mkv"))
	gen(run(p("odd.mkv"), append(src("320x240", 2), "-vf", "scale=321:241,format=yuv444p", "-c:v", "ffv1")...))
	accept("odd dimensions (lossless FFV1)", p("odd.mkv"))
	gen(run(p("tenbit.mp4"), append(src("320x180", 2), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le")...))
	accept("10-bit 4:2:0", p("tenbit.mp4"))
	gen(run(p("fourfourfour.mp4"), append(src("320x180", 2), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p")...))
	accept("4:4:4", p("fourfourfour.mp4"))
	gen(run(p("fullrange.mov"), append(src("320x180", 2), "-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-q:v", "5")...))
	accept("full-range motion JPEG", p("fullrange.mov"))
	gen(run(p("anamorphic.mp4"), append(append(src("320x240", 2), "-vf", "setsar=4/3"), h264...)...))
	accept("anamorphic pixels", p("anamorphic.mp4"))
	gen(run(p("transport.ts"), append(src("320x180", 2), "-c:v", "mpeg2video", "-q:v", "4")...))
	accept("mpeg-2 in a transport stream", p("transport.ts"))
	gen(run(p("vp9.webm"), append(src("320x180", 2), "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k")...))
	accept("vp9 in webm", p("vp9.webm"))
	good := p("good.mp4")
	gen(run(good, append(append(src("320x180", 4), h264...), "-movflags", "+faststart")...))
	wg.Wait()
	require.Empty(t, errs, "generating the corpus")
	return append(cases, damaged(t, dir, good)...)
}

// streamsArgs makes a Matroska file with one video and n-1 audio streams.
func streamsArgs(n int) []string {
	args := []string{"-f", "lavfi", "-i", "testsrc2=size=64x64:rate=25:duration=1", "-f", "lavfi", "-i", "sine=duration=1"}
	args = append(args, "-map", "0:v")
	for i := 1; i < n; i++ {
		args = append(args, "-map", "1:a")
	}
	return append(args, "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s16le")
}

func random(t testing.TB, n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

func writeRandom(t testing.TB, path string, n int) string { return writeBytes(t, path, random(t, n)) }

func writeBytes(t testing.TB, path string, b []byte) string {
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return path
}

// damaged are copies of a real video whose index is at its start (as
// uploads are, for progressive playback), so that the header alone looks fine.
func damaged(t testing.TB, dir, good string) []Case {
	t.Helper()
	b, err := os.ReadFile(good)
	require.NoError(t, err)
	// Truncated after its index: the header promises what the file lacks.
	trunc := writeBytes(t, filepath.Join(dir, "truncated.mp4"), b[:len(b)*2/3])
	// Its media data overwritten in the middle.
	corrupt := append([]byte(nil), b...)
	mid := len(corrupt) / 2
	copy(corrupt[mid:], random(t, min(len(corrupt)-mid, 16<<10)))
	corr := writeBytes(t, filepath.Join(dir, "corrupt.mp4"), corrupt)
	// Headers that claim ten hours for four seconds of frames.
	liar := append([]byte(nil), b...)
	for _, box := range []string{"mvhd", "mdhd"} {
		for off := 0; ; {
			i := bytes.Index(liar[off:], []byte(box))
			if i < 0 {
				break
			}
			i += off
			// version 0: version/flags, creation, modification, timescale, duration.
			ts := binary.BigEndian.Uint32(liar[i+16:])
			binary.BigEndian.PutUint32(liar[i+20:], ts*36000)
			off = i + 4
		}
	}
	lie := writeBytes(t, filepath.Join(dir, "lying-duration.mp4"), liar)
	return []Case{
		{Name: "truncated after its index", Path: trunc, Refused: true, Reason: "truncated or corrupt"},
		{Name: "corrupted media data", Path: corr, Refused: true},
		{Name: "header lies about the duration", Path: lie, Refused: true, Reason: "frames per second of duration"},
	}
}
