package service

import (
	"errors"
	"net/url"
	"strings"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/svc"
)

// Name is the service name used in logs, metrics and queue names.
const Name = bus.ServiceCatalog

// Storage adapters.
const StorageFS = "fs"

// Config is everything the catalog reads from its environment.
type Config struct {
	Addr         string
	DBPath       string
	MediaBaseURL string
	Storage      string
	StorageDir   string
	Bus          bus.Config
}

// DefaultConfig holds the defaults of docs/settings.md.
func DefaultConfig() Config {
	return Config{
		Addr:         ":8080",
		DBPath:       "var/catalog.db",
		MediaBaseURL: "http://127.0.0.1:8080/media/",
		Storage:      StorageFS,
		StorageDir:   "var/storage",
		Bus:          bus.DefaultConfig(),
	}
}

// FromEnv reads the configuration, with defaults from DefaultConfig.
func (c *Config) FromEnv(e *svc.Env) {
	d := DefaultConfig()
	e.String(&c.Addr, "PERTITLE_CATALOG_ADDR", d.Addr, "listen address of the API, media, health and metrics")
	e.String(&c.DBPath, "PERTITLE_CATALOG_DB", d.DBPath, "SQLite database file (its directory is created)")
	e.String(&c.MediaBaseURL, "PERTITLE_MEDIA_BASE_URL", d.MediaBaseURL, "base of manifest URLs handed out (point at a CDN)")
	e.String(&c.Storage, "PERTITLE_STORAGE", d.Storage, "storage adapter: fs")
	e.String(&c.StorageDir, "PERTITLE_STORAGE_DIR", d.StorageDir, "root of filesystem storage")
	c.Bus.FromEnv(e)
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var v svc.Validation
	v.Check(svc.ValidAddr(c.Addr), "PERTITLE_CATALOG_ADDR %q is not a listen address such as :8080", c.Addr)
	v.Check(c.DBPath != "" && !strings.ContainsAny(c.DBPath, "?#"), "PERTITLE_CATALOG_DB %q must be a file path without '?' or '#'", c.DBPath)
	v.Check(validBaseURL(c.MediaBaseURL), "PERTITLE_MEDIA_BASE_URL %q must be an http(s) URL or an absolute path", c.MediaBaseURL)
	v.Check(c.Storage == StorageFS, "PERTITLE_STORAGE %q is not supported (want %q)", c.Storage, StorageFS)
	v.Check(c.Storage != StorageFS || c.StorageDir != "", "PERTITLE_STORAGE_DIR is empty")
	return errors.Join(v.Err(), c.Bus.Validate())
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
