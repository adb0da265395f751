package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/pertitle/pertitle/pkg/tracing"
)

// InputPrefixes are the key prefixes that live in the input bucket: sources that
// ingest stores (sources/<asset>/...) and objects users drop in for S3-event
// ingestion (uploads/<owner>/<file>). Every other key (outputs/, jobs/, ...) lives
// in the output bucket. Keys are the same in either bucket: sources/a/source.mp4 is
// s3://<input>/sources/a/source.mp4.
var InputPrefixes = []string{"sources/", "uploads/"}

// S3 limits.
const (
	// MinPartSize is the smallest part S3 accepts except for the last one.
	MinPartSize = 5 << 20
	// DefaultPartSize is what Put buffers (once) per part of a multipart upload.
	DefaultPartSize = 8 << 20
	maxParts        = 10000
	deleteBatch     = 1000
)

// S3Config configures the S3 adapter.
type S3Config struct {
	// Endpoint is a custom S3-compatible endpoint (path-style); empty means AWS.
	Endpoint     string
	Region       string
	InputBucket  string
	OutputBucket string
	// PartSize is the size of each part of a multipart upload; objects smaller than
	// one part go up with a single PutObject. Put holds one part in memory.
	PartSize int64
	// ListPageSize is MaxKeys of each ListObjectsV2 request (default 1000, S3's most).
	ListPageSize int32
}

// Presigner is implemented by stores that can hand out time-limited GET URLs
// (for ffprobe, a CDN origin, a browser).
type Presigner interface {
	Presign(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// S3 stores objects in two S3 buckets, chosen by key prefix (see InputPrefixes).
type S3 struct {
	client   *s3.Client
	presign  *s3.PresignClient
	input    string
	output   string
	partSize int64
	pageSize int32
}

var _ Storage = (*S3)(nil)
var _ Presigner = (*S3)(nil)

// NewS3 returns an S3 store. Credentials come from the SDK's default chain; when
// an endpoint is set and AWS_ACCESS_KEY_ID is not, static "local" credentials are
// used (local servers accept anything).
func NewS3(ctx context.Context, c S3Config) (*S3, error) {
	if c.InputBucket == "" || c.OutputBucket == "" {
		return nil, errors.New("s3 storage: input and output buckets must be set")
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.ListPageSize <= 0 || c.ListPageSize > 1000 {
		c.ListPageSize = 1000
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(c.Region),
		// No overall timeout: a GET body may stream for as long as a player reads.
		config.WithHTTPClient(awshttp.NewBuildableClient()),
	}
	if c.Endpoint != "" {
		opts = append(opts, config.WithBaseEndpoint(c.Endpoint),
			// Local servers do not all understand the SDK's default CRC checksums
			// (aws-chunked trailers); real S3 keeps the defaults.
			config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
			config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
		if !envSet("AWS_ACCESS_KEY_ID") && !envSet("AWS_PROFILE") {
			opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
		}
	}
	ac, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3 storage: cannot load AWS configuration: %w", err)
	}
	ac.APIOptions = append(ac.APIOptions, tracing.AWS) // a span per S3 call made inside a trace
	client := s3.NewFromConfig(ac, func(o *s3.Options) { o.UsePathStyle = c.Endpoint != "" })
	return &S3{client: client, presign: s3.NewPresignClient(client), input: c.InputBucket, output: c.OutputBucket,
		partSize: c.PartSize, pageSize: c.ListPageSize}, nil
}

// Client is the underlying SDK client (tests, tools).
func (s *S3) Client() *s3.Client { return s.client }

// InputBucket and OutputBucket are the two buckets.
func (s *S3) InputBucket() string  { return s.input }
func (s *S3) OutputBucket() string { return s.output }

// IsInputKey reports whether key lives in the input bucket.
func IsInputKey(key string) bool {
	for _, p := range InputPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// Locate returns the bucket and object key of a storage key.
func (s *S3) Locate(key string) (bucket, objectKey string, err error) {
	k, err := CleanKey(key)
	if err != nil {
		return "", "", err
	}
	if IsInputKey(k) {
		return s.input, k, nil
	}
	return s.output, k, nil
}

func (s *S3) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	bucket, k, err := s.Locate(key)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, s.partSize)
	n, rerr := io.ReadFull(r, buf)
	switch {
	case errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF):
		// Smaller than one part: one request.
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &k,
			Body: bytes.NewReader(buf[:n]), ContentLength: aws.Int64(int64(n)), ContentType: contentType(k)})
		if err != nil {
			return 0, fmt.Errorf("cannot write %s: %w", key, err)
		}
		return int64(n), nil
	case rerr != nil:
		return 0, fmt.Errorf("cannot write %s: %w", key, rerr)
	}
	return s.multipart(ctx, bucket, k, buf, r)
}

