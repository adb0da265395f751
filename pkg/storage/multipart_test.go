package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/storage"
)

// putURL uploads body to a presigned part URL as a browser would: plain HTTP,
// no credentials, and returns S3's ETag header.
func putURL(t *testing.T, url string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("ETag")
}

// TestS3DirectUpload: parts PUT to presigned URLs in any order, listed, then
// joined into the object; an aborted upload leaves neither parts nor object.
func TestS3DirectUpload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newS3(t)
	key := "sources/asset-1/source"
	id, err := s.CreateUpload(ctx, key, "video/mp4")
	require.NoError(t, err)
	parts := [][]byte{bytes.Repeat([]byte("a"), 5<<20), bytes.Repeat([]byte("b"), 5<<20), []byte("tail")}
	for _, n := range []int{3, 1, 2} {
		u, err := s.PresignPart(ctx, key, id, n, int64(len(parts[n-1])), time.Minute)
		require.NoError(t, err)
		assert.Contains(t, u, "X-Amz-Signature=", "a SigV4 query-signed URL")
		status, etag := putURL(t, u, parts[n-1])
		require.Equal(t, http.StatusOK, status)
		assert.NotEmpty(t, etag)
	}
	listed, err := s.Parts(ctx, key, id)
	require.NoError(t, err)
	require.Len(t, listed, 3)
	for i, p := range listed {
		assert.Equal(t, i+1, p.N)
		assert.EqualValues(t, len(parts[i]), p.Size)
	}
	_, err = s.Stat(ctx, key)
	require.ErrorIs(t, err, storage.ErrNotFound, "no object before completion")
	require.NoError(t, s.CompleteUpload(ctx, key, id, listed))
	rc, obj, err := s.Open(ctx, key)
	require.NoError(t, err)
	got, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	assert.Equal(t, bytes.Join(parts, nil), got)
	assert.EqualValues(t, len(got), obj.Size)

	key2 := "sources/asset-2/source"
	id2, err := s.CreateUpload(ctx, key2, "")
	require.NoError(t, err)
	u, err := s.PresignPart(ctx, key2, id2, 1, 3, time.Minute)
	require.NoError(t, err)
	status, _ := putURL(t, u, []byte("abc"))
	require.Equal(t, http.StatusOK, status)
	require.NoError(t, s.AbortUpload(ctx, key2, id2))
	require.NoError(t, s.AbortUpload(ctx, key2, id2), "aborting twice is no error")
	_, err = s.Parts(ctx, key2, id2)
	assert.True(t, errors.Is(err, storage.ErrNoUpload), "%v", err)
	_, err = s.Stat(ctx, key2)
	assert.ErrorIs(t, err, storage.ErrNotFound)
}

func TestUploadOrigin(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "http://127.0.0.1:4569", storage.S3Config{Endpoint: "http://127.0.0.1:4569/"}.UploadOrigin())
	assert.Equal(t, "https://in.s3.eu-west-1.amazonaws.com", storage.S3Config{InputBucket: "in", Region: "eu-west-1"}.UploadOrigin())
}
