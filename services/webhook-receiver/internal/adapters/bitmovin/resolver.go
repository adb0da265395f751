// Package bitmovin resolves Bitmovin encodings for the webhook-receiver: it
// reads from Bitmovin's API what an encoding produced (status, renditions,
// manifest keys) as a jobs.Result.
package bitmovin

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/pertitle/pertitle/pkg/bitmovin"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/services/webhook-receiver/internal/app"
)

// Resolver asks Bitmovin's API what an encoding produced. Manifest keys are
// the job's output prefix in the output bucket plus the manifest names; the catalog
// turns keys into URLs with PERTITLE_MEDIA_BASE_URL (the CDN over that bucket).
type Resolver struct{ Client *bitmovin.Client }

// Resolve reads the encoding, its status and, when finished, its renditions.
func (b Resolver) Resolve(ctx context.Context, encodingID string) (*jobs.Result, error) {
	enc, err := b.Client.GetEncoding(ctx, encodingID)
	if bitmovin.IsNotFound(err) {
		return nil, fmt.Errorf("%w: %s", app.ErrUnknownEncoding, encodingID)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read encoding %s: %w", encodingID, err)
	}
	labels, ok := bitmovin.ParseJobLabels(enc.Labels)
	if !ok {
		return nil, fmt.Errorf("%w: %s was not started by pertitle", app.ErrUnknownEncoding, encodingID)
	}
	task, err := b.Client.EncodingStatus(ctx, encodingID)
	if err != nil {
		return nil, fmt.Errorf("cannot read status of encoding %s: %w", encodingID, err)
	}
	res := &jobs.Result{JobID: encodingID, AssetID: labels.AssetID, Owner: labels.Owner, Backend: "bitmovin",
		Status: string(task.Status), LadderMode: labels.LadderMode, CorrelationID: labels.CorrelationID, Traceparent: labels.Traceparent}
	if enc.StartedAt != nil {
		end := task.FinishedAt
		if end == nil {
			end = enc.FinishedAt
		}
		if end != nil {
			res.EncodeSeconds = end.Sub(*enc.StartedAt).Seconds()
			res.FinishedAt = *end
		}
	}
	switch task.Status {
	case bitmovin.StatusFinished:
		res.Status = jobs.StatusFinished
		prefix := jobs.OutputPrefix(labels.AssetID, labels.JobID)
		res.HLSManifestKey, res.DASHManifestKey = path.Join(prefix, jobs.HLSManifest), path.Join(prefix, jobs.DASHManifest)
		if res.Renditions, err = b.renditions(ctx, encodingID); err != nil {
			return nil, err
		}
	case bitmovin.StatusError, bitmovin.StatusCanceled, bitmovin.StatusTransferError:
		res.Status = jobs.StatusError
		res.Error, res.Retryable, res.Code = failure(task)
	}
	return res, nil
}

// failure reads the reason, retry hint and code of an errored task.
func failure(t *bitmovin.Task) (reason string, retryable bool, code string) {
	if t.Error != nil {
		reason = t.Error.Text
		retryable = t.Error.RetryHint == bitmovin.RetryHintRetry || t.Error.RetryHint == bitmovin.RetryHintRetryInDifferentRegion
		if t.Error.Code != 0 {
			code = fmt.Sprintf("bitmovin-%d", t.Error.Code)
		}
	}
	if reason == "" {
		var msgs []string
		for _, m := range t.Messages {
			if m.Type == bitmovin.MessageTypeError && m.Text != "" {
				msgs = append(msgs, m.Text)
			}
		}
		reason = strings.Join(msgs, "; ")
	}
	if reason == "" {
		reason = "bitmovin encoding ended with status " + string(t.Status)
	}
	return reason, retryable, code
}

// renditions lists the per-title results (or plain video streams) with their size
// from the codec configuration and bitrate from the muxing.
func (b Resolver) renditions(ctx context.Context, encodingID string) ([]jobs.Rendition, error) {
	streams, err := b.Client.ListStreams(ctx, encodingID)
	if err != nil {
		return nil, fmt.Errorf("cannot list streams of %s: %w", encodingID, err)
	}
	muxings, err := b.Client.ListFmp4Muxings(ctx, encodingID)
	if err != nil {
		return nil, fmt.Errorf("cannot list muxings of %s: %w", encodingID, err)
	}
	byStream := map[string]bitmovin.Fmp4Muxing{}
	for _, m := range muxings {
		if len(m.Streams) == 1 {
			byStream[m.Streams[0].StreamID] = m
		}
	}
	var out []jobs.Rendition
	for _, s := range streams {
		switch s.Mode {
		case bitmovin.StreamModePerTitleResult:
		case bitmovin.StreamModeStandard, "":
			if s.AppliedSettings == nil || s.AppliedSettings.Height == 0 {
				continue // audio
			}
		default:
			continue // templates
		}
		cfg, err := b.Client.GetH264Configuration(ctx, s.CodecConfigID)
		if err != nil {
			return nil, fmt.Errorf("cannot read configuration %s of stream %s: %w", s.CodecConfigID, s.ID, err)
		}
		r := jobs.Rendition{Width: cfg.Width, Height: cfg.Height, Bitrate: cfg.Bitrate, AverageBitrate: cfg.Bitrate, Codec: "h264", FrameRate: cfg.Rate}
		if s.AppliedSettings != nil && s.AppliedSettings.Height > 0 {
			r.Width, r.Height = s.AppliedSettings.Width, s.AppliedSettings.Height
		}
		if m, ok := byStream[s.ID]; ok {
			if m.MaxBitrate > 0 {
				r.Bitrate = m.MaxBitrate
			}
			if m.AvgBitrate > 0 {
				r.AverageBitrate = m.AvgBitrate
			}
		}
		out = append(out, r)
	}
	return out, nil
}
