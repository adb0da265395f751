package storage

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// MaxParts is the most parts S3 takes in one multipart upload.
const MaxParts = 10000

// ErrNoUpload is a multipart upload that does not exist (any more).
var ErrNoUpload = errors.New("no such multipart upload")

// UploadedPart is one part of a multipart upload as the store has it.
type UploadedPart struct {
	N    int
	Size int64
	ETag string // as S3 quotes it
}

// DirectUploader is implemented by stores a client can upload into directly,
// through presigned URLs of the parts of a multipart upload: the bytes never
// pass through the service that opens, lists, completes and aborts it.
type DirectUploader interface {
	// CreateUpload starts a multipart upload of key and returns its id.
	CreateUpload(ctx context.Context, key, contentType string) (string, error)
	// PresignPart is a URL to PUT part n of an upload to, exactly size bytes
	// (the length is signed: S3 refuses another), valid for ttl.
	PresignPart(ctx context.Context, key, uploadID string, n int, size int64, ttl time.Duration) (string, error)
	// Parts lists the parts uploaded so far, in order (at most MaxParts).
	Parts(ctx context.Context, key, uploadID string) ([]UploadedPart, error)
	// CompleteUpload joins parts (in order) into the object key.
	CompleteUpload(ctx context.Context, key, uploadID string, parts []UploadedPart) error
	// AbortUpload deletes an upload's parts; one already gone is no error.
	AbortUpload(ctx context.Context, key, uploadID string) error
}

var _ DirectUploader = (*S3)(nil)

// CreateUpload implements DirectUploader.
func (s *S3) CreateUpload(ctx context.Context, key, ctype string) (string, error) {
	bucket, k, err := s.Locate(key)
	if err != nil {
		return "", err
	}
	in := &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &k}
	if ctype != "" {
		in.ContentType = aws.String(ctype)
	}
	out, err := s.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		return "", fmt.Errorf("cannot start the upload of %s: %w", key, err)
	}
	return aws.ToString(out.UploadId), nil
}

// PresignPart implements DirectUploader.
func (s *S3) PresignPart(ctx context.Context, key, uploadID string, n int, size int64, ttl time.Duration) (string, error) {
	bucket, k, err := s.Locate(key)
	if err != nil {
		return "", err
	}
	req, err := s.presign.PresignUploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: &k, UploadId: &uploadID,
		PartNumber: aws.Int32(int32(n)), ContentLength: aws.Int64(size)}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("cannot presign part %d of %s: %w", n, key, err)
	}
	return req.URL, nil
}

// Parts implements DirectUploader.
func (s *S3) Parts(ctx context.Context, key, uploadID string) ([]UploadedPart, error) {
	bucket, k, err := s.Locate(key)
	if err != nil {
		return nil, err
	}
	var out []UploadedPart
	in := &s3.ListPartsInput{Bucket: &bucket, Key: &k, UploadId: &uploadID, MaxParts: aws.Int32(1000)}
	for p := s3.NewListPartsPaginator(s.client, in); p.HasMorePages() && len(out) <= MaxParts; {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, mapUploadErr(key, err)
		}
		for _, part := range page.Parts {
			out = append(out, UploadedPart{N: int(aws.ToInt32(part.PartNumber)), Size: aws.ToInt64(part.Size),
				ETag: aws.ToString(part.ETag)})
		}
	}
	return out, nil
}

// CompleteUpload implements DirectUploader.
func (s *S3) CompleteUpload(ctx context.Context, key, uploadID string, parts []UploadedPart) error {
	bucket, k, err := s.Locate(key)
	if err != nil {
		return err
	}
	done := make([]s3types.CompletedPart, len(parts))
	for i, p := range parts {
		done[i] = s3types.CompletedPart{PartNumber: aws.Int32(int32(p.N)), ETag: aws.String(p.ETag)}
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &k,
		UploadId: &uploadID, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: done}})
	if err != nil {
		return mapUploadErr(key, err)
	}
	return nil
}

// AbortUpload implements DirectUploader.
func (s *S3) AbortUpload(ctx context.Context, key, uploadID string) error {
	bucket, k, err := s.Locate(key)
	if err != nil {
		return err
	}
	_, err = s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: &k, UploadId: &uploadID})
	if err = mapUploadErr(key, err); err != nil && !errors.Is(err, ErrNoUpload) {
		return err
	}
	return nil
}

func mapUploadErr(key string, err error) error {
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchUpload" || strings.Contains(ae.ErrorCode(), "NoSuchUpload")) {
		return fmt.Errorf("%w: %s", ErrNoUpload, key)
	}
	return fmt.Errorf("multipart upload of %s: %w", key, err)
}

// UploadOrigin is the origin presigned part URLs point at (a browser's CSP
// connect-src and the bucket's CORS concern it): the endpoint when one is set
// (path-style), else the input bucket's virtual-hosted AWS address.
func (c S3Config) UploadOrigin() string {
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || u.Host == "" {
			return ""
		}
		return u.Scheme + "://" + u.Host
	}
	region := c.Region
	if region == "" {
		region = "us-east-1"
	}
	return "https://" + c.InputBucket + ".s3." + region + ".amazonaws.com"
}
