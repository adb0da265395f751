package bitmovin

import "time"

// Enumerations, spelled as the API reference spells them.
type (
	// Status is the status of an encoding or a task.
	Status string
	// CloudRegion names where an encoding runs; EXTERNAL with Cloud Connect.
	CloudRegion string
	// EncodingMode is the rate-control strategy of an encoding.
	EncodingMode string
	// StreamMode distinguishes fixed streams from per-title templates and results.
	StreamMode string
	// StreamSelectionMode picks an input stream.
	StreamSelectionMode string
	// ManifestGenerator selects the manifest generator of a start request.
	ManifestGenerator string
	// PresetConfiguration is a codec configuration preset.
	PresetConfiguration string
	// RetryHint says whether an errored encoding may succeed when run again.
	RetryHint string
	// SignatureType is how a webhook is signed.
	SignatureType string
	// MessageType is the severity of a message.
	MessageType string
)

// Encoding and task statuses.
const (
	StatusCreated       Status = "CREATED"
	StatusQueued        Status = "QUEUED"
	StatusRunning       Status = "RUNNING"
	StatusFinished      Status = "FINISHED"
	StatusError         Status = "ERROR"
	StatusCanceled      Status = "CANCELED"
	StatusTransferError Status = "TRANSFER_ERROR"
)

// Terminal reports whether the status no longer changes.
func (s Status) Terminal() bool {
	switch s {
	case StatusFinished, StatusError, StatusCanceled, StatusTransferError:
		return true
	}
	return false
}

// Cloud regions used here (the API knows many more; any value is passed through).
const (
	CloudRegionAuto     CloudRegion = "AUTO"
	CloudRegionExternal CloudRegion = "EXTERNAL"
)

// Encoding modes.
const (
	EncodingModeStandard   EncodingMode = "STANDARD"
	EncodingModeSinglePass EncodingMode = "SINGLE_PASS"
	EncodingModeTwoPass    EncodingMode = "TWO_PASS"
	EncodingModeThreePass  EncodingMode = "THREE_PASS"
)

// Stream modes.
const (
	StreamModeStandard                 StreamMode          = "STANDARD"
	StreamModePerTitleTemplate         StreamMode          = "PER_TITLE_TEMPLATE"
	StreamModePerTitleTemplateFixedRes StreamMode          = "PER_TITLE_TEMPLATE_FIXED_RESOLUTION"
	StreamModePerTitleResult           StreamMode          = "PER_TITLE_RESULT"
	SelectionModeAuto                  StreamSelectionMode = "AUTO"
	ManifestGeneratorV2                ManifestGenerator   = "V2"
	PresetVODStandard                  PresetConfiguration = "VOD_STANDARD"
	SignatureHMAC                      SignatureType       = "HMAC"
	MessageTypeError                   MessageType         = "ERROR"
	RetryHintRetry                     RetryHint           = "RETRY"
	RetryHintRetryInDifferentRegion    RetryHint           = "RETRY_IN_DIFFERENT_REGION"
	RetryHintNoRetry                   RetryHint           = "NO_RETRY"
	RetryHintUndefined                 RetryHint           = "UNDEFINED"
	DefaultManifestVersionV1                               = "V1"
	DefaultManifestVersionV2                               = "V2"
)

// Message is an entry of error details and task messages.
type Message struct {
	ID    string      `json:"id,omitempty"`
	Type  MessageType `json:"type,omitempty"`
	Text  string      `json:"text,omitempty"`
	Field string      `json:"field,omitempty"`
}

// S3RoleBasedInput reads from a bucket by assuming an IAM role (with external id).
type S3RoleBasedInput struct {
	ID             string `json:"id,omitempty"`
	Name           string `json:"name,omitempty"`
	BucketName     string `json:"bucketName,omitempty"`
	RoleArn        string `json:"roleArn,omitempty"`
	ExternalID     string `json:"externalId,omitempty"`
	ExternalIDMode string `json:"externalIdMode,omitempty"`
	CloudRegion    string `json:"cloudRegion,omitempty"`
}

// S3Input reads from a bucket with an access key.
type S3Input struct {
	ID          string `json:"id,omitempty"`
	Name        string `json:"name,omitempty"`
	BucketName  string `json:"bucketName,omitempty"`
	CloudRegion string `json:"cloudRegion,omitempty"`
}

// S3RoleBasedOutput writes to a bucket by assuming an IAM role; Bitmovin
// describes it with the fields of its input.
type S3RoleBasedOutput S3RoleBasedInput

