// Package stack runs the whole of pertitle as separate processes (goaws, the four
// services, the CLI) exactly as `make run` starts them, for end-to-end tests and
// benchmarks.
package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/testenv"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds every service and the CLI once per test process.
func Binaries(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root := testenv.RepoRoot(t)
		binDir, buildErr = os.MkdirTemp("", "pertitle-e2e-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+"/",
			"./services/ingest", "./services/encoder-dispatch", "./services/webhook-receiver", "./services/catalog", "./cmd/pertitle")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binDir
}

// stack is one running pertitle: goaws plus the four services.
type Stack struct {
	t         testing.TB
	Bin       string
	Dir       string
	env       []string
	Ports     map[string]int
	mu        sync.Mutex
	procs     map[string]*exec.Cmd
	Prefix    string
	BusConfig bus.Config
}

type Options struct {
	// Extra environment for every service (e.g. a slower preset).
	Env map[string]string
	// Services to start, in order (default: all four).
	Services []string
}

// AllServices is every service, in the order they start.
var AllServices = []string{"catalog", "webhook-receiver", "encoder-dispatch", "ingest"}

func Start(t testing.TB, opts Options) *Stack {
	t.Helper()
	bin := Binaries(t)
	endpoint := testenv.Goaws(t)
	dir := t.TempDir()
	s := &Stack{t: t, Bin: bin, Dir: dir, procs: map[string]*exec.Cmd{}, Ports: map[string]int{
		"catalog": testenv.FreePort(t), "ingest": testenv.FreePort(t),
		"webhook-receiver": testenv.FreePort(t), "encoder-dispatch": testenv.FreePort(t),
	}}
	s.Prefix = fmt.Sprintf("e2e%d-", time.Now().UnixNano()%1_000_000)
	vars := map[string]string{
		"PERTITLE_AWS_ENDPOINT":            endpoint,
		"PERTITLE_AWS_REGION":              "us-east-1",
		"PERTITLE_AWS_ACCOUNT_ID":          "000000000000",
		"PERTITLE_BUS_PREFIX":              s.Prefix,
		"PERTITLE_BUS_VISIBILITY_TIMEOUT":  "6s",
		"PERTITLE_BUS_WAIT_TIME":           "2s",
		"PERTITLE_BUS_MAX_RECEIVES":        "5",
		"PERTITLE_STORAGE_DIR":             filepath.Join(dir, "storage"),
		"PERTITLE_CATALOG_DB":              filepath.Join(dir, "catalog.db"),
		"PERTITLE_WORK_DIR":                filepath.Join(dir, "work"),
		"PERTITLE_CATALOG_ADDR":            fmt.Sprintf("127.0.0.1:%d", s.Ports["catalog"]),
		"PERTITLE_INGEST_ADDR":             fmt.Sprintf("127.0.0.1:%d", s.Ports["ingest"]),
		"PERTITLE_WEBHOOK_ADDR":            fmt.Sprintf("127.0.0.1:%d", s.Ports["webhook-receiver"]),
		"PERTITLE_DISPATCH_ADDR":           fmt.Sprintf("127.0.0.1:%d", s.Ports["encoder-dispatch"]),
		"PERTITLE_MEDIA_BASE_URL":          fmt.Sprintf("http://127.0.0.1:%d/media/", s.Ports["catalog"]),
		"PERTITLE_WEBHOOK_URL":             fmt.Sprintf("http://127.0.0.1:%d/webhooks/bitmovin", s.Ports["webhook-receiver"]),
		"PERTITLE_CATALOG_URL":             fmt.Sprintf("http://127.0.0.1:%d", s.Ports["catalog"]),
		"PERTITLE_INGEST_URL":              fmt.Sprintf("http://127.0.0.1:%d", s.Ports["ingest"]),
		"PERTITLE_BITMOVIN_WEBHOOK_SECRET": "e2e-secret",
		"PERTITLE_PROGRESS_EVERY":          "500ms",
		"PERTITLE_LOG_LEVEL":               "debug",
	}
	for k, v := range opts.Env {
		vars[k] = v
	}
	s.env = os.Environ()
	for k, v := range vars {
		s.env = append(s.env, k+"="+v)
	}

	s.BusConfig = bus.DefaultConfig()
	s.BusConfig.Endpoint, s.BusConfig.Prefix = endpoint, s.Prefix
	s.BusConfig.VisibilityTimeout, s.BusConfig.MaxReceives, s.BusConfig.WaitTime = 6*time.Second, 5, 2*time.Second
	// Provision with the CLI, as `make run` does.
	out, err := s.Command("pertitle", "provision").CombinedOutput()
	require.NoError(t, err, "pertitle provision: %s", out)

	services := opts.Services
	if len(services) == 0 {
		services = AllServices
	}
	for _, name := range services {
		s.StartService(name)
	}
	t.Cleanup(s.StopAll)
	return s
}

