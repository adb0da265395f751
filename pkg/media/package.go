package media

import (
	"bufio"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// mediaPlaylistName is the name ffmpeg's dash muxer gives the HLS media
// playlist of representation id.
func mediaPlaylistName(id int) string { return fmt.Sprintf("media_%d.m3u8", id) }

// finalize measures what ffmpeg wrote and rewrites the HLS master playlist.
func finalize(req *EncodeRequest) (*Output, error) {
	dir := req.OutDir
	mpd, err := readMPD(filepath.Join(dir, DASHManifestName))
	if err != nil {
		return nil, err
	}
	advertised, err := readMasterBandwidths(filepath.Join(dir, HLSMasterName))
	if err != nil {
		return nil, err
	}

	out := &Output{HLSMaster: HLSMasterName, DASHManifest: DASHManifestName}
	srcFPS := 0.0
	if req.Source.Video != nil {
		srcFPS = req.Source.Video.FrameRate
	}
	for i, rung := range req.Ladder {
		r, duration, err := measureRendition(dir, mpd, i, rung, srcFPS)
		if err != nil {
			return nil, err
		}
		out.Renditions = append(out.Renditions, r)
		if i == 0 {
			out.Duration = duration
		}
	}
	if req.Source.HasAudio() {
		if out.Audio, err = measureAudio(dir, mpd, len(req.Ladder)); err != nil {
			return nil, err
		}
	}
	if mpd.duration > 0 && out.Duration <= 0 {
		out.Duration = mpd.duration
	}

	if err := writeMaster(filepath.Join(dir, HLSMasterName), out, advertised); err != nil {
		return nil, err
	}
	out.Files, err = ListFiles(dir)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// measureRendition measures video rendition i, checks that it is the H.264
// picture size its rung asked for, and returns it with its playlist's
// duration. srcFPS stands in for a frame rate the MPD does not give.
func measureRendition(dir string, mpd *mpdInfo, i int, rung Rung, srcFPS float64) (Rendition, float64, error) {
	m, err := measurePlaylist(dir, mediaPlaylistName(i))
	if err != nil {
		return Rendition{}, 0, err
	}
	se, err := readSampleEntry(filepath.Join(dir, m.init))
	if err != nil {
		return Rendition{}, 0, fmt.Errorf("media: rendition %d: %w", i, err)
	}
	if !strings.HasPrefix(se.codecs, "avc") {
		return Rendition{}, 0, fmt.Errorf("media: rendition %d: unexpected codec %q", i, se.codecs)
	}
	if se.width != rung.Width || se.height != rung.Height {
		return Rendition{}, 0, fmt.Errorf("media: rendition %d is %dx%d, expected %dx%d",
			i, se.width, se.height, rung.Width, rung.Height)
	}
	fps := mpd.frameRate(strconv.Itoa(i))
	if fps <= 0 {
		fps = srcFPS
	}
	return Rendition{
		Width:          se.width,
		Height:         se.height,
		Bitrate:        m.peak,
		AverageBitrate: m.average,
		Codec:          "h264",
		Codecs:         se.codecs,
		FrameRate:      fps,
		Bytes:          m.bytes,
		Playlist:       mediaPlaylistName(i),
	}, m.duration, nil
}

// measureAudio measures the audio rendition, representation id.
func measureAudio(dir string, mpd *mpdInfo, id int) (*AudioRendition, error) {
	m, err := measurePlaylist(dir, mediaPlaylistName(id))
	if err != nil {
		return nil, err
	}
	se, err := readSampleEntry(filepath.Join(dir, m.init))
	if err != nil {
		return nil, fmt.Errorf("media: audio rendition: %w", err)
	}
	codecs := mpd.codecs(strconv.Itoa(id))
	if codecs == "" {
		codecs = "mp4a.40.2"
	}
	return &AudioRendition{
		Bitrate:        m.peak,
		AverageBitrate: m.average,
		Codecs:         codecs,
		Channels:       se.channels,
		SampleRate:     se.sampleRate,
		Bytes:          m.bytes,
		Playlist:       mediaPlaylistName(id),
	}, nil
}

// writeMaster writes the HLS master playlist from measured values. BANDWIDTH
// is the peak video segment rate plus the peak audio segment rate, but never
// less than what ffmpeg advertised for the variant.
func writeMaster(path string, out *Output, advertised map[string]int64) error {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	var audioPeak, audioAvg int64
	audioCodecs := ""
	if a := out.Audio; a != nil {
		audioPeak, audioAvg, audioCodecs = a.Bitrate, a.AverageBitrate, a.Codecs
		ch := a.Channels
		if ch <= 0 {
			ch = audioChannels
		}
		fmt.Fprintf(&b, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"%d\",URI=\"%s\"\n",
			ch, a.Playlist)
	}
	for _, r := range out.Renditions {
		bw := r.Bitrate + audioPeak
		if adv := advertised[r.Playlist]; adv > bw {
			bw = adv
		}
		codecs := r.Codecs
		if audioCodecs != "" {
			codecs += "," + audioCodecs
		}
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,AVERAGE-BANDWIDTH=%d,CODECS=\"%s\",RESOLUTION=%dx%d,FRAME-RATE=%.3f",
			bw, r.AverageBitrate+audioAvg, codecs, r.Width, r.Height, r.FrameRate)
		if out.Audio != nil {
			b.WriteString(`,AUDIO="audio"`)
		}
		b.WriteString("\n" + r.Playlist + "\n")
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("media: write master playlist: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("media: write master playlist: %w", err)
	}
	return nil
}

// readMasterBandwidths returns BANDWIDTH per variant URI of ffmpeg's master.
func readMasterBandwidths(path string) (map[string]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("media: ffmpeg wrote no HLS master: %w", err)
	}
	defer f.Close()
	res := map[string]int64{}
	var pending int64 = -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#EXT-X-STREAM-INF:"):
			pending = 0
			if v, ok := m3u8Attrs(strings.TrimPrefix(line, "#EXT-X-STREAM-INF:"))["BANDWIDTH"]; ok {
				pending = parseInt(v)
			}
		case line == "" || strings.HasPrefix(line, "#"):
		case pending >= 0:
			res[line] = pending
			pending = -1
		}
	}
	return res, sc.Err()
}

