package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

type asset struct {
	ID         string          `json:"id"`
	Title      string          `json:"title"`
	Status     string          `json:"status"`
	Error      string          `json:"error"`
	HLSURL     string          `json:"hls_url"`
	DASHURL    string          `json:"dash_url"`
	Progress   *progress       `json:"progress"`
	Renditions []rendition     `json:"renditions"`
	raw        json.RawMessage `json:"-"`
}

type progress struct {
	Percent    float64 `json:"percent"`
	ETASeconds float64 `json:"eta_seconds"`
	ChunksDone int     `json:"chunks_done"`
	Chunks     int     `json:"chunks"`
	Workers    int     `json:"workers"`
}

// String is the progress for people: percent, chunks and workers of a
// chunked encode, time left.
func (p progress) String() string {
	s := fmt.Sprintf("encoding: %5.1f%%", p.Percent)
	if d := p.detail(); strings.HasPrefix(d, "(") {
		s += " " + d
	} else if d != "" {
		s += ", " + d
	}
	return s
}

// detail is the progress besides its percent: chunks done and workers, time left.
func (p progress) detail() string {
	var parts []string
	if p.Chunks > 0 {
		w := fmt.Sprintf("%d of %d chunks done on %d worker", p.ChunksDone, p.Chunks, p.Workers)
		if p.Workers != 1 {
			w += "s"
		}
		parts = append(parts, w)
	}
	if p.ETASeconds > 0 {
		parts = append(parts, fmt.Sprintf("(about %ds left)", int(p.ETASeconds+0.5)))
	}
	return strings.Join(parts, " ")
}

type rendition struct {
	Width   int   `json:"width"`
	Height  int   `json:"height"`
	Bitrate int64 `json:"bitrate"`
	Bytes   int64 `json:"bytes"`
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

const uploadUsage = "pertitle upload FILE [--title T] [--wait] [--json] [--timeout D] [--parallel N]"

func cmdUpload(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("upload", uploadUsage, stderr)
	title := fs.String("title", "", "title of the asset (default: the file name)")
	wait := fs.Bool("wait", false, "wait until the asset is ready or failed, showing progress")
	asJSON := fs.Bool("json", false, "print the asset as JSON")
	timeout := fs.Duration("timeout", 30*time.Minute, "how long --wait waits")
	ingestURL := fs.String("ingest-url", envOr("PERTITLE_INGEST_URL", "http://127.0.0.1:8081"), "ingest base URL")
	catalogURL := fs.String("catalog-url", envOr("PERTITLE_CATALOG_URL", "http://127.0.0.1:8080"), "catalog base URL")
	parallel := fs.Int("parallel", 4, "parts of a large file sent at once")
	pos, err := parseArgs(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return exitError{2, errors.New("usage: " + uploadUsage)}
	}
	if *parallel < 1 || *parallel > 32 {
		return exitError{2, errors.New("--parallel must be between 1 and 32")}
	}
	tokens := newTokenSource()
	// Fail before reading a large file when there is no way to sign the request.
	if _, err := tokens.Token(ctx); err != nil {
		return err
	}
	var a *asset
	if st, serr := os.Stat(pos[0]); serr == nil && st.Mode().IsRegular() && st.Size() > resumableFrom {
		a, err = newResumer(*ingestURL, tokens, *parallel, stderr).upload(ctx, pos[0], *title)
	} else {
		a, err = upload(ctx, *ingestURL, pos[0], *title, tokens, stderr)
	}
	if err != nil {
		return err
	}
	if !*wait {
		if *asJSON {
			return json.NewEncoder(stdout).Encode(a)
		}
		fmt.Fprintf(stdout, "%s\n", a.ID)
		fmt.Fprintf(stderr, "uploaded %q as %s; follow it with GET %s/v1/assets/%s\n", a.Title, a.ID, strings.TrimSuffix(*catalogURL, "/"), a.ID)
		return nil
	}
	fmt.Fprintf(stderr, "uploaded as %s, waiting for the ladder...\n", a.ID)
	wctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	final, err := waitReady(wctx, *catalogURL, a.ID, tokens, stderr)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(append(final.raw, '\n'))
		if final.Status == "failed" {
			return exitError{1, errors.Join(errQuiet, errors.New("failed"))}
		}
		return err
	}
	if final.Status == "failed" {
		return exitError{1, fmt.Errorf("asset %s failed: %s", final.ID, final.Error)}
	}
	fmt.Fprintf(stdout, "id:   %s\nHLS:  %s\nDASH: %s\n", final.ID, final.HLSURL, final.DASHURL)
	for _, r := range final.Renditions {
		fmt.Fprintf(stdout, "  %4dx%-4d %6d kbit/s %8.1f MB\n", r.Width, r.Height, r.Bitrate/1000, float64(r.Bytes)/1e6)
	}
	return nil
}

