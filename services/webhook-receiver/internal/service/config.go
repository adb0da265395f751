package service

import (
	"errors"
	"time"

	"github.com/pertitle/pertitle/internal/settings"
	"github.com/pertitle/pertitle/pkg/bitmovin"
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/svc"
)

// Config is the webhook-receiver's configuration.
type Config struct {
	Addr     string
	OpsAddr  string
	Secret   string
	MaxBytes int64
	DedupTTL time.Duration
	Bus      bus.Config
	Storage  storage.Config
	// Bitmovin API access, to resolve Bitmovin encodings (enabled by an API key).
	BitmovinAPIURL, BitmovinAPIKey, BitmovinTenantOrgID string
	ResolveTimeout                                      time.Duration
}

// FromEnv reads the configuration.
func (c *Config) FromEnv(e *svc.Env) {
	e.String(&c.Addr, "PERTITLE_WEBHOOK_ADDR", ":8082", "listen address of the webhook endpoint (public), /healthz and /readyz (ready or not)")
	e.String(&c.OpsAddr, "PERTITLE_WEBHOOK_OPS_ADDR", "127.0.0.1:9082", "listen address of /readyz with details and /metrics (keep it private)")
	e.SigningKey(&c.Secret, "PERTITLE_BITMOVIN_WEBHOOK_SECRET", "", "HMAC-SHA512 key of the Bitmovin-Signature header (required, at least 16 bytes)")
	e.Int64(&c.MaxBytes, "PERTITLE_WEBHOOK_MAX_BYTES", 1<<20, "largest accepted webhook body")
	e.Duration(&c.DedupTTL, "PERTITLE_WEBHOOK_DEDUP_TTL", time.Hour, "how long a published outcome's claim is kept: a repeat within it is answered as a duplicate without asking the encoder")
	c.Bus = settings.Bus(e)
	c.Storage = settings.Storage(e)
	e.String(&c.BitmovinAPIURL, "PERTITLE_BITMOVIN_API_URL", bitmovin.DefaultBaseURL, "Bitmovin API base URL")
	e.Secret(&c.BitmovinAPIKey, "PERTITLE_BITMOVIN_API_KEY", "", "Bitmovin API key; set, Bitmovin encodings are resolved through the API")
	e.String(&c.BitmovinTenantOrgID, "PERTITLE_BITMOVIN_TENANT_ORG_ID", "", "Bitmovin organisation (X-Tenant-Org-Id), optional")
	e.Duration(&c.ResolveTimeout, "PERTITLE_WEBHOOK_RESOLVE_TIMEOUT", 8*time.Second, "bound on resolving a webhook (Bitmovin waits 10s); past it the answer is 503 and Bitmovin retries")
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var v svc.Validation
	v.Check(svc.ValidAddr(c.Addr), "PERTITLE_WEBHOOK_ADDR=%q is not a listen address", c.Addr)
	v.Check(svc.ValidAddr(c.OpsAddr), "PERTITLE_WEBHOOK_OPS_ADDR=%q is not a listen address", c.OpsAddr)
	v.Check(c.MaxBytes > 0, "PERTITLE_WEBHOOK_MAX_BYTES must be positive")
	v.Check(c.Secret != "", "PERTITLE_BITMOVIN_WEBHOOK_SECRET must be set: unsigned webhooks would be accepted")
	v.Check(c.ResolveTimeout > 0 && c.ResolveTimeout < 10*time.Second, "PERTITLE_WEBHOOK_RESOLVE_TIMEOUT must be between 0 and 10s (Bitmovin's limit)")
	return errors.Join(v.Err(), settings.CheckBus(c.Bus), settings.CheckStorage(c.Storage))
}
