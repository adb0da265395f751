package bitmovin

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Paths of the endpoints used, relative to the base URL.
const (
	pathInputsS3RoleBased  = "/encoding/inputs/s3-role-based/"
	pathInputsS3           = "/encoding/inputs/s3/"
	pathOutputsS3RoleBased = "/encoding/outputs/s3-role-based/"
	pathOutputsS3          = "/encoding/outputs/s3/"
	pathEncodings          = "/encoding/encodings"
	pathH264               = "/encoding/configurations/video/h264"
	pathAAC                = "/encoding/configurations/audio/aac"
	pathHLSDefault         = "/encoding/manifests/hls/default"
	pathDASHDefault        = "/encoding/manifests/dash/default"
	pathWebhooksEncodings  = "/notifications/webhooks/encoding/encodings/"
)

func esc(id string) string { return url.PathEscape(id) }

// GetS3RoleBasedInput reads a role-based S3 input.
func (c *Client) GetS3RoleBasedInput(ctx context.Context, id string) (*S3RoleBasedInput, error) {
	var out S3RoleBasedInput
	return &out, c.do(ctx, http.MethodGet, pathInputsS3RoleBased+esc(id), nil, nil, &out)
}

// GetS3Input reads an access-key S3 input.
func (c *Client) GetS3Input(ctx context.Context, id string) (*S3Input, error) {
	var out S3Input
	return &out, c.do(ctx, http.MethodGet, pathInputsS3+esc(id), nil, nil, &out)
}

// GetS3RoleBasedOutput reads a role-based S3 output.
func (c *Client) GetS3RoleBasedOutput(ctx context.Context, id string) (*S3RoleBasedOutput, error) {
	var out S3RoleBasedOutput
	return &out, c.do(ctx, http.MethodGet, pathOutputsS3RoleBased+esc(id), nil, nil, &out)
}

// GetS3Output reads an access-key S3 output.
func (c *Client) GetS3Output(ctx context.Context, id string) (*S3Output, error) {
	var out S3Output
	return &out, c.do(ctx, http.MethodGet, pathOutputsS3+esc(id), nil, nil, &out)
}

// CreateEncoding creates an encoding (status CREATED).
func (c *Client) CreateEncoding(ctx context.Context, e Encoding) (*Encoding, error) {
	var out Encoding
	return &out, c.do(ctx, http.MethodPost, pathEncodings, nil, e, &out)
}

// GetEncoding reads an encoding.
func (c *Client) GetEncoding(ctx context.Context, id string) (*Encoding, error) {
	var out Encoding
	return &out, c.do(ctx, http.MethodGet, pathEncodings+"/"+esc(id), nil, nil, &out)
}

// DeleteEncoding deletes an encoding that never started.
func (c *Client) DeleteEncoding(ctx context.Context, id string) error {
	var out BitmovinResponse
	return c.do(ctx, http.MethodDelete, pathEncodings+"/"+esc(id), nil, nil, &out)
}

// ListEncodingsParams filter the encodings list (query parameters of the reference).
type ListEncodingsParams struct {
	Offset, Limit      int
	Sort               string // e.g. "createdAt:desc"
	Status             Status
	Name               string
	Search             string
	CreatedAtNewerThan time.Time
}

func (p ListEncodingsParams) query() url.Values {
	q := url.Values{}
	if p.Offset > 0 {
		q.Set("offset", strconv.Itoa(p.Offset))
	}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("sort", p.Sort)
	set("status", string(p.Status))
	set("name", p.Name)
	set("search", p.Search)
	if !p.CreatedAtNewerThan.IsZero() {
		q.Set("createdAtNewerThan", p.CreatedAtNewerThan.UTC().Format(time.RFC3339))
	}
	return q
}

// ListEncodings lists one page of encodings.
func (c *Client) ListEncodings(ctx context.Context, p ListEncodingsParams) (*Page[Encoding], error) {
	var out Page[Encoding]
	return &out, c.do(ctx, http.MethodGet, pathEncodings, p.query(), nil, &out)
}

// EncodingStatus reads the task status of an encoding (progress, error, retry hint).
func (c *Client) EncodingStatus(ctx context.Context, id string) (*Task, error) {
	var out Task
	return &out, c.do(ctx, http.MethodGet, pathEncodings+"/"+esc(id)+"/status", nil, nil, &out)
}

