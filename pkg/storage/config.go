package storage

import (
	"fmt"

	"github.com/pertitle/pertitle/pkg/svc"
)

// Storage kinds.
const (
	KindFS = "fs"
)

// Config selects and configures a storage adapter.
type Config struct {
	Kind string
	Dir  string
}

// FromEnv reads PERTITLE_STORAGE and PERTITLE_STORAGE_DIR.
func (c *Config) FromEnv(e *svc.Env) {
	e.String(&c.Kind, "PERTITLE_STORAGE", KindFS, "storage adapter: fs")
	e.String(&c.Dir, "PERTITLE_STORAGE_DIR", "var/storage", "root directory of filesystem storage")
}

// Validate checks the settings.
func (c Config) Validate() error {
	var v svc.Validation
	v.Check(c.Kind == KindFS, "PERTITLE_STORAGE=%q is not supported (use fs)", c.Kind)
	v.Check(c.Kind != KindFS || c.Dir != "", "PERTITLE_STORAGE_DIR must be set for filesystem storage")
	return v.Err()
}

// Open builds the configured adapter.
func (c Config) Open() (Storage, error) {
	switch c.Kind {
	case KindFS:
		return NewFS(c.Dir)
	}
	return nil, fmt.Errorf("unknown storage %q", c.Kind)
}
