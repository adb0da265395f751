// Package bitmovin is the encoder backend that hands jobs to Bitmovin's per-title
// encoding (in a Bitmovin cloud region or on a Cloud Connect infrastructure in the
// operator's own AWS account) and returns once the encoding started; completion
// arrives at the webhook-receiver as a signed webhook.
package bitmovin

import (
	"context"
	"errors"
	"fmt"
	"github.com/pertitle/pertitle/pkg/jobs"
	"net/http"
	"path"
	"strconv"
	"sync"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/bitmovin"
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/pertitle"
	"github.com/pertitle/pertitle/pkg/tracing"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/app"
)

// Settings are the backend's knobs.
type Settings struct {
	// InputID and OutputID name an S3 input and output created once in the Bitmovin
	// account (role-based or access-key); they are reused by every encoding.
	InputID, OutputID string
	// CloudRegion is where encodings run (e.g. AWS_EU_WEST_1, AUTO); with an
	// InfrastructureID it is the region of that Cloud Connect infrastructure and
	// encodings run with cloudRegion EXTERNAL.
	CloudRegion      string
	InfrastructureID string
	EncoderVersion   string
	// WebhookURL is the public URL Bitmovin calls; WebhookSecret signs it (HMAC).
	WebhookURL, WebhookSecret string
	EncodingMode              bitmovin.EncodingMode
	Preset                    bitmovin.PresetConfiguration
	// Constraints are the per-title knobs shared with the local engine.
	Constraints pertitle.Constraints
	// AutoRepresentations lets per-title choose how many renditions to make.
	AutoRepresentations bool
	// TargetQualityCRF caps the top rendition's quality (0: Bitmovin's default).
	TargetQualityCRF float64
	SegmentSeconds   float64
	AudioBitrate     int64
	// FixedHeights adds per-title streams at these heights (bitrate chosen by per-title).
	FixedHeights []int
	// WithStatic also encodes the static comparison ladder (Apple's bitrates,
	// two-pass, VBV capped as media.VBV caps the local one) into
	// <output>/static/, as a second encoding beside the per-title one.
	WithStatic bool
}

// Backend runs jobs on Bitmovin.
type Backend struct {
	Client   *bitmovin.Client
	Settings Settings
	Log      *zap.Logger

	mu          sync.Mutex
	storageOK   bool
	storageKind [2]string
}

var _ app.Backend = (*Backend)(nil)

// Name implements app.Backend.
func (b *Backend) Name() string { return jobs.BackendBitmovin }

// PerTitleConfig maps the engine's constraints onto Bitmovin's H.264 per-title
// configuration. MaxRenditions has no counterpart: Bitmovin bounds the ladder
// through the step sizes and bitrate range.
func PerTitleConfig(c pertitle.Constraints, auto bool, targetCRF float64) *bitmovin.H264PerTitleConfiguration {
	cfg := &bitmovin.H264PerTitleConfiguration{MinBitrate: c.MinBitrate, MaxBitrate: c.MaxBitrate,
		MinBitrateStepSize: c.MinStep, MaxBitrateStepSize: c.MaxStep, ComplexityFactor: c.ComplexityFactor, TargetQualityCrf: targetCRF}
	if auto {
		cfg.AutoRepresentations = &bitmovin.AutoRepresentation{}
	}
	return cfg
}

// Run starts the encoding of job unless it already exists. A redelivered request
// finds the encoding by its name (the job id) and only reports it started again.
func (b *Backend) Run(ctx context.Context, job app.Job, rep app.Reporter) error {
	existing, err := b.find(ctx, job.ID)
	if err != nil {
		return err
	}
	for _, e := range existing {
		if e.Status != bitmovin.StatusCreated {
			b.Log.Info("encoding already exists; not starting another", tracing.IDs(ctx), zap.String("job_id", job.ID),
				zap.String("encoding_id", e.ID), zap.String("status", string(e.Status)))
			if err := rep.Started(ctx, e.ID); err != nil {
				return err
			}
			return b.static(ctx, job)
		}
	}
	// Encodings left in CREATED were being set up when a previous attempt died: which
	// of their parts exist is unknown, so they are removed and the setup starts over.
	for _, e := range existing {
		b.Log.Warn("removing an encoding whose setup was interrupted", tracing.IDs(ctx), zap.String("job_id", job.ID), zap.String("encoding_id", e.ID))
		if err := b.Client.DeleteEncoding(ctx, e.ID); err != nil && !bitmovin.IsNotFound(err) {
			return fmt.Errorf("cannot remove interrupted encoding %s: %w", e.ID, err)
		}
	}
	if err := b.checkStorage(ctx); err != nil {
		return err
	}
	id, err := b.setup(ctx, job)
	if err != nil {
		return classify(err)
	}
	b.Log.Info("bitmovin encoding started", tracing.IDs(ctx), zap.String("job_id", job.ID), zap.String("encoding_id", id), zap.String("asset_id", job.AssetID))
	if err := rep.Started(ctx, id); err != nil {
		return err
	}
	return b.static(ctx, job)
}

