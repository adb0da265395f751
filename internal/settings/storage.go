package settings

import (
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/svc"
)

// Storage reads PERTITLE_STORAGE, PERTITLE_STORAGE_DIR and the S3 settings.
func Storage(e *svc.Env) storage.Config {
	var c storage.Config
	e.String(&c.Kind, "PERTITLE_STORAGE", storage.KindFS, "storage adapter: fs or s3")
	e.String(&c.Dir, "PERTITLE_STORAGE_DIR", "var/storage", "root directory of filesystem storage")
	c.S3 = S3(e)
	return c
}

// S3 reads the S3 settings (used when PERTITLE_STORAGE=s3).
func S3(e *svc.Env) storage.S3Config {
	var c storage.S3Config
	e.String(&c.Endpoint, "PERTITLE_S3_ENDPOINT", "", "S3-compatible endpoint (path-style, e.g. the local s3server); empty for AWS")
	e.String(&c.Region, "PERTITLE_S3_REGION", "us-east-1", "region of the S3 buckets")
	e.String(&c.InputBucket, "PERTITLE_S3_INPUT_BUCKET", "pertitle-input", "bucket of sources (keys sources/..., uploads/...)")
	e.String(&c.OutputBucket, "PERTITLE_S3_OUTPUT_BUCKET", "pertitle-output", "bucket of outputs and job records (every other key)")
	e.Int64(&c.PartSize, "PERTITLE_S3_PART_SIZE", storage.DefaultPartSize, "multipart upload part size in bytes (held once in memory per upload)")
	return c
}

// CheckStorage validates storage settings read by Storage.
func CheckStorage(c storage.Config) error {
	return named("storage (PERTITLE_STORAGE, PERTITLE_STORAGE_DIR, PERTITLE_S3_*)", c.Validate())
}
