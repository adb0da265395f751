package service

import (
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pertitle/pertitle/internal/settings"
	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/limit"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/services/catalog/internal/adapters/postgres"
	"github.com/pertitle/pertitle/services/catalog/internal/webapp"
)

// Name is the service name used in logs, metrics and queue names.
const Name = bus.ServiceCatalog

// StorageFS selects filesystem storage (PERTITLE_STORAGE=fs).
const StorageFS = "fs"

// Config is everything the catalog reads from its environment.
type Config struct {
	Addr    string
	OpsAddr string
	// DB is a SQLite file path, or a postgres:// URL (replicas share it).
	DB           string
	MediaBaseURL string
	Storage      string
	StorageDir   string
	S3           storage.S3Config // PERTITLE_STORAGE=s3: media is read from the output bucket
	Bus          bus.Config
	// MediaSigningKey signs playback URLs and beacon tokens; empty in New means
	// unsigned media (component tests), and run generates one with a warning.
	MediaSigningKey string
	MediaURLTTL     time.Duration
	// AnalyticsPerMinute and AnalyticsBurst are the beacon token bucket of each
	// asset and client address (or signed-in user).
	AnalyticsPerMinute int
	AnalyticsBurst     int
	// Proxies are the trusted reverse proxies, to find client addresses.
	Proxies limit.Addresses
	// AnalyticsRetention is how long playback events are kept.
	AnalyticsRetention time.Duration
	// Web is what the embedded web app is told in /config.json.
	Web webapp.Config
	// Auth is the OIDC issuer and audience whose tokens the API accepts.
	Auth auth.Config
}

// DefaultConfig holds the defaults listed in the README's configuration table.
func DefaultConfig() Config {
	return Config{
		Addr:         ":8080",
		OpsAddr:      "127.0.0.1:9080",
		DB:           "var/catalog.db",
		MediaBaseURL: "http://127.0.0.1:8080/media/",
		Storage:      StorageFS,
		StorageDir:   "var/storage",
		Bus:          bus.DefaultConfig(),
		Web:          webapp.DefaultConfig(),
		Auth:         auth.Config{Issuer: settings.DefaultIssuer, Audience: settings.DefaultAudience},

		MediaURLTTL: 6 * time.Hour,
		// A player sends a heartbeat every 10 s or so plus a few events per play,
		// and viewers behind one NAT watching one title share a bucket.
		AnalyticsPerMinute: 600,
		AnalyticsBurst:     600,
		AnalyticsRetention: 90 * 24 * time.Hour,
	}
}

// FromEnv reads the configuration, with defaults from DefaultConfig.
func (c *Config) FromEnv(e *svc.Env) {
	d := DefaultConfig()
	e.String(&c.Addr, "PERTITLE_CATALOG_ADDR", d.Addr, "listen address of the API, media, web app, /healthz and /readyz (ready or not)")
	e.String(&c.OpsAddr, "PERTITLE_CATALOG_OPS_ADDR", d.OpsAddr, "listen address of /readyz with details and /metrics (keep it private)")
	e.String(&c.DB, "PERTITLE_CATALOG_DB", d.DB, "SQLite database file (its directory is created), or a postgres:// URL shared by replicas")
	e.String(&c.MediaBaseURL, "PERTITLE_MEDIA_BASE_URL", d.MediaBaseURL, "base of manifest URLs handed out (point at a CDN)")
	e.String(&c.Storage, "PERTITLE_STORAGE", d.Storage, "storage adapter: fs or s3")
	e.String(&c.StorageDir, "PERTITLE_STORAGE_DIR", d.StorageDir, "root of filesystem storage")
	c.S3 = settings.S3(e)
	e.SigningKey(&c.MediaSigningKey, "PERTITLE_MEDIA_SIGNING_KEY", "", "secret that signs playback URLs and beacon tokens (at least 16 bytes; empty: a random one per start, with a warning)")
	e.Duration(&c.MediaURLTTL, "PERTITLE_MEDIA_URL_TTL", d.MediaURLTTL, "how long signed playback URLs and beacon tokens stay valid")
	e.Int(&c.AnalyticsPerMinute, "PERTITLE_ANALYTICS_EVENTS_PER_MINUTE", d.AnalyticsPerMinute, "analytics events per minute, sustained, for one asset from one client address (or signed-in user)")
	e.Int(&c.AnalyticsBurst, "PERTITLE_ANALYTICS_BURST", d.AnalyticsBurst, "analytics events at once for one asset from one client address (at least 100, one full batch)")
	e.TrustedProxies(&c.Proxies)
	e.Duration(&c.AnalyticsRetention, "PERTITLE_ANALYTICS_RETENTION", d.AnalyticsRetention, "playback events older than this are deleted, hourly (2160h: 90 days)")
	c.Bus = settings.Bus(e)
	c.Web.FromEnv(e)
	c.Auth = settings.OIDC(e)
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var v svc.Validation
	v.Check(svc.ValidAddr(c.Addr), "PERTITLE_CATALOG_ADDR %q is not a listen address such as :8080", c.Addr)
	v.Check(svc.ValidAddr(c.OpsAddr), "PERTITLE_CATALOG_OPS_ADDR %q is not a listen address such as 127.0.0.1:9080", c.OpsAddr)
	if postgres.IsURL(c.DB) {
		_, err := pgx.ParseConfig(c.DB)
		v.Check(err == nil, "PERTITLE_CATALOG_DB is not a valid postgres:// URL: %v", err) // pgx leaves the password out
	} else {
		v.Check(c.DB != "" && !strings.ContainsAny(c.DB, "?#"), "PERTITLE_CATALOG_DB %q must be a file path without '?' or '#', or a postgres:// URL", c.DB)
	}
	v.Check(validBaseURL(c.MediaBaseURL), "PERTITLE_MEDIA_BASE_URL %q must be an http(s) URL or an absolute path", c.MediaBaseURL)
	v.Check(c.Storage == StorageFS || c.Storage == storage.KindS3, "PERTITLE_STORAGE %q is not supported (want %q or %q)", c.Storage, StorageFS, storage.KindS3)
	if c.Storage == storage.KindS3 {
		v.Check(settings.CheckStorage(c.storageConfig()) == nil, "%v", settings.CheckStorage(c.storageConfig()))
	}
	v.Check(c.Storage != StorageFS || c.StorageDir != "", "PERTITLE_STORAGE_DIR is empty")
	v.Check(c.MediaURLTTL >= time.Minute && c.MediaURLTTL <= 7*24*time.Hour, "PERTITLE_MEDIA_URL_TTL must be between 1m and 168h")
	v.Check(c.AnalyticsPerMinute > 0, "PERTITLE_ANALYTICS_EVENTS_PER_MINUTE must be positive")
	v.Check(c.AnalyticsBurst >= 100, "PERTITLE_ANALYTICS_BURST must be at least 100 (one full batch)")
	v.Check(c.AnalyticsRetention >= time.Hour, "PERTITLE_ANALYTICS_RETENTION must be at least 1h")
	return errors.Join(v.Err(), settings.CheckBus(c.Bus), c.Web.Validate(), settings.CheckOIDC(c.Auth))
}

// storageConfig is the storage the media is served from.
func (c Config) storageConfig() storage.Config {
	return storage.Config{Kind: c.Storage, Dir: c.StorageDir, S3: c.S3}
}

func validBaseURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || s == "" || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	if u.Scheme == "" {
		return strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//")
	}
	return (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
