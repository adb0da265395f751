package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// maxMoovBytes bounds the moov box read from an encoded chunk: a chunk's
// sample tables are a few kilobytes per second of video.
const maxMoovBytes = 64 << 20

// readMoov reads the body of the top-level moov box of the MP4 file at path
// without reading its media data.
func readMoov(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var hdr [16]byte
	for {
		if _, err := io.ReadFull(f, hdr[:8]); err != nil {
			return nil, fmt.Errorf("%s: no moov box: %w", filepath.Base(path), err)
		}
		size, n := uint64(binary.BigEndian.Uint32(hdr[:4])), uint64(8)
		if size == 1 {
			if _, err := io.ReadFull(f, hdr[8:16]); err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
			}
			size, n = binary.BigEndian.Uint64(hdr[8:16]), 16
		}
		if size < n && size != 0 {
			return nil, fmt.Errorf("%s: box of %d bytes", filepath.Base(path), size)
		}
		if string(hdr[4:8]) == "moov" {
			if size == 0 || size-n > maxMoovBytes {
				return nil, fmt.Errorf("%s: moov box of %d bytes", filepath.Base(path), size)
			}
			body := make([]byte, size-n)
			if _, err := io.ReadFull(f, body); err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
			}
			return body, nil
		}
		if size == 0 {
			return nil, fmt.Errorf("%s: no moov box", filepath.Base(path))
		}
		if _, err := f.Seek(int64(size-n), io.SeekCurrent); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
		}
	}
}

// trackAVCC is the avcC box body (profile, level, SPS and PPS) of the first
// track's H.264 sample entry in a moov box body, nil when there is none.
func trackAVCC(moov []byte) []byte {
	stsd := findBox(moov, "trak", "mdia", "minf", "stbl", "stsd")
	if len(stsd) < 8 {
		return nil
	}
	var avcC []byte
	walkBoxes(stsd[8:], func(typ string, body []byte) bool {
		if (typ == "avc1" || typ == "avc3") && len(body) >= 78 {
			avcC = findBox(body[78:], "avcC")
		}
		return false
	})
	return avcC
}

// errParameterSets marks chunks of one rung whose parameter sets differ.
var errParameterSets = errors.New("chunks of one rung have different parameter sets")

// checkParameterSets checks that every chunk of a rung has the first
// chunk's H.264 decoder configuration: Package joins them under one sample
// entry, without parameter sets in band, so a chunk with other ones would
// decode wrongly. (Per-shot chunks at different CRFs share theirs because
// they are encoded stitchable.)
func checkParameterSets(files []string) error {
	var first []byte
	for k, f := range files {
		moov, err := readMoov(f)
		if err != nil {
			return fmt.Errorf("media: package: %w", err)
		}
		avcC := trackAVCC(moov)
		if avcC == nil {
			return fmt.Errorf("media: package: %s has no H.264 decoder configuration", filepath.Base(f))
		}
		if k == 0 {
			first = avcC
		} else if !bytes.Equal(first, avcC) {
			return fmt.Errorf("media: package: %w: chunk %d (%s) differs from chunk 0", errParameterSets, k, filepath.Base(f))
		}
	}
	return nil
}
