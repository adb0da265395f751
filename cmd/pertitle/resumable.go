package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// session is ingest's resumable upload as the CLI needs it.
type session struct {
	ID         string `json:"id"`
	Size       int64  `json:"size"`
	PartSize   int64  `json:"part_size"`
	PartsTotal int    `json:"parts_total"`
	Direct     bool   `json:"direct"`
	Parts      []struct {
		N    int    `json:"n"`
		Size int64  `json:"size"`
		ETag string `json:"etag"`
	} `json:"parts"`
}

// resumer uploads a file through ingest's resumable API: parts in parallel,
// straight to storage when ingest says so (S3), and, run again on the same
// file after an interruption, only the parts ingest does not have yet.
type resumer struct {
	base   string
	tokens interface {
		Token(context.Context) (string, error)
	}
	parallel int
	stateDir string // where the session of each file is remembered
	client   *http.Client
	log      io.Writer
}

// stateFile is where the session id of this file (path, size, time) is kept.
func (r *resumer) stateFile(path string, st os.FileInfo) string {
	abs, _ := filepath.Abs(path)
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d\x00%s", abs, st.Size(), st.ModTime().UnixNano(), r.base))
	return filepath.Join(r.stateDir, hex.EncodeToString(sum[:16])+".json")
}

func (r *resumer) upload(ctx context.Context, path, title string) (*asset, error) {
	f, st, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	state := r.stateFile(path, st)
	s, err := r.resume(ctx, state, st.Size())
	if err != nil {
		return nil, err
	}
	if s == nil {
		if s, err = r.create(ctx, path, title, st.Size()); err != nil {
			return nil, err
		}
		_ = os.MkdirAll(r.stateDir, 0o700)
		_ = os.WriteFile(state, []byte(s.ID), 0o600)
	}
	if err := r.sendParts(ctx, f, s); err != nil {
		return nil, fmt.Errorf("%w (run the same command again to resume)", err)
	}
	var a asset
	code, body, err := r.api(ctx, http.MethodPost, "/v1/uploads/"+s.ID+"/complete", nil, &a)
	if err == nil && code != http.StatusAccepted {
		err = fmt.Errorf("upload refused (%d): %s", code, apiError(body))
	}
	if err != nil {
		if code >= 400 && code < 500 && code != http.StatusConflict {
			_ = os.Remove(state) // refused: nothing to resume
		}
		return nil, err
	}
	_ = os.Remove(state)
	return &a, nil
}

// resume returns the session remembered for this file when ingest still has it.
func (r *resumer) resume(ctx context.Context, state string, size int64) (*session, error) {
	id, err := os.ReadFile(state)
	if err != nil || len(id) != 32 {
		return nil, nil
	}
	var s session
	code, _, err := r.api(ctx, http.MethodGet, "/v1/uploads/"+string(id), nil, &s)
	if err != nil && code == 0 {
		return nil, err
	}
	if code != http.StatusOK || !s.valid(size) {
		_ = os.Remove(state)
		return nil, nil
	}
	fmt.Fprintf(r.log, "resuming upload %s: %d of %d parts already sent\n", s.ID, len(s.Parts), s.PartsTotal)
	return &s, nil
}

func (r *resumer) create(ctx context.Context, path, title string, size int64) (*session, error) {
	body, _ := json.Marshal(map[string]any{"filename": filepath.Base(path), "size": size, "title": title,
		"content_type": mime.TypeByExtension(strings.ToLower(filepath.Ext(path)))})
	var s session
	code, resp, err := r.api(ctx, http.MethodPost, "/v1/uploads", body, &s)
	if err == nil && code != http.StatusCreated {
		err = fmt.Errorf("upload refused (%d): %s", code, apiError(resp))
	}
	if err != nil {
		return nil, err
	}
	if !s.valid(size) {
		return nil, fmt.Errorf("unexpected upload session from ingest: %s", resp)
	}
	return &s, nil
}

// maxPartSize bounds the part held in memory per parallel upload, whatever
// ingest says.
const maxPartSize = 512 << 20

// valid: the session's parts cover size bytes, within bounds.
func (s *session) valid(size int64) bool {
	return s.Size == size && s.PartSize > 0 && s.PartSize <= maxPartSize && s.PartsTotal >= 1 && s.PartsTotal <= 10000 &&
		int64(s.PartsTotal) == (size+s.PartSize-1)/s.PartSize && len(s.ID) == 32
}

