package testenv

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	s3BuildOnce sync.Once
	s3Bin       string
	s3BuildErr  error
)

// S3ServerBin returns the local S3 server binary (internal/tools/s3server):
// $PERTITLE_S3SERVER_BIN, else built once per test process from the repository,
// so that it is never stale.
func S3ServerBin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("PERTITLE_S3SERVER_BIN"); p != "" {
		return p
	}
	s3BuildOnce.Do(func() {
		root := RepoRoot(t)
		dir, err := os.MkdirTemp("", "pertitle-s3server-")
		if err != nil {
			s3BuildErr = err
			return
		}
		s3Bin = filepath.Join(dir, "s3server")
		cmd := exec.Command("go", "build", "-o", s3Bin, "./internal/tools/s3server")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			s3BuildErr = fmt.Errorf("go build s3server: %w\n%s", err, out)
		}
	})
	if s3BuildErr != nil {
		t.Fatalf("testenv: %v", s3BuildErr)
	}
	return s3Bin
}

// S3 starts the local S3-compatible server on a free loopback port for the test,
// with the given buckets created, and returns its endpoint (http://127.0.0.1:PORT).
// Objects live in a temporary directory; the process is killed when the test ends.
// Any credentials are accepted; use path-style addressing.
func S3(t testing.TB, buckets ...string) (endpoint string) {
	t.Helper()
	dir := t.TempDir()
	return server{
		name: "s3server",
		bin:  S3ServerBin(t),
		dir:  dir,
		args: func(port int) []string {
			return []string{"-addr", fmt.Sprintf("127.0.0.1:%d", port), "-dir", filepath.Join(dir, fmt.Sprint(port)),
				"-buckets", strings.Join(buckets, ",")}
		},
		probe: func(c *http.Client, endpoint string) (*http.Response, error) {
			return c.Get(endpoint + "/") // ListBuckets
		},
	}.start(t)
}
