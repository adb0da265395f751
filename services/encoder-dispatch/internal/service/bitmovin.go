package service

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/bitmovin"
	"github.com/pertitle/pertitle/pkg/pertitle"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/pkg/webhook"
	bitmovinbackend "github.com/pertitle/pertitle/services/encoder-dispatch/internal/adapters/bitmovin"
	"github.com/pertitle/pertitle/services/encoder-dispatch/internal/app"
)

// BitmovinConfig configures the Bitmovin backend and its reconciler.
type BitmovinConfig struct {
	APIURL, APIKey, TenantOrgID                       string
	CloudRegion, InfrastructureID                     string
	InputID, OutputID                                 string
	EncoderVersion                                    string
	WebhookPublicURL                                  string
	EncodingMode, Preset                              string
	MinBitrate, MaxBitrate, AudioBitrate              int64
	MinStep, MaxStep, ComplexityFactor                float64
	TargetQualityCRF                                  float64
	AutoRepresentations                               bool
	WithStatic                                        bool
	FixedHeights                                      string
	APITimeout                                        time.Duration
	ReconcileEvery, ReconcileGrace, ReconcileLookback time.Duration

	parseErrs []error
}

// float reads a decimal setting (svc.Env has no float reader); errors surface in Validate.
func (c *BitmovinConfig) float(e *svc.Env, dst *float64, name, help string) {
	var raw string
	e.String(&raw, name, "0", help)
	f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
	if err != nil {
		c.parseErrs = append(c.parseErrs, fmt.Errorf("%s=%q is not a number", name, raw))
		return
	}
	*dst = f
}

// FromEnv reads the Bitmovin settings.
func (c *BitmovinConfig) FromEnv(e *svc.Env) {
	e.String(&c.APIURL, "PERTITLE_BITMOVIN_API_URL", bitmovin.DefaultBaseURL, "Bitmovin API base URL (a fake for local runs)")
	e.Secret(&c.APIKey, "PERTITLE_BITMOVIN_API_KEY", "", "Bitmovin API key (backend bitmovin)")
	e.String(&c.TenantOrgID, "PERTITLE_BITMOVIN_TENANT_ORG_ID", "", "Bitmovin organisation to act in (X-Tenant-Org-Id), optional")
	e.String(&c.CloudRegion, "PERTITLE_BITMOVIN_CLOUD_REGION", "AUTO", "cloud region of encodings, or of the Cloud Connect infrastructure")
	e.String(&c.InfrastructureID, "PERTITLE_BITMOVIN_INFRASTRUCTURE_ID", "", "Cloud Connect infrastructure id: encodings run with cloudRegion EXTERNAL on it")
	e.String(&c.InputID, "PERTITLE_BITMOVIN_INPUT_ID", "", "id of the S3 (role-based) input holding the sources")
	e.String(&c.OutputID, "PERTITLE_BITMOVIN_OUTPUT_ID", "", "id of the S3 (role-based) output receiving the renditions")
	e.String(&c.EncoderVersion, "PERTITLE_BITMOVIN_ENCODER_VERSION", "", "encoder version (empty: Bitmovin's STABLE)")
	e.String(&c.WebhookPublicURL, "PERTITLE_WEBHOOK_PUBLIC_URL", "", "the webhook-receiver URL Bitmovin calls (public, e.g. a tunnel)")
	e.String(&c.EncodingMode, "PERTITLE_BITMOVIN_ENCODING_MODE", "THREE_PASS", "encoding mode: STANDARD, SINGLE_PASS, TWO_PASS, THREE_PASS")
	e.String(&c.Preset, "PERTITLE_BITMOVIN_PRESET", "VOD_STANDARD", "H.264 preset configuration")
	e.Int64(&c.MinBitrate, "PERTITLE_BITMOVIN_MIN_BITRATE", 0, "per-title minBitrate in bit/s (0: Bitmovin's default)")
	e.Int64(&c.MaxBitrate, "PERTITLE_BITMOVIN_MAX_BITRATE", 0, "per-title maxBitrate in bit/s (0: Bitmovin's default)")
	c.float(e, &c.MinStep, "PERTITLE_BITMOVIN_MIN_STEP", "per-title minBitrateStepSize, e.g. 1.5 (0: default)")
	c.float(e, &c.MaxStep, "PERTITLE_BITMOVIN_MAX_STEP", "per-title maxBitrateStepSize, e.g. 1.9 (0: default)")
	c.float(e, &c.ComplexityFactor, "PERTITLE_BITMOVIN_COMPLEXITY_FACTOR", "per-title complexityFactor (>1 more bits; 0: default)")
	c.float(e, &c.TargetQualityCRF, "PERTITLE_BITMOVIN_TARGET_QUALITY_CRF", "per-title targetQualityCrf (0: default)")
	e.Bool(&c.AutoRepresentations, "PERTITLE_BITMOVIN_AUTO_REPRESENTATIONS", true, "let per-title choose the renditions (autoRepresentations)")
	e.Bool(&c.WithStatic, "PERTITLE_BITMOVIN_WITH_STATIC", false,
		"also encode the static comparison ladder (Apple bitrates, two-pass, VBV max rate 1.5x and buffer 2x) into <output>/static/ as a second encoding")
	e.String(&c.FixedHeights, "PERTITLE_BITMOVIN_FIXED_HEIGHTS", "", "comma-separated heights always in the ladder (bitrate by per-title)")
	e.Int64(&c.AudioBitrate, "PERTITLE_BITMOVIN_AUDIO_BITRATE", 128000, "AAC bitrate in bit/s")
	e.Duration(&c.APITimeout, "PERTITLE_BITMOVIN_API_TIMEOUT", 20*time.Second, "timeout of one Bitmovin API call")
	e.Duration(&c.ReconcileEvery, "PERTITLE_BITMOVIN_RECONCILE_EVERY", time.Minute, "how often ended encodings without webhook are looked for")
	e.Duration(&c.ReconcileGrace, "PERTITLE_BITMOVIN_RECONCILE_GRACE", 5*time.Minute, "how long an ended encoding may wait for its webhook")
	e.Duration(&c.ReconcileLookback, "PERTITLE_BITMOVIN_RECONCILE_LOOKBACK", 72*time.Hour, "how far back the reconciler lists encodings")
}

