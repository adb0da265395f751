package storage

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/pertitle/pertitle/pkg/svc"
)

// Storage kinds.
const (
	KindFS = "fs"
	KindS3 = "s3"
)

// Config selects and configures a storage adapter.
type Config struct {
	Kind string
	Dir  string
	S3   S3Config
}

// FromEnv reads PERTITLE_STORAGE, PERTITLE_STORAGE_DIR and the S3 settings.
func (c *Config) FromEnv(e *svc.Env) {
	e.String(&c.Kind, "PERTITLE_STORAGE", KindFS, "storage adapter: fs or s3")
	e.String(&c.Dir, "PERTITLE_STORAGE_DIR", "var/storage", "root directory of filesystem storage")
	c.S3.FromEnv(e)
}

// FromEnv reads the S3 settings (used when PERTITLE_STORAGE=s3).
func (c *S3Config) FromEnv(e *svc.Env) {
	e.String(&c.Endpoint, "PERTITLE_S3_ENDPOINT", "", "S3-compatible endpoint (path-style, e.g. the local s3server); empty for AWS")
	e.String(&c.Region, "PERTITLE_S3_REGION", "us-east-1", "region of the S3 buckets")
	e.String(&c.InputBucket, "PERTITLE_S3_INPUT_BUCKET", "pertitle-input", "bucket of sources (keys sources/..., uploads/...)")
	e.String(&c.OutputBucket, "PERTITLE_S3_OUTPUT_BUCKET", "pertitle-output", "bucket of outputs and job records (every other key)")
	e.Int64(&c.PartSize, "PERTITLE_S3_PART_SIZE", DefaultPartSize, "multipart upload part size in bytes (held once in memory per upload)")
}

// Validate checks the settings.
func (c Config) Validate() error {
	var v svc.Validation
	v.Check(c.Kind == KindFS || c.Kind == KindS3, "PERTITLE_STORAGE=%q is not supported (use fs or s3)", c.Kind)
	v.Check(c.Kind != KindFS || c.Dir != "", "PERTITLE_STORAGE_DIR must be set for filesystem storage")
	if c.Kind == KindS3 {
		v.Check(c.S3.InputBucket != "" && c.S3.OutputBucket != "", "PERTITLE_S3_INPUT_BUCKET and PERTITLE_S3_OUTPUT_BUCKET must be set")
		v.Check(c.S3.Region != "", "PERTITLE_S3_REGION must be set")
		v.Check(c.S3.PartSize >= MinPartSize || c.S3.Endpoint != "" && c.S3.PartSize > 0,
			"PERTITLE_S3_PART_SIZE=%d must be at least %d (S3's smallest part)", c.S3.PartSize, MinPartSize)
		if c.S3.Endpoint != "" {
			u, err := url.Parse(c.S3.Endpoint)
			v.Check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "",
				"PERTITLE_S3_ENDPOINT=%q is not an http(s) URL", c.S3.Endpoint)
		}
	}
	return v.Err()
}

// Open builds the configured adapter.
func (c Config) Open() (Storage, error) {
	switch c.Kind {
	case KindFS:
		return NewFS(c.Dir)
	case KindS3:
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return NewS3(ctx, c.S3)
	}
	return nil, fmt.Errorf("unknown storage %q", c.Kind)
}
