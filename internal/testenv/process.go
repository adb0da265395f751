package testenv

import (
	"bytes"
	"fmt"
	"net/http"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// server describes a test server process started on a free loopback port.
type server struct {
	name string
	bin  string
	dir  string
	// args returns the command line for the chosen port.
	args func(port int) []string
	// probe sends one readiness request; a 200 answer means ready.
	probe func(client *http.Client, endpoint string) (*http.Response, error)
}

// start runs s on a free port, waits until it answers, kills it when the test
// ends and returns its endpoint. A port may be taken between the probe and the
// start, so it tries three ports.
func (s server) start(t testing.TB) string {
	t.Helper()
	var lastErr error
	for try := 0; try < 3; try++ {
		port := FreePort(t)
		logs := &syncWriter{w: &bytes.Buffer{}}
		cmd := exec.Command(s.bin, s.args(port)...)
		cmd.Dir = s.dir
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatalf("testenv: cannot start %s: %v", s.name, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
		if err := s.waitReady(endpoint, exited, 10*time.Second); err != nil {
			_ = cmd.Process.Kill()
			<-exited
			lastErr = fmt.Errorf("%w\n%s", err, logs.String())
			continue
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
		return endpoint
	}
	t.Fatalf("testenv: %s did not start: %v", s.name, lastErr)
	return ""
}

func (s server) waitReady(endpoint string, exited <-chan error, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("%s exited: %v", s.name, err)
		default:
		}
		if resp, err := s.probe(client, endpoint); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer in time", s.name)
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}
