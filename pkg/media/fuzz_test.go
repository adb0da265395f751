package media

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pertitle/pertitle/internal/testmedia"
)

// ffprobeSeeds are ffprobe's JSON for a few real clips made with ffmpeg, plus
// hand-made outputs at the edges: what buildSource is given in production.
func ffprobeSeeds(f *testing.F) [][]byte {
	f.Helper()
	var out [][]byte
	for _, s := range []testmedia.Spec{
		{Width: 64, Height: 36, Seconds: 0.5, FPS: 10, Audio: true},
		{Width: 36, Height: 64, Seconds: 0.5, FPS: 25, Name: "clip.mkv"},
	} {
		clip := testmedia.Clip(f, s)
		b, err := exec.Command("ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", "--", clip).Output()
		if err != nil {
			f.Fatalf("ffprobe %s: %v", clip, err)
		}
		out = append(out, b)
	}
	for _, s := range []string{
		`{"streams":[{"codec_type":"video","codec_name":"h264","width":640,"height":360,"avg_frame_rate":"0/0","r_frame_rate":"-30/1","sample_aspect_ratio":"4:3","nb_frames":"-5","side_data_list":[{"rotation":-90}]}],"format":{"format_name":"mov","duration":"3.0","bit_rate":"-1"}}`,
		`{"streams":[{"codec_type":"video","codec_name":"h264","width":640,"height":360,"r_frame_rate":"30/-1","sample_aspect_ratio":"9223372036854775807:1"}],"format":{"duration":"1e-300"}}`,
		`{"streams":[{"codec_type":"video","codec_name":"png","width":64,"height":64,"disposition":{"attached_pic":1}},{"codec_type":"audio","codec_name":"mp3","channels":2,"sample_rate":"44100"}],"format":{"format_name":"mp3","duration":"60"}}`,
		`{"streams":[{"codec_type":"video","codec_name":"mjpeg","width":64,"height":64}],"format":{"format_name":"image2","duration":"0.04"}}`,
		`{"streams":[{"codec_type":"video","codec_name":"h264","width":2,"height":2,"tags":{"rotate":"1e300"},"duration":"NaN"}],"format":{"duration":"Inf"}}`,
		`{"streams":[],"format":{}}`, `{}`,
	} {
		out = append(out, []byte(s))
	}
	return out
}

// FuzzBuildSource feeds arbitrary ffprobe JSON to the code that turns it into a
// media.Source. A refusal is an *InvalidSourceError; an accepted source has a
// video stream with a picture size, a finite positive duration and bitrate, a
// frame rate in 0..1000, a rotation in 0..359 and a positive display size.
func FuzzBuildSource(f *testing.F) {
	for _, b := range ffprobeSeeds(f) {
		f.Add(b, int64(12345))
	}
	f.Add([]byte(`{"streams":[{"codec_type":"video","width":1,"height":1}],"format":{"duration":"1"}}`), int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, data []byte, size int64) {
		var out ffprobeOutput
		if json.Unmarshal(data, &out) != nil || size <= 0 {
			return
		}
		src, err := buildSource(&out, size)
		if err != nil {
			var inv *InvalidSourceError
			if !errors.As(err, &inv) {
				t.Fatalf("refusal is not an InvalidSourceError: %v", err)
			}
			return
		}
		v := src.Video
		switch {
		case v == nil || v.Width <= 0 || v.Height <= 0:
			t.Fatalf("accepted without a picture size: %+v", v)
		case !(src.Duration > 0) || math.IsInf(src.Duration, 0):
			t.Fatalf("accepted duration %v", src.Duration)
		case src.Bitrate <= 0:
			t.Fatalf("accepted bitrate %d", src.Bitrate)
		case !(v.FrameRate >= 0 && v.FrameRate <= 1000):
			t.Fatalf("accepted frame rate %v", v.FrameRate)
		case v.Rotation < 0 || v.Rotation >= 360:
			t.Fatalf("accepted rotation %d", v.Rotation)
		case (v.SARNum > 0) != (v.SARDen > 0) || v.SARNum < 0 || v.SARDen < 0:
			t.Fatalf("accepted sample aspect ratio %d:%d", v.SARNum, v.SARDen)
		case v.Frames < 0:
			t.Fatalf("accepted frame count %d", v.Frames)
		}
		if w, h := src.DisplaySize(); w <= 0 || h <= 0 {
			t.Fatalf("display size %dx%d of %+v", w, h, v)
		}
	})
}