// S3Output writes to a bucket with an access key; Bitmovin describes it with
// the fields of its input.
type S3Output S3Input

// InfrastructureSettings runs an encoding on a Cloud Connect infrastructure.
type InfrastructureSettings struct {
	InfrastructureID string      `json:"infrastructureId,omitempty"`
	CloudRegion      CloudRegion `json:"cloudRegion,omitempty"`
}

// Encoding is one encoding job.
type Encoding struct {
	ID             string                  `json:"id,omitempty"`
	Name           string                  `json:"name,omitempty"`
	Description    string                  `json:"description,omitempty"`
	CustomData     map[string]any          `json:"customData,omitempty"`
	Labels         []string                `json:"labels,omitempty"`
	CloudRegion    CloudRegion             `json:"cloudRegion,omitempty"`
	EncoderVersion string                  `json:"encoderVersion,omitempty"`
	Infrastructure *InfrastructureSettings `json:"infrastructure,omitempty"`
	// Read-only.
	Status     Status     `json:"status,omitempty"`
	CreatedAt  *time.Time `json:"createdAt,omitempty"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	ErrorAt    *time.Time `json:"errorAt,omitempty"`
}

// HasLabel reports whether e carries label.
func (e Encoding) HasLabel(label string) bool {
	for _, l := range e.Labels {
		if l == label {
			return true
		}
	}
	return false
}

// ErrorDetails is the error of an errored task.
type ErrorDetails struct {
	Code      int       `json:"code,omitempty"`
	Category  string    `json:"category,omitempty"`
	Text      string    `json:"text,omitempty"`
	RetryHint RetryHint `json:"retryHint,omitempty"`
}

// Task is the status of an encoding.
type Task struct {
	ID         string        `json:"id,omitempty"`
	Status     Status        `json:"status"`
	ETA        float64       `json:"eta,omitempty"`
	Progress   int           `json:"progress,omitempty"`
	Messages   []Message     `json:"messages,omitempty"`
	FinishedAt *time.Time    `json:"finishedAt,omitempty"`
	ErrorAt    *time.Time    `json:"errorAt,omitempty"`
	Error      *ErrorDetails `json:"error,omitempty"`
}

// H264VideoConfiguration is an H.264 codec configuration. For a per-title template
// stream, width/height/bitrate stay empty and the algorithm chooses them.
type H264VideoConfiguration struct {
	ID      string `json:"id,omitempty"`
	Name    string `json:"name,omitempty"`
	Width   int    `json:"width,omitempty"`
	Height  int    `json:"height,omitempty"`
	Bitrate int64  `json:"bitrate,omitempty"`
	// MaxBitrate and Bufsize are the VBV cap (bits/s, bits).
	MaxBitrate          int64               `json:"maxBitrate,omitempty"`
	Bufsize             int64               `json:"bufsize,omitempty"`
	Rate                float64             `json:"rate,omitempty"`
	PresetConfiguration PresetConfiguration `json:"presetConfiguration,omitempty"`
	Profile             string              `json:"profile,omitempty"`
}

// AacAudioConfiguration is an AAC codec configuration.
type AacAudioConfiguration struct {
	ID      string  `json:"id,omitempty"`
	Name    string  `json:"name,omitempty"`
	Bitrate int64   `json:"bitrate,omitempty"`
	Rate    float64 `json:"rate,omitempty"`
}

// StreamInput selects what a stream reads.
type StreamInput struct {
	InputID       string              `json:"inputId,omitempty"`
	InputPath     string              `json:"inputPath,omitempty"`
	SelectionMode StreamSelectionMode `json:"selectionMode,omitempty"`
	Position      *int                `json:"position,omitempty"`
}

// EncodingOutput is where a muxing or manifest is written.
type EncodingOutput struct {
	OutputID   string     `json:"outputId,omitempty"`
	OutputPath string     `json:"outputPath,omitempty"`
	ACL        []ACLEntry `json:"acl,omitempty"`
}

// ACLEntry is an object permission of an output.
type ACLEntry struct {
	Permission string `json:"permission,omitempty"`
}

// AppliedStreamSettings is what a stream resolved to (after per-title, the size).
type AppliedStreamSettings struct {
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
}

// Stream is one elementary stream of an encoding.
type Stream struct {
	ID              string                 `json:"id,omitempty"`
	Name            string                 `json:"name,omitempty"`
	InputStreams    []StreamInput          `json:"inputStreams,omitempty"`
	CodecConfigID   string                 `json:"codecConfigId,omitempty"`
	Mode            StreamMode             `json:"mode,omitempty"`
	AppliedSettings *AppliedStreamSettings `json:"appliedSettings,omitempty"`
}

// MuxingStream links a stream to a muxing.
type MuxingStream struct {
	StreamID string `json:"streamId,omitempty"`
}

// Fmp4Muxing packages streams as fragmented MP4 segments (CMAF-compatible).
type Fmp4Muxing struct {
	ID            string           `json:"id,omitempty"`
	Name          string           `json:"name,omitempty"`
	Streams       []MuxingStream   `json:"streams,omitempty"`
	Outputs       []EncodingOutput `json:"outputs,omitempty"`
	SegmentLength float64          `json:"segmentLength,omitempty"`
	// Read-only.
	AvgBitrate int64 `json:"avgBitrate,omitempty"`
	MinBitrate int64 `json:"minBitrate,omitempty"`
	MaxBitrate int64 `json:"maxBitrate,omitempty"`
}

// WebhookSignature signs notifications; HMAC is SHA-512 in Bitmovin-Signature.
type WebhookSignature struct {
	Type SignatureType `json:"type"`
	Key  string        `json:"key"`
}

// Webhook is a notification target.
type Webhook struct {
	ID          string            `json:"id,omitempty"`
	URL         string            `json:"url"`
	Method      string            `json:"method,omitempty"`
	InsecureSsl bool              `json:"insecureSsl,omitempty"`
	Signature   *WebhookSignature `json:"signature,omitempty"`
}

// HlsManifestDefault is an HLS multivariant playlist generated from the muxings.
type HlsManifestDefault struct {
	ID           string           `json:"id,omitempty"`
	Name         string           `json:"name,omitempty"`
	EncodingID   string           `json:"encodingId"`
	ManifestName string           `json:"manifestName,omitempty"`
	Outputs      []EncodingOutput `json:"outputs"`
	Version      string           `json:"version,omitempty"`
}

// DashManifestDefault is a DASH manifest generated from the encoding's
// muxings; Bitmovin describes it with the fields of the HLS one.
type DashManifestDefault HlsManifestDefault

// AutoRepresentation lets per-title add renditions above the templates.
type AutoRepresentation struct {
	AdoptConfigurationThreshold *float64 `json:"adoptConfigurationThreshold,omitempty"`
}

// H264PerTitleConfiguration are the per-title knobs for H.264.
type H264PerTitleConfiguration struct {
	MinBitrate          int64               `json:"minBitrate,omitempty"`
	MaxBitrate          int64               `json:"maxBitrate,omitempty"`
	MinBitrateStepSize  float64             `json:"minBitrateStepSize,omitempty"`
	MaxBitrateStepSize  float64             `json:"maxBitrateStepSize,omitempty"`
	AutoRepresentations *AutoRepresentation `json:"autoRepresentations,omitempty"`
	ComplexityFactor    float64             `json:"complexityFactor,omitempty"`
	TargetQualityCrf    float64             `json:"targetQualityCrf,omitempty"`
}

// PerTitle holds the per-title configuration of each codec.
type PerTitle struct {
	H264Configuration *H264PerTitleConfiguration `json:"h264Configuration,omitempty"`
}

// ManifestResource names a manifest to generate when the encoding finishes.
type ManifestResource struct {
	ManifestID string `json:"manifestId"`
}

// StartEncodingRequest is the body of encodings/{id}/start.
type StartEncodingRequest struct {
	EncodingMode      EncodingMode       `json:"encodingMode,omitempty"`
	ManifestGenerator ManifestGenerator  `json:"manifestGenerator,omitempty"`
	PerTitle          *PerTitle          `json:"perTitle,omitempty"`
	VodDashManifests  []ManifestResource `json:"vodDashManifests,omitempty"`
	VodHlsManifests   []ManifestResource `json:"vodHlsManifests,omitempty"`
}

// BitmovinResponse is the result of calls that return only an id.
type BitmovinResponse struct {
	ID string `json:"id"`
}

// Page is one page of a list.
type Page[T any] struct {
	TotalCount int64 `json:"totalCount,omitempty"`
	Offset     int   `json:"offset"`
	Limit      int   `json:"limit"`
	Items      []T   `json:"items"`
}
