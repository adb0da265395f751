package media

// The VBV rule of pertitle's ladders, in one place: a rung's peak rate is
// 1.5x its average bitrate and its buffer twice the bitrate. Apple's HLS
// authoring specification asks VOD peaks to stay within 2x the average; 1.5x
// leaves the rate control room for hard scenes while a 2 s segment's peak
// stays within it. A buffer of 2x the bitrate is 1.33 s at the peak rate.
const (
	maxRateFactor = 1.5 // peak rate = 1.5 x the average bitrate
	bufSizeFactor = 2.0 // buffer = 2 x the rate it is sized on
)

// HeadroomVBV is the cap of a rung with headroom: a max rate of 1.5x bitrate
// and a buffer of twice the bitrate. Average-bitrate rungs (the fixed and
// static ladders) and all but the top per-title rung use it.
func HeadroomVBV(bitrate int64) (maxRate, bufSize int64) {
	return scaleRate(bitrate, maxRateFactor), scaleRate(bitrate, bufSizeFactor)
}

// CappedVBV is the cap of a rung that may not exceed its bitrate (the top
// per-title rung): a max rate of the bitrate and a buffer of twice that.
func CappedVBV(bitrate int64) (maxRate, bufSize int64) {
	return bitrate, scaleRate(bitrate, bufSizeFactor)
}

// VBV is the rate cap of a rung: MaxRate and BufSize when set; otherwise, for
// a constrained-quality rung (CRF > 0), CappedVBV (a buffer of twice MaxRate
// when only MaxRate is set), and for an average-bitrate rung HeadroomVBV.
func VBV(r Rung) (maxRate, bufSize int64) {
	defMax, defBuf := HeadroomVBV(r.Bitrate)
	if r.CRF > 0 {
		defMax, defBuf = CappedVBV(r.Bitrate)
		if r.MaxRate > 0 {
			defBuf = scaleRate(r.MaxRate, bufSizeFactor)
		}
	}
	maxRate, bufSize = r.MaxRate, r.BufSize
	if maxRate <= 0 {
		maxRate = defMax
	}
	if bufSize <= 0 {
		bufSize = defBuf
	}
	return maxRate, bufSize
}

// scaleRate is rate times f, truncated to whole bits.
func scaleRate(rate int64, f float64) int64 { return int64(float64(rate) * f) }