// Create is a conditional PutObject (If-None-Match: *): S3 answers 412 when
// the key exists, and of two concurrent creates exactly one succeeds.
func (s *S3) Create(ctx context.Context, key string, r io.Reader) (int64, error) {
	bucket, k, err := s.Locate(key)
	if err != nil {
		return 0, err
	}
	b, err := io.ReadAll(io.LimitReader(r, maxCreateBytes+1))
	if err != nil {
		return 0, fmt.Errorf("cannot read %s: %w", key, err)
	}
	if len(b) > maxCreateBytes {
		return 0, fmt.Errorf("cannot create %s: over the %d bytes Create takes", key, maxCreateBytes)
	}
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &k, Body: bytes.NewReader(b),
		ContentLength: aws.Int64(int64(len(b))), ContentType: contentType(k), IfNoneMatch: aws.String("*")})
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict") {
		return 0, fmt.Errorf("%w: %s", ErrExists, key)
	}
	if err != nil {
		return 0, fmt.Errorf("cannot create %s: %w", key, err)
	}
	return int64(len(b)), nil
}

// maxCreateBytes bounds Create's objects: markers and claims, never media.
const maxCreateBytes = 5 << 20

// multipart uploads buf (a full first part) and the rest of r part by part, so
// that at most one part is in memory. A failure aborts the upload: S3 then keeps
// nothing, and the previous object (if any) stays in place.
func (s *S3) multipart(ctx context.Context, bucket, key string, buf []byte, r io.Reader) (int64, error) {
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key,
		ContentType: contentType(key)})
	if err != nil {
		return 0, fmt.Errorf("cannot start upload of %s: %w", key, err)
	}
	abort := func(cause error) (int64, error) {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: &key,
			UploadId: up.UploadId}); err != nil {
			cause = errors.Join(cause, fmt.Errorf("abort failed (a lifecycle rule must clean it up): %w", err))
		}
		return 0, fmt.Errorf("cannot write %s: %w", key, cause)
	}
	var parts []s3types.CompletedPart
	var total int64
	n := len(buf)
	for num := int32(1); ; num++ {
		if num > maxParts {
			return abort(fmt.Errorf("more than %d parts of %d bytes", maxParts, len(buf)))
		}
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId,
			PartNumber: aws.Int32(num), Body: bytes.NewReader(buf[:n]), ContentLength: aws.Int64(int64(n))})
		if err != nil {
			return abort(err)
		}
		parts = append(parts, s3types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		total += int64(n)
		var rerr error
		n, rerr = io.ReadFull(ctxReader{ctx, r}, buf)
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil && !errors.Is(rerr, io.ErrUnexpectedEOF) {
			return abort(rerr)
		}
		if n == 0 {
			break
		}
	}
	if _, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key,
		UploadId: up.UploadId, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		return abort(err)
	}
	return total, nil
}

func (s *S3) Open(ctx context.Context, key string) (ReadSeekCloser, Object, error) {
	bucket, k, err := s.Locate(key)
	if err != nil {
		return nil, Object{}, err
	}
	obj, err := s.Stat(ctx, key)
	if err != nil {
		return nil, Object{}, err
	}
	return &s3Reader{ctx: ctx, client: s.client, bucket: bucket, key: k, size: obj.Size, etag: obj.ETag}, obj, nil
}

func (s *S3) Stat(ctx context.Context, key string) (Object, error) {
	bucket, k, err := s.Locate(key)
	if err != nil {
		return Object{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &k})
	if err != nil {
		return Object{}, mapS3Err(key, err)
	}
	meta := make(map[string]string, len(out.Metadata))
	for mk, v := range out.Metadata {
		meta[strings.ToLower(mk)] = v
	}
	return Object{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified),
		ETag: strings.Trim(aws.ToString(out.ETag), `"`), ContentType: aws.ToString(out.ContentType),
		VersionID: aws.ToString(out.VersionId), Metadata: meta}, nil
}

func (s *S3) Delete(ctx context.Context, key string) error {
	bucket, k, err := s.Locate(key)
	if err != nil {
		return err
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &k}); err != nil {
		if errors.Is(mapS3Err(key, err), ErrNotFound) {
			return nil
		}
		return fmt.Errorf("cannot delete %s: %w", key, err)
	}
	return nil
}

