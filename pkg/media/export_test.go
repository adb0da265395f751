package media

// MoovAVCC is the avcC box body (the decoder configuration: profile, level,
// SPS and PPS) of the first track of the MP4 file at path: tests compare the
// parameter sets of chunks and packaged renditions.
func MoovAVCC(path string) ([]byte, error) {
	moov, err := readMoov(path)
	if err != nil {
		return nil, err
	}
	return trackAVCC(moov), nil
}

// MdatNALTypes lists the H.264 NAL unit types in the mdat boxes of an MP4
// (or CMAF segment) whose samples have 4-byte NAL lengths.
func MdatNALTypes(data []byte) []int {
	var out []int
	walkBoxes(data, func(typ string, body []byte) bool {
		if typ == "mdat" {
			for len(body) >= 5 {
				n := int(body[0])<<24 | int(body[1])<<16 | int(body[2])<<8 | int(body[3])
				if n <= 0 || n > len(body)-4 {
					break
				}
				out = append(out, int(body[4]&0x1f))
				body = body[4+n:]
			}
		}
		return true
	})
	return out
}