// classify makes 4xx answers (other than 404/429) permanent: the same request would
// be refused again, so the message goes to the dead-letter queue at once.
func classify(err error) error {
	var ae *bitmovin.APIError
	if errors.As(err, &ae) && ae.HTTPStatus >= 400 && ae.HTTPStatus < 500 &&
		ae.HTTPStatus != http.StatusTooManyRequests && ae.HTTPStatus != http.StatusNotFound {
		return bus.Permanent(err)
	}
	return err
}

// find returns pertitle's encodings named jobID.
func (b *Backend) find(ctx context.Context, jobID string) ([]bitmovin.Encoding, error) {
	page, err := b.Client.ListEncodings(ctx, bitmovin.ListEncodingsParams{Name: jobID, Limit: 100})
	if err != nil {
		return nil, fmt.Errorf("cannot look up encoding %s: %w", jobID, err)
	}
	var out []bitmovin.Encoding
	for _, e := range page.Items {
		if e.Name == jobID && e.HasLabel(bitmovin.LabelSystem) {
			out = append(out, e)
		}
	}
	return out, nil
}

// checkStorage verifies once that the configured input and output exist, trying
// the role-based kind first.
func (b *Backend) checkStorage(ctx context.Context) error {
	b.mu.Lock()
	ok := b.storageOK
	b.mu.Unlock()
	if ok {
		return nil
	}
	var kinds [2]string
	if _, err := b.Client.GetS3RoleBasedInput(ctx, b.Settings.InputID); err == nil {
		kinds[0] = "s3-role-based"
	} else if !bitmovin.IsNotFound(err) {
		return fmt.Errorf("cannot read input %s: %w", b.Settings.InputID, err)
	} else if _, err := b.Client.GetS3Input(ctx, b.Settings.InputID); err == nil {
		kinds[0] = "s3"
	} else {
		return bus.Permanent(fmt.Errorf("PERTITLE_BITMOVIN_INPUT_ID=%s is neither an S3 role-based nor an S3 input: %w", b.Settings.InputID, err))
	}
	if _, err := b.Client.GetS3RoleBasedOutput(ctx, b.Settings.OutputID); err == nil {
		kinds[1] = "s3-role-based"
	} else if !bitmovin.IsNotFound(err) {
		return fmt.Errorf("cannot read output %s: %w", b.Settings.OutputID, err)
	} else if _, err := b.Client.GetS3Output(ctx, b.Settings.OutputID); err == nil {
		kinds[1] = "s3"
	} else {
		return bus.Permanent(fmt.Errorf("PERTITLE_BITMOVIN_OUTPUT_ID=%s is neither an S3 role-based nor an S3 output: %w", b.Settings.OutputID, err))
	}
	b.mu.Lock()
	b.storageOK, b.storageKind = true, kinds
	b.mu.Unlock()
	b.Log.Info("bitmovin storage checked", tracing.IDs(ctx), zap.String("input", kinds[0]), zap.String("output", kinds[1]))
	return nil
}

func (b *Backend) output(p string) []bitmovin.EncodingOutput {
	return []bitmovin.EncodingOutput{{OutputID: b.Settings.OutputID, OutputPath: p, ACL: []bitmovin.ACLEntry{{Permission: "PRIVATE"}}}}
}