// DeletePrefix treats prefix as a directory, as the filesystem store does:
// "sources/a" removes sources/a/... but not sources/ab/....
func (s *S3) DeletePrefix(ctx context.Context, prefix string) error {
	p, err := CleanKey(strings.TrimSuffix(prefix, "/"))
	if err != nil {
		return err
	}
	p += "/"
	for _, bucket := range s.bucketsFor(p) {
		var batch []s3types.ObjectIdentifier
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket),
				Delete: &s3types.Delete{Objects: batch, Quiet: aws.Bool(true)}})
			batch = batch[:0]
			if err != nil {
				return fmt.Errorf("cannot delete %s: %w", prefix, err)
			}
			if len(out.Errors) > 0 {
				e := out.Errors[0]
				return fmt.Errorf("cannot delete %s: %s: %s", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
			}
			return nil
		}
		err := s.walk(ctx, bucket, p, func(o s3types.Object) error {
			batch = append(batch, s3types.ObjectIdentifier{Key: o.Key})
			if len(batch) == deleteBatch {
				return flush()
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *S3) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	for _, bucket := range s.bucketsFor(prefix) {
		err := s.walk(ctx, bucket, prefix, func(o s3types.Object) error {
			out = append(out, Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified),
				ETag: strings.Trim(aws.ToString(o.ETag), `"`)})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("cannot list %s: %w", prefix, err)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// walk calls fn for every object of bucket under prefix that belongs to that
// bucket's share of the key space (so that one bucket may serve as both).
func (s *S3) walk(ctx context.Context, bucket, prefix string, fn func(s3types.Object) error) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(s.pageSize)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	pages := s3.NewListObjectsV2Paginator(s.client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if _, err := CleanKey(k); err != nil {
				continue // not addressable as a storage key
			}
			if owner, _, _ := s.Locate(k); owner != bucket {
				continue
			}
			if err := fn(o); err != nil {
				return err
			}
		}
	}
	return nil
}

// bucketsFor returns the buckets that may hold keys starting with prefix.
func (s *S3) bucketsFor(prefix string) []string {
	var in, out bool
	if IsInputKey(prefix) {
		in = true
	} else {
		out = true
		for _, p := range InputPrefixes {
			if strings.HasPrefix(p, prefix) {
				in = true
			}
		}
	}
	var bs []string
	if in {
		bs = append(bs, s.input)
	}
	if out && (!in || s.output != s.input) {
		bs = append(bs, s.output)
	}
	return bs
}

func (s *S3) URL(key string) string {
	bucket, k, err := s.Locate(key)
	if err != nil {
		return ""
	}
	return "s3://" + bucket + "/" + k
}

// Ping checks that both buckets exist and are reachable with our credentials.
func (s *S3) Ping(ctx context.Context) error {
	for _, b := range []string{s.input, s.output} {
		if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(b)}); err != nil {
			return fmt.Errorf("bucket %s: %w", b, err)
		}
	}
	return nil
}

// Presign returns a GET URL for key valid for ttl.
func (s *S3) Presign(ctx context.Context, key string, ttl time.Duration) (string, error) {
	bucket, k, err := s.Locate(key)
	if err != nil {
		return "", err
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &k}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("cannot presign %s: %w", key, err)
	}
	return req.URL, nil
}

// s3Reader reads an object with ranged GETs: Seek only moves the offset, and the
// next Read opens "bytes=off-". Every GET is pinned to the ETag seen by Open, so a
// concurrent overwrite fails the read instead of mixing two versions.
type s3Reader struct {
	ctx         context.Context
	client      *s3.Client
	bucket, key string
	size        int64
	etag        string
	off         int64
	body        io.ReadCloser
	bodyOff     int64
	closed      bool
}

func (r *s3Reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, errors.New("read of closed object")
	}
	if r.off >= r.size {
		return 0, io.EOF
	}
	if r.body != nil && r.bodyOff != r.off {
		_ = r.body.Close()
		r.body = nil
	}
	if r.body == nil {
		in := &s3.GetObjectInput{Bucket: &r.bucket, Key: &r.key, Range: aws.String(fmt.Sprintf("bytes=%d-", r.off))}
		if r.etag != "" {
			in.IfMatch = aws.String(`"` + r.etag + `"`)
		}
		out, err := r.client.GetObject(r.ctx, in)
		if err != nil {
			return 0, mapS3Err(r.key, err)
		}
		r.body, r.bodyOff = out.Body, r.off
	}
	n, err := r.body.Read(p)
	r.off += int64(n)
	r.bodyOff = r.off
	if errors.Is(err, io.EOF) {
		_ = r.body.Close()
		r.body = nil
		if r.off < r.size {
			return n, io.ErrUnexpectedEOF
		}
	}
	return n, err
}

func (r *s3Reader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.off + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return 0, errors.New("seek: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("seek: negative position")
	}
	r.off = abs
	return abs, nil
}

func (r *s3Reader) Close() error {
	r.closed = true
	if r.body != nil {
		err := r.body.Close()
		r.body = nil
		return err
	}
	return nil
}

func mapS3Err(key string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NotFound", "NoSuchKey":
			return fmt.Errorf("%w: %s", ErrNotFound, key)
		case "PreconditionFailed":
			return fmt.Errorf("%s changed while being read: %w", key, err)
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == 404 && !strings.Contains(err.Error(), "NoSuchBucket") {
		return fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return fmt.Errorf("cannot read %s: %w", key, err)
}

func envSet(name string) bool { return os.Getenv(name) != "" }

func contentType(key string) *string {
	i := strings.LastIndexByte(key, '.')
	if i < 0 {
		return nil
	}
	ext := strings.ToLower(key[i:])
	switch ext {
	case ".m3u8":
		return aws.String("application/vnd.apple.mpegurl")
	case ".mpd":
		return aws.String("application/dash+xml")
	case ".m4s":
		return aws.String("video/iso.segment")
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return aws.String(t)
	}
	return nil
}
