package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testenv"
	"github.com/pertitle/pertitle/pkg/storage"
)

type staticToken string

func (s staticToken) Token(context.Context) (string, error) { return string(s), nil }

// s3Ingest speaks ingest's direct upload API in front of the local S3 server,
// with the real presigned part URLs; refuse names parts whose URL it refuses.
type s3Ingest struct {
	t        *testing.T
	s3       *storage.S3
	partSize int64
	mu       sync.Mutex
	uploadID string
	size     int64
	asked    []int
	refuse   map[int]bool
}

const testSessionID = "0123456789abcdef0123456789abcdef"

func (f *s3Ingest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, key := r.Context(), "sources/a1/source"
	if r.Header.Get("Authorization") != "Bearer tok" {
		http.Error(w, `{"error":"sign in"}`, http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	total := int((f.size + f.partSize - 1) / f.partSize)
	sess := map[string]any{"id": testSessionID, "size": f.size, "part_size": f.partSize, "parts_total": total, "direct": true}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/uploads":
		var u struct{ Size int64 }
		require.NoError(f.t, json.NewDecoder(r.Body).Decode(&u))
		id, err := f.s3.CreateUpload(ctx, key, "video/mp4")
		require.NoError(f.t, err)
		f.uploadID, f.size = id, u.Size
		sess["size"], sess["parts_total"] = u.Size, int((u.Size+f.partSize-1)/f.partSize)
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(sess)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/uploads/"+testSessionID:
		parts, err := f.s3.Parts(ctx, key, f.uploadID)
		require.NoError(f.t, err)
		var list []map[string]any
		for _, p := range parts {
			list = append(list, map[string]any{"n": p.N, "size": p.Size, "etag": p.ETag})
		}
		sess["parts"] = list
		_ = json.NewEncoder(w).Encode(sess)
	case r.Method == http.MethodGet && r.PathValue("n") != "":
		n, _ := strconv.Atoi(r.PathValue("n"))
		f.asked = append(f.asked, n)
		if f.refuse[n] {
			http.Error(w, `{"error":"no"}`, http.StatusBadRequest)
			return
		}
		size := min(f.partSize, f.size-int64(n-1)*f.partSize)
		u, err := f.s3.PresignPart(ctx, key, f.uploadID, n, size, time.Minute)
		require.NoError(f.t, err)
		_ = json.NewEncoder(w).Encode(map[string]any{"n": n, "url": u, "method": "PUT"})
	case r.Method == http.MethodPost && r.URL.Path == "/v1/uploads/"+testSessionID+"/complete":
		parts, err := f.s3.Parts(ctx, key, f.uploadID)
		require.NoError(f.t, err)
		require.NoError(f.t, f.s3.CompleteUpload(ctx, key, f.uploadID, parts))
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]any{"id": "a1", "status": "uploaded"})
	default:
		http.NotFound(w, r)
	}
}

// TestResumableUploadSendsPartsStraightToStorageAndResumes (issue 13): a
// large file goes up in parallel parts to the presigned URLs; interrupted, the
// same command again sends only the parts storage lacks, and the object is
// the file byte for byte.
func TestResumableUploadSendsPartsStraightToStorageAndResumes(t *testing.T) {
	t.Parallel()
	endpoint := testenv.S3(t, "in-bucket", "out-bucket")
	st, err := storage.NewS3(context.Background(), storage.S3Config{Endpoint: endpoint, InputBucket: "in-bucket", OutputBucket: "out-bucket"})
	require.NoError(t, err)
	fake := &s3Ingest{t: t, s3: st, partSize: 64 << 10, refuse: map[int]bool{5: true}}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/uploads/{id}/parts/{n}/url", fake)
	mux.Handle("/", fake)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	data := make([]byte, 10*64<<10+123)
	rand.New(rand.NewSource(1)).Read(data)
	file := filepath.Join(t.TempDir(), "big.mp4")
	require.NoError(t, os.WriteFile(file, data, 0o600))
	var log bytes.Buffer
	r := &resumer{base: srv.URL, tokens: staticToken("tok"), parallel: 1, stateDir: t.TempDir(), client: http.DefaultClient, log: &log}

	_, err = r.upload(context.Background(), file, "Big")
	require.Error(t, err, "part 5 refused: the upload stops")
	assert.Contains(t, err.Error(), "run the same command again")
	assert.Equal(t, []int{1, 2, 3, 4, 5}, fake.asked)

	fake.asked, fake.refuse, r.parallel = nil, nil, 4
	a, err := r.upload(context.Background(), file, "Big")
	require.NoError(t, err)
	assert.Equal(t, "a1", a.ID)
	assert.ElementsMatch(t, []int{5, 6, 7, 8, 9, 10, 11}, fake.asked, "only the parts storage lacked")
	assert.Contains(t, log.String(), "resuming upload")
	rc, _, err := st.Open(context.Background(), "sources/a1/source")
	require.NoError(t, err)
	got, _ := io.ReadAll(rc)
	rc.Close()
	assert.Equal(t, data, got)
	entries, _ := os.ReadDir(r.stateDir)
	assert.Empty(t, entries, fmt.Sprintf("the finished upload is forgotten: %v", entries))
}
