package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
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
	bin := S3ServerBin(t)
	dir := t.TempDir()
	var lastErr error
	for try := 0; try < 3; try++ { // the free port may be taken between probe and start
		port := FreePort(t)
		var logs bytes.Buffer
		sw := &syncWriter{w: &logs}
		cmd := exec.Command(bin, "-addr", fmt.Sprintf("127.0.0.1:%d", port), "-dir", filepath.Join(dir, fmt.Sprint(port)),
			"-buckets", strings.Join(buckets, ","))
		cmd.Stdout, cmd.Stderr = sw, sw
		if err := cmd.Start(); err != nil {
			t.Fatalf("testenv: cannot start s3server: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
		if err := waitS3(endpoint, exited, 10*time.Second); err != nil {
			_ = cmd.Process.Kill()
			<-exited
			lastErr = fmt.Errorf("%w\n%s", err, sw.String())
			continue
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
		return endpoint
	}
	t.Fatalf("testenv: s3server did not start: %v", lastErr)
	return ""
}

func waitS3(endpoint string, exited <-chan error, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("s3server exited: %v", err)
		default:
		}
		resp, err := client.Get(endpoint + "/") // ListBuckets
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("s3server did not answer in time")
}