// setup creates the encoding and its parts and starts it.
func (b *Backend) setup(ctx context.Context, job app.Job) (string, error) {
	s := b.Settings
	enc := bitmovin.Encoding{
		Name:        job.ID,
		Description: "pertitle asset " + job.AssetID,
		Labels: bitmovin.JobLabels{JobID: job.ID, AssetID: job.AssetID, Owner: job.Owner, CorrelationID: job.CorrelationID,
			Traceparent: job.Traceparent, LadderMode: jobs.LadderPerTitle}.Labels(),
		CustomData:     map[string]any{"assetId": job.AssetID, "jobId": job.ID, "outputPrefix": job.OutputPrefix},
		EncoderVersion: s.EncoderVersion,
	}
	if s.InfrastructureID != "" {
		enc.CloudRegion = bitmovin.CloudRegionExternal
		enc.Infrastructure = &bitmovin.InfrastructureSettings{InfrastructureID: s.InfrastructureID, CloudRegion: bitmovin.CloudRegion(s.CloudRegion)}
	} else {
		enc.CloudRegion = bitmovin.CloudRegion(s.CloudRegion)
	}
	created, err := b.Client.CreateEncoding(ctx, enc)
	if err != nil {
		return "", fmt.Errorf("cannot create encoding: %w", err)
	}
	id := created.ID
	input := []bitmovin.StreamInput{{InputID: s.InputID, InputPath: job.SourceKey, SelectionMode: bitmovin.SelectionModeAuto}}
	prefix := job.OutputPrefix

	// The template: per-title chooses the resolutions and bitrates.
	tpl, err := b.Client.CreateH264Configuration(ctx, bitmovin.H264VideoConfiguration{Name: "pertitle " + job.ID + " h264 template",
		PresetConfiguration: s.Preset, Profile: "HIGH"})
	if err != nil {
		return "", fmt.Errorf("cannot create H.264 configuration: %w", err)
	}
	video, err := b.Client.CreateStream(ctx, id, bitmovin.Stream{Name: "video per-title", InputStreams: input,
		CodecConfigID: tpl.ID, Mode: bitmovin.StreamModePerTitleTemplate})
	if err != nil {
		return "", fmt.Errorf("cannot create video stream: %w", err)
	}
	if _, err := b.Client.CreateFmp4Muxing(ctx, id, bitmovin.Fmp4Muxing{Name: "video per-title",
		Streams: []bitmovin.MuxingStream{{StreamID: video.ID}}, SegmentLength: s.SegmentSeconds,
		Outputs: b.output(path.Join(prefix, "video", "{height}p_{bitrate}_{uuid}"))}); err != nil {
		return "", fmt.Errorf("cannot create video muxing: %w", err)
	}
	if err := b.fixedHeights(ctx, job, id, input, prefix); err != nil {
		return "", err
	}
	if err := b.audio(ctx, job, id, input, prefix); err != nil {
		return "", err
	}
	hls, dash, err := b.manifests(ctx, job.ID, id, prefix)
	if err != nil {
		return "", err
	}
	if err := b.webhooks(ctx, id); err != nil {
		return "", err
	}
	err = b.Client.StartEncoding(ctx, id, bitmovin.StartEncodingRequest{
		EncodingMode:      s.EncodingMode,
		ManifestGenerator: bitmovin.ManifestGeneratorV2,
		PerTitle:          &bitmovin.PerTitle{H264Configuration: PerTitleConfig(s.Constraints, s.AutoRepresentations, s.TargetQualityCRF)},
		VodHlsManifests:   []bitmovin.ManifestResource{{ManifestID: hls}},
		VodDashManifests:  []bitmovin.ManifestResource{{ManifestID: dash}},
	})
	if err != nil {
		return "", fmt.Errorf("cannot start encoding %s: %w", id, err)
	}
	return id, nil
}

// fixedHeights adds, for each of the settings' fixed heights, a stream that
// per-title must keep in the ladder at that height, and its muxing.
func (b *Backend) fixedHeights(ctx context.Context, job app.Job, id string, input []bitmovin.StreamInput, prefix string) error {
	s := b.Settings
	for _, h := range s.FixedHeights {
		cfg, err := b.Client.CreateH264Configuration(ctx, bitmovin.H264VideoConfiguration{Name: fmt.Sprintf("pertitle %s h264 %dp", job.ID, h),
			Height: h, PresetConfiguration: s.Preset, Profile: "HIGH"})
		if err != nil {
			return fmt.Errorf("cannot create H.264 %dp configuration: %w", h, err)
		}
		st, err := b.Client.CreateStream(ctx, id, bitmovin.Stream{Name: fmt.Sprintf("video %dp", h), InputStreams: input,
			CodecConfigID: cfg.ID, Mode: bitmovin.StreamModePerTitleTemplateFixedRes})
		if err != nil {
			return fmt.Errorf("cannot create %dp stream: %w", h, err)
		}
		if _, err := b.Client.CreateFmp4Muxing(ctx, id, bitmovin.Fmp4Muxing{Name: fmt.Sprintf("video %dp", h),
			Streams: []bitmovin.MuxingStream{{StreamID: st.ID}}, SegmentLength: s.SegmentSeconds,
			Outputs: b.output(path.Join(prefix, "video", strconv.Itoa(h)+"p_{bitrate}_{uuid}"))}); err != nil {
			return fmt.Errorf("cannot create %dp muxing: %w", h, err)
		}
	}
	return nil
}