// m3u8Attrs parses an HLS attribute list (KEY=VALUE,KEY="quoted,value").
func m3u8Attrs(s string) map[string]string {
	attrs := map[string]string{}
	for s != "" {
		key, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		var val string
		if strings.HasPrefix(rest, `"`) {
			end := strings.Index(rest[1:], `"`)
			if end < 0 {
				val, rest = rest[1:], ""
			} else {
				val, rest = rest[1:1+end], rest[2+end:]
			}
			rest = strings.TrimPrefix(rest, ",")
		} else {
			val, rest, _ = strings.Cut(rest, ",")
		}
		attrs[strings.TrimSpace(key)] = val
		s = rest
	}
	return attrs
}

type playlistStats struct {
	init     string
	segments []string
	duration float64 // sum of EXTINF
	peak     int64   // max segment bits/s
	average  int64   // total segment bits / duration
	bytes    int64   // init + segments
}

// measurePlaylist parses an HLS media playlist and sizes its files.
func measurePlaylist(dir, name string) (*playlistStats, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("media: media playlist: %w", err)
	}
	defer f.Close()
	st := &playlistStats{}
	var (
		segBytes int64
		extinf   = -1.0
		peak     float64
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#EXT-X-MAP:"):
			st.init = m3u8Attrs(strings.TrimPrefix(line, "#EXT-X-MAP:"))["URI"]
		case strings.HasPrefix(line, "#EXTINF:"):
			v, _, _ := strings.Cut(strings.TrimPrefix(line, "#EXTINF:"), ",")
			extinf = parseFloat(v)
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			if extinf < 0 {
				return nil, fmt.Errorf("media: %s: segment %s without #EXTINF", name, line)
			}
			fi, err := statLocal(dir, line)
			if err != nil {
				return nil, fmt.Errorf("media: %s: %w", name, err)
			}
			st.segments = append(st.segments, line)
			st.duration += extinf
			segBytes += fi.Size()
			if extinf > 0 {
				peak = math.Max(peak, float64(fi.Size())*8/extinf)
			}
			extinf = -1
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("media: %s: %w", name, err)
	}
	if st.init == "" || len(st.segments) == 0 {
		return nil, fmt.Errorf("media: %s: no init segment or no media segments", name)
	}
	if math.IsInf(st.duration, 0) {
		return nil, fmt.Errorf("media: %s: segment durations add up to infinity", name)
	}
	fi, err := statLocal(dir, st.init)
	if err != nil {
		return nil, fmt.Errorf("media: %s: %w", name, err)
	}
	st.bytes = segBytes + fi.Size()
	st.peak = int64(math.Ceil(peak))
	if st.duration > 0 {
		st.average = int64(math.Round(float64(segBytes) * 8 / st.duration))
	}
	return st, nil
}