// sendParts sends, r.parallel at a time, the parts ingest lacks or holds
// with another digest (an etag ingest reports: SHA-256 through ingest, MD5 on S3).
func (r *resumer) sendParts(ctx context.Context, f *os.File, s *session) error {
	have := map[int]string{}
	for _, p := range s.Parts {
		have[p.N] = p.ETag
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	todo := make(chan int)
	var wg sync.WaitGroup
	var sent progressCounter
	stop := showUploadProgress(&sent.countingReader, s.Size, r.log)
	defer stop()
	for range max(1, r.parallel) {
		wg.Go(func() {
			for n := range todo {
				if err := r.part(ctx, f, s, n, have[n], &sent); err != nil {
					cancel(err)
				}
			}
		})
	}
	for n := 1; n <= s.PartsTotal && ctx.Err() == nil; n++ {
		select {
		case todo <- n:
		case <-ctx.Done():
		}
	}
	close(todo)
	wg.Wait()
	return context.Cause(ctx)
}

// progressCounter counts the bytes of every part sent.
type progressCounter struct{ countingReader }

func (r *resumer) part(ctx context.Context, f *os.File, s *session, n int, etag string, sent *progressCounter) error {
	off := int64(n-1) * s.PartSize
	size := min(s.PartSize, s.Size-off)
	data := make([]byte, size)
	if _, err := f.ReadAt(data, off); err != nil {
		return fmt.Errorf("cannot read part %d: %w", n, err)
	}
	var h hash.Hash = sha256.New()
	if s.Direct {
		h = md5.New()
	}
	h.Write(data)
	if etag != "" && strings.Trim(etag, `"`) == hex.EncodeToString(h.Sum(nil)) {
		sent.n.Add(size)
		return nil
	}
	var err error
	for attempt := range 4 {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * time.Second):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err = r.putPart(ctx, s, n, data); err == nil || errors.Is(err, errRefused) {
			break
		}
	}
	if err == nil {
		sent.n.Add(size)
	}
	return err
}

// errRefused is a part refused for good (4xx): retrying cannot help.
var errRefused = errors.New("refused")

func (r *resumer) putPart(ctx context.Context, s *session, n int, data []byte) error {
	target, auth := fmt.Sprintf("%s/v1/uploads/%s/parts/%d", strings.TrimSuffix(r.base, "/"), s.ID, n), true
	if s.Direct {
		var u struct{ URL, Method string }
		code, body, err := r.api(ctx, http.MethodGet, fmt.Sprintf("/v1/uploads/%s/parts/%d/url", s.ID, n), nil, &u)
		if err != nil {
			return err
		}
		if code != http.StatusOK || u.URL == "" {
			return fmt.Errorf("part %d: no upload URL (%d): %s: %w", n, code, apiError(body), errRefused)
		}
		target, auth = u.URL, false // presigned: no credentials of ours go to storage
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, target, bytes.NewReader(data))
	if err != nil {
		return err
	}
	if auth {
		if err := r.authorize(ctx, req); err != nil {
			return err
		}
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("part %d: %w", n, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return fmt.Errorf("part %d refused (%d): %s: %w", n, resp.StatusCode, apiError(body), errRefused)
	}
	return fmt.Errorf("part %d: %d %s", n, resp.StatusCode, apiError(body))
}

func (r *resumer) authorize(ctx context.Context, req *http.Request) error {
	tok, err := r.tokens.Token(ctx)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return nil
}

// api calls ingest and decodes a 2xx JSON answer into out; code 0 with an error
// means ingest could not be reached.
func (r *resumer) api(ctx context.Context, method, path string, body []byte, out any) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(r.base, "/")+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := r.authorize(ctx, req); err != nil {
		return 0, nil, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("cannot reach ingest at %s (is the stack running? `make run`): %w", r.base, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusUnauthorized {
		return resp.StatusCode, b, fmt.Errorf("upload refused (401): %s: %w", apiError(b), errNotSignedIn)
	}
	if resp.StatusCode/100 == 2 && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, b, fmt.Errorf("unexpected answer from ingest: %s", b)
		}
	}
	return resp.StatusCode, b, nil
}