// webhooks asks Bitmovin to call the receiver, signed, when the encoding
// finishes or fails.
func (b *Backend) webhooks(ctx context.Context, id string) error {
	s := b.Settings
	for _, event := range []string{bitmovin.WebhookFinished, bitmovin.WebhookError} {
		if _, err := b.Client.CreateEncodingWebhook(ctx, id, event, bitmovin.Webhook{URL: s.WebhookURL, Method: http.MethodPost,
			Signature: &bitmovin.WebhookSignature{Type: bitmovin.SignatureHMAC, Key: s.WebhookSecret}}); err != nil {
			return fmt.Errorf("cannot create %s webhook: %w", event, err)
		}
	}
	return nil
}

// audio adds the AAC stream and its muxing under prefix when the source has
// audio (or its probe is unknown).
func (b *Backend) audio(ctx context.Context, job app.Job, id string, input []bitmovin.StreamInput, prefix string) error {
	if job.Probe != nil && !job.Probe.GetHasAudio() {
		return nil
	}
	s := b.Settings
	aac, err := b.Client.CreateAACConfiguration(ctx, bitmovin.AacAudioConfiguration{Name: "pertitle " + job.ID + " aac",
		Bitrate: s.AudioBitrate, Rate: 48000})
	if err != nil {
		return fmt.Errorf("cannot create AAC configuration: %w", err)
	}
	audio, err := b.Client.CreateStream(ctx, id, bitmovin.Stream{Name: "audio", InputStreams: input, CodecConfigID: aac.ID,
		Mode: bitmovin.StreamModeStandard})
	if err != nil {
		return fmt.Errorf("cannot create audio stream: %w", err)
	}
	if _, err := b.Client.CreateFmp4Muxing(ctx, id, bitmovin.Fmp4Muxing{Name: "audio",
		Streams: []bitmovin.MuxingStream{{StreamID: audio.ID}}, SegmentLength: s.SegmentSeconds,
		Outputs: b.output(path.Join(prefix, "audio", "aac_"+strconv.FormatInt(s.AudioBitrate/1000, 10)+"k"))}); err != nil {
		return fmt.Errorf("cannot create audio muxing: %w", err)
	}
	return nil
}

// manifests creates the default HLS and DASH manifests of encoding id under
// prefix and returns their ids.
func (b *Backend) manifests(ctx context.Context, name, id, prefix string) (string, string, error) {
	hls, err := b.Client.CreateDefaultHLSManifest(ctx, bitmovin.HlsManifestDefault{Name: "pertitle " + name + " hls",
		EncodingID: id, ManifestName: jobs.HLSManifest, Outputs: b.output(prefix), Version: bitmovin.DefaultManifestVersionV1})
	if err != nil {
		return "", "", fmt.Errorf("cannot create HLS manifest: %w", err)
	}
	dash, err := b.Client.CreateDefaultDASHManifest(ctx, bitmovin.DashManifestDefault{Name: "pertitle " + name + " dash",
		EncodingID: id, ManifestName: jobs.DASHManifest, Outputs: b.output(prefix), Version: bitmovin.DefaultManifestVersionV2})
	if err != nil {
		return "", "", fmt.Errorf("cannot create DASH manifest: %w", err)
	}
	return hls.ID, dash.ID, nil
}

// StaticSuffix ends the name of a job's static comparison encoding.
const StaticSuffix = "-static"

// static starts the static comparison encoding of job when WithStatic is set
// and it does not exist yet (found by name, as the per-title one is; its
// setup is idempotent like the per-title one's). It runs after the per-title
// encoding started: a transient failure returns the error, so the request
// is redelivered, finds the per-title encoding started and tries the
// comparison again; a refusal (4xx) is logged and the job goes on without
// it, for the comparison must never fail the job.
func (b *Backend) static(ctx context.Context, job app.Job) error {
	if !b.Settings.WithStatic {
		return nil
	}
	err := b.ensureStatic(ctx, job)
	if err != nil && bus.IsPermanent(classify(err)) {
		b.Log.Warn("static comparison refused; the job goes on without it", tracing.IDs(ctx), zap.String("job_id", job.ID), zap.Error(err))
		return nil
	}
	return err
}