// Validate checks the settings the Bitmovin backend needs.
func (c BitmovinConfig) Validate() error {
	var v svc.Validation
	u, err := url.Parse(c.APIURL)
	v.Check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "", "PERTITLE_BITMOVIN_API_URL=%q is not an http(s) URL", c.APIURL)
	v.Check(c.APIKey != "", "PERTITLE_BITMOVIN_API_KEY must be set with PERTITLE_ENCODER_BACKEND=bitmovin")
	v.Check(c.InputID != "", "PERTITLE_BITMOVIN_INPUT_ID must be set (create the S3 input once in Bitmovin)")
	v.Check(c.OutputID != "", "PERTITLE_BITMOVIN_OUTPUT_ID must be set (create the S3 output once in Bitmovin)")
	w, err := url.Parse(c.WebhookPublicURL)
	v.Check(err == nil && (w.Scheme == "http" || w.Scheme == "https") && w.Host != "", "PERTITLE_WEBHOOK_PUBLIC_URL=%q must be the URL Bitmovin can reach", c.WebhookPublicURL)
	switch bitmovin.EncodingMode(c.EncodingMode) {
	case bitmovin.EncodingModeStandard, bitmovin.EncodingModeSinglePass, bitmovin.EncodingModeTwoPass, bitmovin.EncodingModeThreePass:
	default:
		v.Check(false, "PERTITLE_BITMOVIN_ENCODING_MODE=%q is not STANDARD, SINGLE_PASS, TWO_PASS or THREE_PASS", c.EncodingMode)
	}
	_, herr := c.heights()
	v.Check(herr == nil, "PERTITLE_BITMOVIN_FIXED_HEIGHTS=%q is not a list of heights", c.FixedHeights)
	v.Check(c.AudioBitrate > 0, "PERTITLE_BITMOVIN_AUDIO_BITRATE must be positive")
	v.Check(c.ReconcileEvery > 0 && c.ReconcileGrace >= 0 && c.ReconcileLookback > 0, "PERTITLE_BITMOVIN_RECONCILE_* must be positive")
	v.Check(c.MinStep >= 0 && c.MaxStep >= 0 && c.ComplexityFactor >= 0 && c.TargetQualityCRF >= 0, "per-title knobs must not be negative")
	return errors.Join(append([]error{v.Err()}, c.parseErrs...)...)
}

func (c BitmovinConfig) heights() ([]int, error) {
	var out []int
	for _, f := range strings.Split(c.FixedHeights, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		h, err := strconv.Atoi(f)
		if err != nil || h < 16 || h > 4320 {
			return nil, errors.New("bad height " + f)
		}
		out = append(out, h)
	}
	return out, nil
}

func newBitmovin(cfg Config, store storage.Storage, log *zap.Logger) (app.Backend, *bitmovinbackend.Reconciler, error) {
	bc := cfg.Bitmovin
	client, err := bitmovin.New(bitmovin.Config{BaseURL: bc.APIURL, APIKey: bc.APIKey, TenantOrgID: bc.TenantOrgID,
		Timeout: bc.APITimeout, Secrets: []string{cfg.WebhookSecret}, Log: log.Named("bitmovin")})
	if err != nil {
		return nil, nil, err
	}
	heights, _ := bc.heights()
	backend := &bitmovinbackend.Backend{Client: client, Log: log, Settings: bitmovinbackend.Settings{
		InputID: bc.InputID, OutputID: bc.OutputID, CloudRegion: bc.CloudRegion, InfrastructureID: bc.InfrastructureID,
		EncoderVersion: bc.EncoderVersion, WebhookURL: bc.WebhookPublicURL, WebhookSecret: cfg.WebhookSecret,
		EncodingMode: bitmovin.EncodingMode(bc.EncodingMode), Preset: bitmovin.PresetConfiguration(bc.Preset),
		Constraints: pertitle.Constraints{MinBitrate: bc.MinBitrate, MaxBitrate: bc.MaxBitrate, MinStep: bc.MinStep,
			MaxStep: bc.MaxStep, ComplexityFactor: bc.ComplexityFactor},
		AutoRepresentations: bc.AutoRepresentations, TargetQualityCRF: bc.TargetQualityCRF,
		SegmentSeconds: float64(cfg.SegmentSeconds), AudioBitrate: bc.AudioBitrate, FixedHeights: heights,
		WithStatic: bc.WithStatic,
	}}
	rec := &bitmovinbackend.Reconciler{Client: client, Store: store, Log: log.Named("reconciler"),
		Sender:   webhook.Sender{URL: cfg.WebhookURL, Key: []byte(cfg.WebhookSecret), Attempts: 3, Backoff: time.Second},
		Interval: bc.ReconcileEvery, Grace: bc.ReconcileGrace, Lookback: bc.ReconcileLookback, MaxPerTick: 200}
	return backend, rec, nil
}