// StartEncoding starts an encoding with req.
func (c *Client) StartEncoding(ctx context.Context, id string, req StartEncodingRequest) error {
	var out BitmovinResponse
	return c.do(ctx, http.MethodPost, pathEncodings+"/"+esc(id)+"/start", nil, req, &out)
}

// CreateH264Configuration creates an H.264 codec configuration.
func (c *Client) CreateH264Configuration(ctx context.Context, cfg H264VideoConfiguration) (*H264VideoConfiguration, error) {
	var out H264VideoConfiguration
	return &out, c.do(ctx, http.MethodPost, pathH264, nil, cfg, &out)
}

// GetH264Configuration reads an H.264 codec configuration.
func (c *Client) GetH264Configuration(ctx context.Context, id string) (*H264VideoConfiguration, error) {
	var out H264VideoConfiguration
	return &out, c.do(ctx, http.MethodGet, pathH264+"/"+esc(id), nil, nil, &out)
}

// CreateAACConfiguration creates an AAC codec configuration.
func (c *Client) CreateAACConfiguration(ctx context.Context, cfg AacAudioConfiguration) (*AacAudioConfiguration, error) {
	var out AacAudioConfiguration
	return &out, c.do(ctx, http.MethodPost, pathAAC, nil, cfg, &out)
}

// CreateStream adds a stream to an encoding.
func (c *Client) CreateStream(ctx context.Context, encodingID string, s Stream) (*Stream, error) {
	var out Stream
	return &out, c.do(ctx, http.MethodPost, pathEncodings+"/"+esc(encodingID)+"/streams", nil, s, &out)
}

// ListStreams lists every stream of an encoding (per-title results included).
func (c *Client) ListStreams(ctx context.Context, encodingID string) ([]Stream, error) {
	return listAll[Stream](ctx, c, pathEncodings+"/"+esc(encodingID)+"/streams")
}

// CreateFmp4Muxing adds an fMP4 muxing to an encoding.
func (c *Client) CreateFmp4Muxing(ctx context.Context, encodingID string, m Fmp4Muxing) (*Fmp4Muxing, error) {
	var out Fmp4Muxing
	return &out, c.do(ctx, http.MethodPost, pathEncodings+"/"+esc(encodingID)+"/muxings/fmp4", nil, m, &out)
}

// ListFmp4Muxings lists every fMP4 muxing of an encoding.
func (c *Client) ListFmp4Muxings(ctx context.Context, encodingID string) ([]Fmp4Muxing, error) {
	return listAll[Fmp4Muxing](ctx, c, pathEncodings+"/"+esc(encodingID)+"/muxings/fmp4")
}

// CreateDefaultHLSManifest creates a default HLS manifest of an encoding.
func (c *Client) CreateDefaultHLSManifest(ctx context.Context, m HlsManifestDefault) (*HlsManifestDefault, error) {
	var out HlsManifestDefault
	return &out, c.do(ctx, http.MethodPost, pathHLSDefault, nil, m, &out)
}

// CreateDefaultDASHManifest creates a default DASH manifest of an encoding.
func (c *Client) CreateDefaultDASHManifest(ctx context.Context, m DashManifestDefault) (*DashManifestDefault, error) {
	var out DashManifestDefault
	return &out, c.do(ctx, http.MethodPost, pathDASHDefault, nil, m, &out)
}

// Webhook events of one encoding.
const (
	WebhookFinished = "finished"
	WebhookError    = "error"
)

// CreateEncodingWebhook registers a webhook for event (WebhookFinished or
// WebhookError) of one encoding. The signing key is redacted from then on.
func (c *Client) CreateEncodingWebhook(ctx context.Context, encodingID, event string, w Webhook) (*Webhook, error) {
	if w.Signature != nil {
		c.AddSecret(w.Signature.Key)
	}
	var out Webhook
	return &out, c.do(ctx, http.MethodPost, pathWebhooksEncodings+esc(encodingID)+"/"+event, nil, w, &out)
}

// pageLimit is the largest page the API serves.
const pageLimit = 100

// maxListItems bounds a listing, so that a misbehaving server cannot loop us.
const maxListItems = 10_000

func listAll[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	var all []T
	for offset := 0; offset < maxListItems; offset += pageLimit {
		q := url.Values{"offset": {strconv.Itoa(offset)}, "limit": {strconv.Itoa(pageLimit)}}
		var page Page[T]
		if err := c.do(ctx, http.MethodGet, path, q, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if len(page.Items) < pageLimit {
			break
		}
	}
	return all, nil
}