// statLocal stats a file a playlist names, which must be a regular file inside
// dir: JoinRendition reads whatever the playlist names.
func statLocal(dir, uri string) (fs.FileInfo, error) {
	local := filepath.FromSlash(uri)
	if !filepath.IsLocal(local) {
		return nil, fmt.Errorf("%q is outside the rendition's directory", uri)
	}
	fi, err := os.Stat(filepath.Join(dir, local))
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%q is not a file", uri)
	}
	return fi, err
}

// ListFiles lists every regular file under dir, relative, slash-separated and sorted.
func ListFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// --- DASH MPD ---------------------------------------------------------------

type mpdDoc struct {
	MediaPresentationDuration string `xml:"mediaPresentationDuration,attr"`
	Periods                   []struct {
		AdaptationSets []struct {
			ContentType     string `xml:"contentType,attr"`
			FrameRate       string `xml:"frameRate,attr"`
			Representations []struct {
				ID        string `xml:"id,attr"`
				Codecs    string `xml:"codecs,attr"`
				FrameRate string `xml:"frameRate,attr"`
			} `xml:"Representation"`
		} `xml:"AdaptationSet"`
	} `xml:"Period"`
}

type mpdInfo struct {
	duration float64
	reps     map[string]struct{ codecs, frameRate string }
}

func readMPD(path string) (*mpdInfo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("media: ffmpeg wrote no DASH manifest: %w", err)
	}
	var doc mpdDoc
	if err := xml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("media: parse DASH manifest: %w", err)
	}
	info := &mpdInfo{
		duration: parseISODuration(doc.MediaPresentationDuration),
		reps:     map[string]struct{ codecs, frameRate string }{},
	}
	for _, p := range doc.Periods {
		for _, as := range p.AdaptationSets {
			for _, r := range as.Representations {
				fr := r.FrameRate
				if fr == "" {
					fr = as.FrameRate
				}
				info.reps[r.ID] = struct{ codecs, frameRate string }{r.Codecs, fr}
			}
		}
	}
	return info, nil
}

func (m *mpdInfo) frameRate(id string) float64 { return parseRate(m.reps[id].frameRate) }
func (m *mpdInfo) codecs(id string) string     { return m.reps[id].codecs }

// parseISODuration parses the subset of ISO 8601 durations ffmpeg writes
// (PTnHnMn.nS). It returns 0 for anything else.
func parseISODuration(s string) float64 {
	rest, ok := strings.CutPrefix(s, "PT")
	if !ok {
		return 0
	}
	var total float64
	for rest != "" {
		i := strings.IndexAny(rest, "HMS")
		if i <= 0 {
			return 0
		}
		v := parseFloat(rest[:i])
		switch rest[i] {
		case 'H':
			total += v * 3600
		case 'M':
			total += v * 60
		case 'S':
			total += v
		}
		rest = rest[i+1:]
	}
	if !(total >= 0) || math.IsInf(total, 0) {
		return 0
	}
	return total
}

// --- ISO BMFF init segment ---------------------------------------------------

type sampleEntry struct {
	codecs     string // RFC 6381, e.g. "avc1.64001f" or "mp4a"
	width      int
	height     int
	channels   int
	sampleRate int
}

