package storage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testenv"
	"github.com/pertitle/pertitle/pkg/storage"
)

const (
	inBucket  = "in-bucket"
	outBucket = "out-bucket"
	testPart  = 1 << 20 // small parts so that a few MB already go multipart
)

func newS3(t *testing.T) *storage.S3 {
	t.Helper()
	endpoint := testenv.S3(t, inBucket, outBucket)
	st, err := storage.NewS3(context.Background(), storage.S3Config{Endpoint: endpoint, Region: "us-east-1",
		InputBucket: inBucket, OutputBucket: outBucket, PartSize: testPart, ListPageSize: 100})
	require.NoError(t, err)
	return st
}

// data is a deterministic pseudo-random stream: large inputs without large buffers.
func data(seed, n int64) io.Reader { return io.LimitReader(rand.New(rand.NewSource(seed)), n) }

func digest(t *testing.T, r io.Reader) string {
	t.Helper()
	h := sha256.New()
	_, err := io.Copy(h, r)
	require.NoError(t, err)
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestRangedReads(t *testing.T) {
	t.Parallel()
	for name, s := range adapters(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			const size = 3*testPart + 123
			want, _ := io.ReadAll(data(1, size))
			_, err := s.Put(ctx, "outputs/r/seg.m4s", bytes.NewReader(want))
			require.NoError(t, err)
			rc, obj, err := s.Open(ctx, "outputs/r/seg.m4s")
			require.NoError(t, err)
			defer rc.Close()
			require.EqualValues(t, size, obj.Size)
			end, err := rc.Seek(0, io.SeekEnd)
			require.NoError(t, err)
			assert.EqualValues(t, size, end, "seeking to the end tells the size without reading")
			cases := []struct {
				off    int64
				whence int
				n      int
				abs    int64
			}{
				{0, io.SeekStart, 10, 0},
				{5, io.SeekCurrent, 10, 15},                    // relative to the last position (10)
				{testPart - 5, io.SeekStart, 10, testPart - 5}, // across what would be a part boundary
				{-100, io.SeekEnd, 100, size - 100},
				{size - 1, io.SeekStart, 1, size - 1},
			}
			for _, c := range cases {
				abs, err := rc.Seek(c.off, c.whence)
				require.NoError(t, err)
				require.Equal(t, c.abs, abs)
				buf := make([]byte, c.n)
				_, err = io.ReadFull(rc, buf)
				require.NoError(t, err, "read at %d", abs)
				assert.Equal(t, want[abs:abs+int64(c.n)], buf, "bytes at %d", abs)
			}
			_, err = rc.Read(make([]byte, 1))
			assert.ErrorIs(t, err, io.EOF, "reading at the end")
			_, err = rc.Seek(-1, io.SeekStart)
			assert.Error(t, err)
		})
	}
}

// TestLargePutStreams writes ~20 MB from a stream and reads it back whole.
func TestLargePutStreams(t *testing.T) {
	t.Parallel()
	for name, s := range adapters(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			const size = 20<<20 + 77
			n, err := s.Put(ctx, "sources/big/source.mp4", data(2, size))
			require.NoError(t, err)
			assert.EqualValues(t, size, n)
			rc, obj, err := s.Open(ctx, "sources/big/source.mp4")
			require.NoError(t, err)
			defer rc.Close()
			assert.EqualValues(t, size, obj.Size)
			assert.Equal(t, digest(t, data(2, size)), digest(t, rc))
		})
	}
}

// TestS3PutIsMultipartWhileStreaming shows that Put does not buffer the whole input:
// parts reach the server while the source is still being written.
func TestS3PutIsMultipartWhileStreaming(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local S3 server")
	}
	t.Parallel()
	s := newS3(t)
	ctx := context.Background()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := s.Put(ctx, "outputs/stream/big.bin", pr)
		done <- err
	}()
	_, err := io.Copy(pw, data(3, 3*testPart+10))
	require.NoError(t, err)
	var parts int
	require.Eventually(t, func() bool {
		ups, err := s.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(outBucket)})
		if err != nil || len(ups.Uploads) != 1 {
			return false
		}
		lp, err := s.Client().ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(outBucket), Key: ups.Uploads[0].Key,
			UploadId: ups.Uploads[0].UploadId})
		parts = len(lp.Parts)
		return err == nil && parts >= 3
	}, 10*time.Second, 20*time.Millisecond, "parts are uploaded before the input ends")
	_, err = io.Copy(pw, data(4, testPart))
	require.NoError(t, err)
	require.NoError(t, pw.Close())
	require.NoError(t, <-done)
	st, err := s.Stat(ctx, "outputs/stream/big.bin")
	require.NoError(t, err)
	assert.EqualValues(t, 4*testPart+10, st.Size)
}

func TestS3FailedMultipartPutLeavesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local S3 server")
	}
	t.Parallel()
	s := newS3(t)
	ctx := context.Background()
	_, err := s.Put(ctx, "outputs/x/y.bin", io.MultiReader(data(5, 2*testPart+5), errReader{}))
	require.Error(t, err)
	_, err = s.Stat(ctx, "outputs/x/y.bin")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	ups, err := s.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(outBucket)})
	require.NoError(t, err)
	assert.Empty(t, ups.Uploads, "the multipart upload was aborted")
}