// playlistDir lays out what a media playlist may name: an init segment and two
// media segments beside it, a subdirectory, and a file outside the directory.
func playlistDir(tb testing.TB) string {
	root := tb.TempDir()
	dir := filepath.Join(root, "out")
	for name, size := range map[string]int{"out/init.mp4": 100, "out/seg_1.m4s": 1000, "out/v/seg_2.m4s": 3000, "secret.m4s": 7} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, bytes.Repeat([]byte{1}, size), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// FuzzMeasurePlaylist feeds arbitrary media playlists to the code that sizes a
// rendition and joins its segments. Whatever it accepts names regular files
// inside the rendition's directory only, and measures finite, non-negative
// figures that add up to what JoinRendition writes.
func FuzzMeasurePlaylist(f *testing.F) {
	for _, s := range []string{
		"#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.000,\nseg_1.m4s\n#EXTINF:4,\nv/seg_2.m4s\n#EXT-X-ENDLIST\n",
		"#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\nseg_1.m4s\n",
		"#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:-1,\nseg_1.m4s\n",
		"#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:NaN,\nseg_1.m4s\n#EXTINF:1e308,\nseg_1.m4s\n#EXTINF:1e308,\nseg_1.m4s\n",
		"#EXT-X-MAP:URI=\"../secret.m4s\"\n#EXTINF:1,\nseg_1.m4s\n",
		"#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:1,\n../secret.m4s\n",
		"#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:1,\n/etc/passwd\n",
		"#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:1,\nv\n",
		"#EXT-X-MAP:URI=\"init.mp4\n#EXTINF:1,\nseg_1.m4s\n",
		"#EXT-X-MAP:BYTERANGE=\"1@0\",URI=init.mp4,X=\"a,b\"\r\n#EXTINF:0.5\r\nseg_1.m4s\r\n",
	} {
		f.Add([]byte(s))
	}
	dir := playlistDir(f)
	f.Fuzz(func(t *testing.T, playlist []byte) {
		if err := os.WriteFile(filepath.Join(dir, "media_0.m3u8"), playlist, 0o644); err != nil {
			t.Fatal(err)
		}
		st, err := measurePlaylist(dir, "media_0.m3u8")
		if err != nil {
			return
		}
		var total int64
		for _, name := range append([]string{st.init}, st.segments...) {
			local := filepath.FromSlash(name)
			if !filepath.IsLocal(local) {
				t.Fatalf("accepted %q, outside the rendition's directory", name)
			}
			fi, err := os.Stat(filepath.Join(dir, local))
			if err != nil || !fi.Mode().IsRegular() {
				t.Fatalf("accepted %q, which is not a file (%v)", name, err)
			}
			total += fi.Size()
		}
		switch {
		case !(st.duration >= 0) || math.IsInf(st.duration, 0):
			t.Fatalf("duration %v", st.duration)
		case st.peak < 0 || st.average < 0:
			t.Fatalf("peak %d, average %d", st.peak, st.average)
		case st.bytes != total:
			t.Fatalf("measured %d bytes, the files hold %d", st.bytes, total)
		}
		n, err := joinedBytes(dir)
		if err != nil || n != total {
			t.Fatalf("JoinRendition wrote %d bytes (%v), want %d", n, err, total)
		}
	})
}

func joinedBytes(dir string) (int64, error) {
	var w countingWriter
	err := JoinRendition(dir, "media_0.m3u8", &w)
	return int64(w), err
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

var _ io.Writer = (*countingWriter)(nil)

// FuzzMasterPlaylist feeds arbitrary master playlists to both readers of one.
func FuzzMasterPlaylist(f *testing.F) {
	f.Add([]byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1200000,AVERAGE-BANDWIDTH=1000000,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=30.000,AUDIO=\"audio\"\nmedia_0.m3u8\n"))
	f.Add([]byte("#EXT-X-STREAM-INF:BANDWIDTH=-1,CODECS=\"\nmedia_0.m3u8\n#EXT-X-STREAM-INF:=,==\"\"\n\nmedia_0.m3u8"))
	f.Add([]byte("#EXT-X-STREAM-INF:FRAME-RATE=1e400,BANDWIDTH=99999999999999999999\nmedia_0.m3u8\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, HLSMasterName), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readMasterBandwidths(filepath.Join(dir, HLSMasterName)); err != nil && !errors.Is(err, bufioTooLong) {
			t.Fatalf("reading a master failed: %v", err)
		}
		info, err := ReadRenditionInfo(dir, "media_0.m3u8")
		if err == nil && (math.IsNaN(info.FrameRate) || math.IsInf(info.FrameRate, 0)) {
			t.Fatalf("frame rate %v", info.FrameRate)
		}
	})
}

