package sqlcommon

import (
	"encoding/json"
	"fmt"

	"github.com/pertitle/pertitle/services/catalog/internal/domain"
)

// renditionJSON is one element of the renditions array an asset query
// aggregates, keys as the adapters' SQL names them.
type renditionJSON struct {
	W  int           `json:"w"`
	H  int           `json:"h"`
	B  int64         `json:"b"`
	AB int64         `json:"ab"`
	C  string        `json:"c"`
	CS string        `json:"cs"`
	FR float64       `json:"fr"`
	N  int64         `json:"n"`
	Q  []qualityJSON `json:"q"`
}

// qualityJSON is how a rendition's quality scores are stored.
type qualityJSON struct {
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
}

// DecodeRenditions reads the aggregated renditions of an asset ("" or "[]": none).
func DecodeRenditions(s string) ([]domain.Rendition, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var rows []renditionJSON
	if err := json.Unmarshal([]byte(s), &rows); err != nil {
		return nil, fmt.Errorf("cannot decode renditions: %w", err)
	}
	out := make([]domain.Rendition, len(rows))
	for i, x := range rows {
		var q []domain.Quality
		if len(x.Q) > 0 {
			q = make([]domain.Quality, len(x.Q))
			for j, s := range x.Q {
				q[j] = domain.Quality(s)
			}
		}
		out[i] = domain.Rendition{Width: x.W, Height: x.H, Bitrate: x.B, AverageBitrate: x.AB,
			Codec: x.C, Codecs: x.CS, FrameRate: x.FR, Bytes: x.N, Quality: q}
	}
	return out, nil
}

// EncodeQuality is the stored form of a rendition's quality scores (a JSON array).
func EncodeQuality(q []domain.Quality) (string, error) {
	out := make([]qualityJSON, len(q))
	for i, s := range q {
		out[i] = qualityJSON(s)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("cannot encode quality: %w", err)
	}
	return string(b), nil
}