func (s *Stack) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.Bin, name), args...)
	cmd.Env = s.env
	cmd.Dir = s.Dir
	return cmd
}

func (s *Stack) URL(service, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", s.Ports[service], path)
}

// start launches a service and waits until it is ready.
func (s *Stack) StartService(name string) {
	s.t.Helper()
	logf, err := os.OpenFile(filepath.Join(s.Dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(s.t, err)
	cmd := s.Command(name)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(s.t, cmd.Start())
	s.mu.Lock()
	s.procs[name] = cmd
	s.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL(name, "/readyz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s did not become ready:\n%s", name, s.LogTail(name))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// PID returns the process id of a running service.
func (s *Stack) PID(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.procs[name]; c != nil {
		return c.Process.Pid
	}
	return 0
}

// kill9 kills a service without letting it clean up.
func (s *Stack) Kill9(name string) {
	s.mu.Lock()
	cmd := s.procs[name]
	delete(s.procs, name)
	s.mu.Unlock()
	require.NotNil(s.t, cmd)
	require.NoError(s.t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
}

// stop sends SIGTERM and returns how long the service took to exit.
func (s *Stack) Stop(name string) (time.Duration, error) {
	s.mu.Lock()
	cmd := s.procs[name]
	delete(s.procs, name)
	s.mu.Unlock()
	if cmd == nil {
		return 0, nil
	}
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return time.Since(start), err
	case <-time.After(35 * time.Second):
		_ = cmd.Process.Kill()
		return time.Since(start), fmt.Errorf("%s did not exit within 35s of SIGTERM", name)
	}
}

func (s *Stack) StopAll() {
	for _, name := range []string{"ingest", "encoder-dispatch", "webhook-receiver", "catalog"} {
		if _, err := s.Stop(name); err != nil {
			s.t.Logf("stopping %s: %v", name, err)
		}
	}
	if s.t.Failed() {
		for _, name := range []string{"ingest", "encoder-dispatch", "webhook-receiver", "catalog"} {
			s.t.Logf("---- %s log (tail) ----\n%s", name, s.LogTail(name))
		}
	}
}

func (s *Stack) LogTail(name string) string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, name+".log"))
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// asset is the catalog's view of an asset, as the API returns it.
type Asset struct {
	ID               string `json:"id"`
	Title            string `json:"title"`
	Status           string `json:"status"`
	Error            string `json:"error"`
	HLSURL           string `json:"hls_url"`
	DASHURL          string `json:"dash_url"`
	ReadyTransitions int    `json:"ready_transitions"`
	Renditions       []struct {
		Width   int    `json:"width"`
		Height  int    `json:"height"`
		Bitrate int64  `json:"bitrate"`
		Codec   string `json:"codec"`
		Bytes   int64  `json:"bytes"`
	} `json:"renditions"`
}

func (s *Stack) GetAsset(id string) (*Asset, int) {
	resp, err := http.Get(s.URL("catalog", "/v1/assets/"+id))
	require.NoError(s.t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode
	}
	var a Asset
	require.NoError(s.t, json.NewDecoder(resp.Body).Decode(&a))
	return &a, resp.StatusCode
}

// waitStatus polls the catalog until the asset has one of the statuses.
func (s *Stack) WaitStatus(id string, timeout time.Duration, statuses ...string) *Asset {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		if a, code := s.GetAsset(id); code == http.StatusOK {
			last = a.Status
			for _, st := range statuses {
				if a.Status == st {
					return a
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("asset %s did not reach %v within %s (last status %q)", id, statuses, timeout, last)
	return nil
}

// upload posts a file to ingest as a raw body.
func (s *Stack) Upload(path, title string) (int, map[string]any) {
	f, err := os.Open(path)
	require.NoError(s.t, err)
	defer f.Close()
	resp, err := http.Post(s.URL("ingest", "/v1/assets?title="+title), "video/mp4", f)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func Get(t testing.TB, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", url, b)
	return b
}

// ffprobeStreams returns width x height of the video streams ffprobe finds at url.
func FFprobeStreams(t testing.TB, url string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v",
		"-show_entries", "stream=width,height", "-of", "csv=p=0:s=x", url).CombinedOutput()
	require.NoError(t, err, "ffprobe %s: %s", url, out)
	var dims []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			dims = append(dims, l)
		}
	}
	return dims
}