// resumableFrom is the size above which a file goes up in parts, resumably.
const resumableFrom = 16 << 20

// newResumer uploads through the resumable API, remembering sessions in the
// user's cache directory.
func newResumer(base string, tokens *tokenSource, parallel int, log io.Writer) *resumer {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return &resumer{base: base, tokens: tokens, parallel: parallel, stateDir: filepath.Join(dir, "pertitle", "uploads"),
		client: http.DefaultClient, log: log}
}

func upload(ctx context.Context, base, file, title string, tokens *tokenSource, stderr io.Writer) (*asset, error) {
	token, err := tokens.Token(ctx)
	if err != nil {
		return nil, err
	}
	f, st, err := openRegular(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	q := url.Values{"filename": {filepath.Base(file)}}
	if title != "" {
		q.Set("title", title)
	}
	cr := &countingReader{r: f}
	stopProgress := showUploadProgress(cr, st.Size(), stderr)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/v1/assets?"+q.Encode(), cr)
	if err != nil {
		stopProgress()
		return nil, err
	}
	req.ContentLength = st.Size()
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	stopProgress()
	if err != nil {
		return nil, fmt.Errorf("cannot reach ingest at %s (is the stack running? `make run`): %w", base, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusUnauthorized {
		return nil, fmt.Errorf("upload refused (401): %s: %w", apiError(body), errNotSignedIn)
	}
	if resp.StatusCode != http.StatusAccepted {
		return nil, fmt.Errorf("upload refused (%d): %s", resp.StatusCode, apiError(body))
	}
	var a asset
	if err := json.Unmarshal(body, &a); err != nil || a.ID == "" {
		return nil, fmt.Errorf("unexpected answer from ingest: %s", body)
	}
	return &a, nil
}

// openRegular opens a file to upload, refusing a directory.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err == nil && st.IsDir() {
		err = fmt.Errorf("%s is a directory", path)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// apiError is what an error answer says: a problem's detail (RFC 9457), or the
// error of an older body, or the body itself.
func apiError(body []byte) string {
	var e struct {
		Detail string `json:"detail"`
		Error  string `json:"error"`
	}
	switch {
	case json.Unmarshal(body, &e) != nil:
	case e.Detail != "":
		return e.Detail
	case e.Error != "":
		return e.Error
	}
	return strings.TrimSpace(string(body))
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func showUploadProgress(cr *countingReader, total int64, w io.Writer) func() {
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	b := newBar(w, "uploading")
	show := func() {
		n := cr.n.Load()
		secs := max(time.Since(start).Seconds(), 0.001)
		rate := float64(n) / secs
		detail := fmt.Sprintf("%.1f MB/s", rate/1e6)
		if rate > 0 && n < total {
			detail += fmt.Sprintf(", %ds left", int(float64(total-n)/rate+0.5))
		}
		b.set(100*float64(n)/float64(max(total, 1)), detail)
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				show()
				b.done()
				return
			case <-t.C:
				show()
			}
		}
	}()
	return func() { close(done); <-finished }
}

func waitReady(ctx context.Context, base, id string, tokens *tokenSource, stderr io.Writer) (*asset, error) {
	u := strings.TrimSuffix(base, "/") + "/v1/assets/" + url.PathEscape(id)
	lastLine := ""
	say := func(line string) {
		if line != lastLine {
			fmt.Fprintln(stderr, line)
			lastLine = line
		}
	}
	b := newBar(stderr, "encoding")
	defer b.done()
	for {
		a, err := getAsset(ctx, u, tokens)
		switch {
		case errors.Is(err, errNotSignedIn):
			return nil, err
		case err != nil && ctx.Err() != nil:
			return nil, fmt.Errorf("gave up waiting for %s: %w", id, ctx.Err())
		case err != nil:
			say("waiting for the catalog: " + err.Error())
		case a.Progress != nil && a.Status == "encoding" && b.tty:
			b.set(a.Progress.Percent, a.Progress.detail())
		default:
			line := a.Status
			if a.Progress != nil && a.Status == "encoding" {
				line = a.Progress.String()
			}
			if a.Status == "ready" || a.Status == "failed" {
				b.done()
			}
			say(line)
			if a.Status == "ready" || a.Status == "failed" {
				return a, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("gave up waiting for %s: %w", id, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

var errNotYet = errors.New("not in the catalog yet")

func getAsset(ctx context.Context, u string, tokens *tokenSource) (*asset, error) {
	// Asked for each poll: a long encode outlives an access token.
	token, err := tokens.Token(ctx)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode == http.StatusNotFound {
		return nil, errNotYet
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return nil, fmt.Errorf("catalog refused the token: %w", errNotSignedIn)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("catalog answered %d: %s", resp.StatusCode, apiError(body))
	}
	var a asset
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("unexpected answer from catalog: %w", err)
	}
	a.raw = body
	return &a, nil
}