// bufioTooLong is what a line longer than bufio.Scanner's limit yields.
var bufioTooLong = errors.New("bufio.Scanner: token too long")

var codecsPattern = regexp.MustCompile(`^[A-Za-z0-9.]{1,40}$`)

// FuzzMasterRoundTrip writes a master playlist as finalize does and reads the
// variant back as the quality report does: what was written is what is read.
func FuzzMasterRoundTrip(f *testing.F) {
	f.Add(1280, 720, int64(3_000_000), int64(2_500_000), "avc1.64001f", 29.97, true)
	f.Add(2, 2, int64(0), int64(0), "avc1", 0.0, false)
	f.Add(7680, 4320, int64(1)<<40, int64(1), "avc3.640033", 1000.0, true)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, w, h int, peak, avg int64, codecs string, fps float64, audio bool) {
		if w <= 0 || h <= 0 || peak < 0 || avg < 0 || peak > 1<<50 || avg > 1<<50 || !codecsPattern.MatchString(codecs) ||
			!(fps >= 0 && fps <= 1000) {
			return // values finalize cannot produce
		}
		out := &Output{Renditions: []Rendition{{Width: w, Height: h, Bitrate: peak, AverageBitrate: avg, Codecs: codecs,
			FrameRate: fps, Playlist: mediaPlaylistName(0)}}}
		var audioPeak int64
		if audio {
			out.Audio = &AudioRendition{Bitrate: 128_000, AverageBitrate: 120_000, Codecs: "mp4a.40.2", Channels: 2, Playlist: mediaPlaylistName(1)}
			audioPeak = 128_000
		}
		if err := writeMaster(filepath.Join(dir, HLSMasterName), out, nil); err != nil {
			t.Fatal(err)
		}
		info, err := ReadRenditionInfo(dir, mediaPlaylistName(0))
		if err != nil {
			t.Fatalf("cannot read back the variant: %v", err)
		}
		if info.Codecs != codecs || info.Bandwidth != peak+audioPeak || math.Abs(info.FrameRate-fps) > 0.0005+1e-9 { // %.3f rounds
			t.Fatalf("wrote %s %d %.4f, read %+v", codecs, peak+audioPeak, fps, info)
		}
		bw, err := readMasterBandwidths(filepath.Join(dir, HLSMasterName))
		if err != nil || bw[mediaPlaylistName(0)] != peak+audioPeak {
			t.Fatalf("bandwidths %v (%v)", bw, err)
		}
	})
}

// FuzzReadMPD feeds arbitrary XML to the DASH manifest reader finalize runs.
func FuzzReadMPD(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0"?><MPD mediaPresentationDuration="PT1H2M3.5S"><Period><AdaptationSet contentType="video" frameRate="30000/1001"><Representation id="0" codecs="avc1.64001f"/><Representation id="1" frameRate="25"/></AdaptationSet></Period></MPD>`))
	f.Add([]byte(`<MPD mediaPresentationDuration="PT1e308H"><Period><AdaptationSet frameRate="1/-1"><Representation id="0"/></AdaptationSet></Period></MPD>`))
	f.Add([]byte(`<MPD mediaPresentationDuration="PT-5S"/>`))
	f.Add([]byte(`<MPD mediaPresentationDuration="P1D"/>`))
	f.Add([]byte(`<MPD><Period>` + strings.Repeat(`<AdaptationSet>`, 50) + `</MPD>`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, DASHManifestName)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		info, err := readMPD(p)
		if err != nil {
			return
		}
		if !(info.duration >= 0) || math.IsInf(info.duration, 0) {
			t.Fatalf("duration %v", info.duration)
		}
		for id := range info.reps {
			if fr := info.frameRate(id); !(fr >= 0) || math.IsInf(fr, 0) {
				t.Fatalf("representation %q frame rate %v", id, fr)
			}
		}
	})
}