// readSampleEntry reads the first track's sample description of an fMP4
// init segment (moov/trak/mdia/minf/stbl/stsd).
func readSampleEntry(path string) (*sampleEntry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	stsd := findBox(data, "moov", "trak", "mdia", "minf", "stbl", "stsd")
	if len(stsd) < 8 {
		return nil, fmt.Errorf("%s: no sample description", filepath.Base(path))
	}
	var entry *sampleEntry
	walkBoxes(stsd[8:], func(typ string, body []byte) bool {
		switch typ {
		case "avc1", "avc3":
			if len(body) < 78 {
				return false
			}
			e := &sampleEntry{
				width:  int(binary.BigEndian.Uint16(body[24:26])),
				height: int(binary.BigEndian.Uint16(body[26:28])),
				codecs: typ,
			}
			if avcC := findBox(body[78:], "avcC"); len(avcC) >= 4 {
				e.codecs = fmt.Sprintf("%s.%02x%02x%02x", typ, avcC[1], avcC[2], avcC[3])
			}
			entry = e
		case "mp4a":
			if len(body) < 28 {
				return false
			}
			entry = &sampleEntry{
				codecs:     typ,
				channels:   int(binary.BigEndian.Uint16(body[16:18])),
				sampleRate: int(binary.BigEndian.Uint16(body[24:26])),
			}
		}
		return false // first entry only
	})
	if entry == nil {
		return nil, errors.New(filepath.Base(path) + ": unsupported sample entry")
	}
	return entry, nil
}

// findBox descends through nested boxes by type and returns the body of the
// last one, or nil.
func findBox(data []byte, path ...string) []byte {
	for _, want := range path {
		var found []byte
		walkBoxes(data, func(typ string, body []byte) bool {
			if typ == want {
				found = body
				return false
			}
			return true
		})
		if found == nil {
			return nil
		}
		data = found
	}
	return data
}

// walkBoxes calls fn for each top-level box in data until fn returns false.
func walkBoxes(data []byte, fn func(typ string, body []byte) bool) {
	for len(data) >= 8 {
		size := uint64(binary.BigEndian.Uint32(data[:4]))
		typ := string(data[4:8])
		hdr := uint64(8)
		switch size {
		case 0:
			size = uint64(len(data))
		case 1:
			if len(data) < 16 {
				return
			}
			size, hdr = binary.BigEndian.Uint64(data[8:16]), 16
		}
		if size < hdr || size > uint64(len(data)) {
			return
		}
		if !fn(typ, data[hdr:size]) {
			return
		}
		data = data[size:]
	}
}

// JoinRendition writes the init segment and then every media segment of the
// HLS media playlist (relative to dir) to w: one fragmented MP4 that ffmpeg
// and players read as a whole file (for quality measurement, say).
func JoinRendition(dir, playlist string, w io.Writer) error {
	st, err := measurePlaylist(dir, playlist)
	if err != nil {
		return err
	}
	for _, name := range append([]string{st.init}, st.segments...) {
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return fmt.Errorf("media: join %s: %w", playlist, err)
		}
		_, err = io.Copy(w, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("media: join %s: %w", playlist, err)
		}
	}
	return nil
}

// RenditionInfo is what the HLS master playlist says of one variant.
type RenditionInfo struct {
	Codecs    string  // video codec string, e.g. "avc1.64001e"
	FrameRate float64 // FRAME-RATE
	Bandwidth int64   // BANDWIDTH (video + audio peak)
}

// ReadRenditionInfo reads the master playlist in dir (HLSMasterName) and
// returns what it declares for the variant whose URI is playlist.
func ReadRenditionInfo(dir, playlist string) (RenditionInfo, error) {
	f, err := os.Open(filepath.Join(dir, HLSMasterName))
	if err != nil {
		return RenditionInfo{}, fmt.Errorf("media: %w", err)
	}
	defer f.Close()
	var pending map[string]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#EXT-X-STREAM-INF:"):
			pending = m3u8Attrs(strings.TrimPrefix(line, "#EXT-X-STREAM-INF:"))
		case line == "" || strings.HasPrefix(line, "#"):
		case pending != nil:
			if line == playlist {
				codecs, _, _ := strings.Cut(pending["CODECS"], ",")
				return RenditionInfo{Codecs: codecs, FrameRate: parseFloat(pending["FRAME-RATE"]), Bandwidth: parseInt(pending["BANDWIDTH"])}, nil
			}
			pending = nil
		}
	}
	if err := sc.Err(); err != nil {
		return RenditionInfo{}, fmt.Errorf("media: %w", err)
	}
	return RenditionInfo{}, fmt.Errorf("media: %s lists no variant %s", HLSMasterName, playlist)
}