func (b *Backend) ensureStatic(ctx context.Context, job app.Job) error {
	name := job.ID + StaticSuffix
	page, err := b.Client.ListEncodings(ctx, bitmovin.ListEncodingsParams{Name: name, Limit: 100})
	if err != nil {
		return fmt.Errorf("cannot look up the static comparison %s: %w", name, err)
	}
	for _, e := range page.Items {
		if e.Name != name || !e.HasLabel(bitmovin.LabelStatic) {
			continue
		}
		if e.Status != bitmovin.StatusCreated {
			return nil
		}
		if err := b.Client.DeleteEncoding(ctx, e.ID); err != nil && !bitmovin.IsNotFound(err) {
			return fmt.Errorf("cannot remove the interrupted static comparison %s: %w", e.ID, err)
		}
	}
	id, err := b.setupStatic(ctx, job, name)
	if err != nil {
		return err
	}
	b.Log.Info("static comparison encoding started", tracing.IDs(ctx), zap.String("job_id", job.ID), zap.String("encoding_id", id))
	return nil
}

// setupStatic creates and starts the static ladder's encoding: one H.264
// stream per rung of pertitle.AppleLadder at the source's display size, at
// its bitrate with media.VBV's cap, two-pass, with the per-title encoding's
// preset, segments and audio, and HLS and DASH manifests of its own under
// <output>/static/ (where the web app looks for the comparison).
func (b *Backend) setupStatic(ctx context.Context, job app.Job, name string) (string, error) {
	s := b.Settings
	w, h := int(job.Probe.GetWidth()), int(job.Probe.GetHeight())
	if w <= 0 || h <= 0 {
		return "", errors.New("the source's size is unknown")
	}
	enc := bitmovin.Encoding{Name: name, Description: "pertitle static comparison of asset " + job.AssetID,
		Labels: bitmovin.StaticLabels(job.ID, job.AssetID), EncoderVersion: s.EncoderVersion, CloudRegion: bitmovin.CloudRegion(s.CloudRegion)}
	if s.InfrastructureID != "" {
		enc.CloudRegion = bitmovin.CloudRegionExternal
		enc.Infrastructure = &bitmovin.InfrastructureSettings{InfrastructureID: s.InfrastructureID, CloudRegion: bitmovin.CloudRegion(s.CloudRegion)}
	}
	created, err := b.Client.CreateEncoding(ctx, enc)
	if err != nil {
		return "", fmt.Errorf("cannot create encoding: %w", err)
	}
	id := created.ID
	input := []bitmovin.StreamInput{{InputID: s.InputID, InputPath: job.SourceKey, SelectionMode: bitmovin.SelectionModeAuto}}
	prefix := path.Join(job.OutputPrefix, pertitle.StaticDir)
	for _, r := range pertitle.MediaRungs(pertitle.AppleLadder(w, h), 0) {
		maxRate, bufSize := media.VBV(r)
		label := fmt.Sprintf("%dx%d %dk", r.Width, r.Height, r.Bitrate/1000)
		cfg, err := b.Client.CreateH264Configuration(ctx, bitmovin.H264VideoConfiguration{Name: "pertitle " + name + " h264 " + label,
			Width: r.Width, Height: r.Height, Bitrate: r.Bitrate, MaxBitrate: maxRate, Bufsize: bufSize,
			PresetConfiguration: s.Preset, Profile: "HIGH"})
		if err != nil {
			return "", fmt.Errorf("cannot create H.264 configuration %s: %w", label, err)
		}
		st, err := b.Client.CreateStream(ctx, id, bitmovin.Stream{Name: "video " + label, InputStreams: input,
			CodecConfigID: cfg.ID, Mode: bitmovin.StreamModeStandard})
		if err != nil {
			return "", fmt.Errorf("cannot create stream %s: %w", label, err)
		}
		if _, err := b.Client.CreateFmp4Muxing(ctx, id, bitmovin.Fmp4Muxing{Name: "video " + label,
			Streams: []bitmovin.MuxingStream{{StreamID: st.ID}}, SegmentLength: s.SegmentSeconds,
			Outputs: b.output(path.Join(prefix, "video", fmt.Sprintf("%dp_%d", r.Height, r.Bitrate)))}); err != nil {
			return "", fmt.Errorf("cannot create muxing %s: %w", label, err)
		}
	}
	if err := b.audio(ctx, job, id, input, prefix); err != nil {
		return "", err
	}
	hls, dash, err := b.manifests(ctx, name, id, prefix)
	if err != nil {
		return "", err
	}
	if err := b.Client.StartEncoding(ctx, id, bitmovin.StartEncodingRequest{EncodingMode: bitmovin.EncodingModeTwoPass,
		ManifestGenerator: bitmovin.ManifestGeneratorV2,
		VodHlsManifests:   []bitmovin.ManifestResource{{ManifestID: hls}},
		VodDashManifests:  []bitmovin.ManifestResource{{ManifestID: dash}},
	}); err != nil {
		return "", fmt.Errorf("cannot start encoding %s: %w", id, err)
	}
	return id, nil
}
