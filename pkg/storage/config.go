package storage

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"
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

// Validate reports every problem of the settings at once.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.Kind == KindFS || c.Kind == KindS3, "storage kind %q is not supported (use %s or %s)", c.Kind, KindFS, KindS3)
	check(c.Kind != KindFS || c.Dir != "", "filesystem storage needs a directory")
	if c.Kind == KindS3 {
		check(c.S3.InputBucket != "" && c.S3.OutputBucket != "", "the S3 input and output buckets must be named")
		check(c.S3.Region != "", "the S3 region is empty")
		check(c.S3.PartSize >= MinPartSize || c.S3.Endpoint != "" && c.S3.PartSize > 0,
			"S3 part size %d must be at least %d (S3's smallest part)", c.S3.PartSize, MinPartSize)
		if c.S3.Endpoint != "" {
			u, err := url.Parse(c.S3.Endpoint)
			check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "",
				"S3 endpoint %q is not an http(s) URL", c.S3.Endpoint)
		}
	}
	return errors.Join(errs...)
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