// box is an ISO BMFF box of type typ around body.
func box(typ string, body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	out := binary.BigEndian.AppendUint32(nil, uint32(8+len(b)))
	return append(append(out, typ...), b...)
}

// initSegment is an fMP4 init segment whose first sample entry is entry.
func initSegment(entry []byte) []byte {
	stsd := box("stsd", []byte{0, 0, 0, 0, 0, 0, 0, 1}, entry)
	return append(box("ftyp", []byte("iso6\x00\x00\x00\x00")),
		box("moov", box("trak", box("mdia", box("minf", box("stbl", stsd)))))...)
}

func avcEntry(w, h uint16, profile, compat, level byte) []byte {
	body := make([]byte, 78)
	binary.BigEndian.PutUint16(body[24:], w)
	binary.BigEndian.PutUint16(body[26:], h)
	return box("avc1", body, box("avcC", []byte{1, profile, compat, level, 0xff}))
}

func mp4aEntry(channels, rate uint16) []byte {
	body := make([]byte, 28)
	binary.BigEndian.PutUint16(body[16:], channels)
	binary.BigEndian.PutUint16(body[24:], rate)
	return box("mp4a", body)
}

// FuzzReadSampleEntry feeds arbitrary bytes as an init segment to the box walker.
func FuzzReadSampleEntry(f *testing.F) {
	f.Add(initSegment(avcEntry(1280, 720, 0x64, 0, 0x1f)))
	f.Add(initSegment(mp4aEntry(2, 48000)))
	f.Add(initSegment(box("hev1", make([]byte, 80))))
	f.Add(box("moov", []byte{0, 0, 0, 1, 't', 'r', 'a', 'k', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}))
	f.Add([]byte{0, 0, 0, 0, 'm', 'o', 'o', 'v'})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "init.mp4")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		se, err := readSampleEntry(p)
		if err != nil {
			return
		}
		if !strings.HasPrefix(se.codecs, "avc1") && !strings.HasPrefix(se.codecs, "avc3") && se.codecs != "mp4a" {
			t.Fatalf("codecs %q", se.codecs)
		}
	})
}

// FuzzSampleEntryRoundTrip builds init segments and reads their sample entry back.
func FuzzSampleEntryRoundTrip(f *testing.F) {
	f.Add(uint16(1920), uint16(1080), byte(0x64), byte(0), byte(0x28), false, uint16(0), uint16(0))
	f.Add(uint16(0), uint16(0), byte(0), byte(0), byte(0), true, uint16(6), uint16(44100))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, w, h uint16, profile, compat, level byte, audio bool, ch, rate uint16) {
		entry := avcEntry(w, h, profile, compat, level)
		if audio {
			entry = mp4aEntry(ch, rate)
		}
		p := filepath.Join(dir, "init.mp4")
		if err := os.WriteFile(p, initSegment(entry), 0o644); err != nil {
			t.Fatal(err)
		}
		se, err := readSampleEntry(p)
		if err != nil {
			t.Fatalf("cannot read a well-formed init segment: %v", err)
		}
		want := sampleEntry{codecs: "mp4a", channels: int(ch), sampleRate: int(rate)}
		if !audio {
			want = sampleEntry{codecs: "avc1." + hex3(profile, compat, level), width: int(w), height: int(h)}
		}
		if *se != want {
			t.Fatalf("read %+v, wrote %+v", *se, want)
		}
	})
}

func hex3(b ...byte) string {
	const digits = "0123456789abcdef"
	var s strings.Builder
	for _, c := range b {
		s.WriteByte(digits[c>>4])
		s.WriteByte(digits[c&15])
	}
	return s.String()
}