func TestPresignedGet(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local S3 server")
	}
	t.Parallel()
	s := newS3(t)
	ctx := context.Background()
	_, err := s.Put(ctx, "sources/p/source.mp4", strings.NewReader("presigned bytes"))
	require.NoError(t, err)
	var p storage.Presigner = s
	u, err := p.Presign(ctx, "sources/p/source.mp4", time.Minute)
	require.NoError(t, err)
	assert.Contains(t, u, "X-Amz-Signature=")
	assert.Contains(t, u, "/"+inBucket+"/sources/p/source.mp4", "path-style, in the input bucket")
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, "presigned bytes", string(body))

	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Range", "bytes=10-")
	resp2, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp2.Body.Close()
	body, _ = io.ReadAll(resp2.Body)
	assert.Equal(t, http.StatusPartialContent, resp2.StatusCode)
	assert.Equal(t, "bytes", string(body))
}

func TestListPaginatesAndDeletePrefix(t *testing.T) {
	t.Parallel()
	for name, s := range adapters(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			const n = 1010 // more than one ListObjectsV2 page of S3's largest size
			keys := make(chan string, n)
			for i := 0; i < n; i++ {
				keys <- fmt.Sprintf("outputs/many/%04d.m4s", i)
			}
			close(keys)
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for w := 0; w < 8; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := range keys {
						if _, err := s.Put(ctx, k, strings.NewReader("x")); err != nil {
							errs <- err
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			for _, k := range []string{"outputs/manyx/keep.txt", "sources/a/source.mp4", "sources/ab/source.mp4", "jobs/j.json"} {
				_, err := s.Put(ctx, k, strings.NewReader("k"))
				require.NoError(t, err)
			}
			list, err := s.List(ctx, "outputs/many/")
			require.NoError(t, err)
			require.Len(t, list, n)
			if s3s, ok := s.(*storage.S3); ok {
				page, err := s3s.Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(outBucket),
					Prefix: aws.String("outputs/many/"), MaxKeys: aws.Int32(1000)})
				require.NoError(t, err)
				assert.True(t, aws.ToBool(page.IsTruncated), "the listing spans pages")
			}
			assert.Equal(t, "outputs/many/0000.m4s", list[0].Key)
			assert.Equal(t, "outputs/many/1009.m4s", list[n-1].Key)

			all, err := s.List(ctx, "")
			require.NoError(t, err)
			assert.Len(t, all, n+4, "both buckets, sorted")

			require.NoError(t, s.DeletePrefix(ctx, "outputs/many"))
			require.NoError(t, s.DeletePrefix(ctx, "sources/a"))
			rest, err := s.List(ctx, "")
			require.NoError(t, err)
			var got []string
			for _, o := range rest {
				got = append(got, o.Key)
			}
			assert.Equal(t, []string{"jobs/j.json", "outputs/manyx/keep.txt", "sources/ab/source.mp4"}, got,
				"a prefix is a directory: sources/a does not take sources/ab")
		})
	}
}

func TestS3KeysMapToBuckets(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local S3 server")
	}
	t.Parallel()
	s := newS3(t)
	ctx := context.Background()
	cases := []struct {
		key, bucket string
	}{
		{"sources/a/source.mp4", inBucket},
		{"uploads/alice/My Holiday ✓.mp4", inBucket},
		{"outputs/a/j/master.m3u8", outBucket},
		{"jobs/j.json", outBucket},
		{"sourcesX/odd", outBucket},
	}
	for _, c := range cases {
		_, err := s.Put(ctx, c.key, strings.NewReader(c.key))
		require.NoError(t, err)
		assert.Equal(t, "s3://"+c.bucket+"/"+c.key, s.URL(c.key))
		_, err = s.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(c.bucket), Key: aws.String(c.key)})
		assert.NoError(t, err, "%s is in %s", c.key, c.bucket)
	}
	st, err := s.Stat(ctx, "outputs/a/j/master.m3u8")
	require.NoError(t, err)
	assert.NotEmpty(t, st.ETag)
	assert.Equal(t, "application/vnd.apple.mpegurl", st.ContentType)

	_, err = s.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(inBucket), Key: aws.String("uploads/bob/clip.mp4"),
		Body: strings.NewReader("v"), Metadata: map[string]string{"Owner": "bob", "title": "Clip"}})
	require.NoError(t, err)
	st, err = s.Stat(ctx, "uploads/bob/clip.mp4")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"owner": "bob", "title": "Clip"}, st.Metadata, "metadata keys in lower case")
	require.NoError(t, s.Ping(ctx))

	missing, err := storage.NewS3(ctx, storage.S3Config{Endpoint: strings.TrimSuffix(aws.ToString(s.Client().Options().BaseEndpoint), "/"),
		InputBucket: "nope", OutputBucket: outBucket})
	require.NoError(t, err)
	assert.Error(t, missing.Ping(ctx), "a missing bucket fails readiness")
}
