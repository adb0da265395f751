package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/storage"
)

// Job statuses, spelled as Bitmovin spells encoding statuses.
const (
	StatusFinished = "FINISHED"
	StatusError    = "ERROR"
)

// Result is what the local backend records for a job before it fires the webhook.
// The webhook-receiver reads it to build EncodingFinished or EncodingFailed, as it
// asks Bitmovin's API for an encoding's details with the Bitmovin backend.
type Result struct {
	JobID           string      `json:"job_id"`
	AssetID         string      `json:"asset_id"`
	Owner           string      `json:"owner"`
	Backend         string      `json:"backend"`
	Status          string      `json:"status"`
	LadderMode      string      `json:"ladder_mode,omitempty"`
	HLSManifestKey  string      `json:"hls_manifest_key,omitempty"`
	DASHManifestKey string      `json:"dash_manifest_key,omitempty"`
	Renditions      []Rendition `json:"renditions,omitempty"`
	EncodeSeconds   float64     `json:"encode_seconds,omitempty"`
	Error           string      `json:"error,omitempty"`
	Retryable       bool        `json:"retryable,omitempty"`
	Code            string      `json:"code,omitempty"`
	CorrelationID   string      `json:"correlation_id,omitempty"`
	Traceparent     string      `json:"traceparent,omitempty"`
	FinishedAt      time.Time   `json:"finished_at"`
}

// Rendition is one encoded rung.
type Rendition struct {
	Width          int     `json:"width"`
	Height         int     `json:"height"`
	Bitrate        int64   `json:"bitrate"`
	AverageBitrate int64   `json:"average_bitrate"`
	Codec          string  `json:"codec"`
	Codecs         string  `json:"codecs"`
	FrameRate      float64 `json:"frame_rate"`
	Bytes          int64   `json:"bytes"`
	Playlist       string  `json:"playlist,omitempty"`
	// Scores are quality measurements against the source by metric ("vmaf",
	// "ssim", "psnr"), when the backend measured them.
	Scores map[string]float64 `json:"scores,omitempty"`
}

// Rungs converts renditions to their event form.
func Rungs(rs []Rendition) []*eventsv1.Rung {
	out := make([]*eventsv1.Rung, 0, len(rs))
	for _, r := range rs {
		out = append(out, &eventsv1.Rung{
			Width: int32(r.Width), Height: int32(r.Height), Bitrate: r.Bitrate, AverageBitrate: r.AverageBitrate,
			Codec: r.Codec, Codecs: r.Codecs, FrameRate: r.FrameRate, SizeBytes: r.Bytes, PlaylistKey: r.Playlist,
			Quality: qualityScores(r.Scores),
		})
	}
	return out
}

// qualityScores lists scores by metric name, for a stable event.
func qualityScores(m map[string]float64) []*eventsv1.QualityScore {
	if len(m) == 0 {
		return nil
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]*eventsv1.QualityScore, 0, len(names))
	for _, k := range names {
		out = append(out, &eventsv1.QualityScore{Metric: k, Value: m[k]})
	}
	return out
}

// Save records r in st.
func Save(ctx context.Context, st storage.Storage, r *Result) error {
	if err := ValidJobID(r.JobID); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode job result %s: %w", r.JobID, err)
	}
	if _, err := st.Put(ctx, ResultKey(r.JobID), bytes.NewReader(b)); err != nil {
		return fmt.Errorf("cannot save job result %s: %w", r.JobID, err)
	}
	return nil
}

// Load reads the result of jobID; storage.ErrNotFound when the job never recorded one.
func Load(ctx context.Context, st storage.Storage, jobID string) (*Result, error) {
	if err := ValidJobID(jobID); err != nil {
		return nil, err
	}
	rc, _, err := st.Open(ctx, ResultKey(jobID))
	if err != nil {
		return nil, fmt.Errorf("cannot open job result %s: %w", jobID, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("cannot read job result %s: %w", jobID, err)
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("job result %s is corrupt: %w", jobID, err)
	}
	if r.JobID != jobID || r.AssetID == "" {
		return nil, fmt.Errorf("job result %s is inconsistent (job %q, asset %q)", jobID, r.JobID, r.AssetID)
	}
	return &r, nil
}
