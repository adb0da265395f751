// Package testenv starts the external processes integration tests need.
package testenv

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// GoawsVersion is the goaws release the tests run against.
const GoawsVersion = "v0.5.4"

// Goaws region and account, as written into its configuration.
const (
	GoawsRegion    = "us-east-1"
	GoawsAccountID = "000000000000"
)

// RepoRoot returns the directory holding go.work (or go.mod), walking up from the
// working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	var modDir string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d
		}
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil && modDir == "" {
			modDir = d
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if modDir == "" {
		t.Fatalf("testenv: no go.work or go.mod above %s", dir)
	}
	return modDir
}

var (
	portsMu sync.Mutex
	ports   = map[int]bool{}
)

// FreePort returns a TCP port free on the loopback interface right now and never
// handed out before in this process: the kernel may offer a just-closed port
// again, and two services of one test stack must not be given the same one.
//
// The port is drawn at random below the kernel's ephemeral range (Linux's
// default starts at 32768): a port the kernel hands out (":0" here, or the
// local end of any outgoing connection in another test process running
// beside this one) comes from that range, and one taken from it could be
// given to someone else before the service binds it, which failed a browser
// test with "address already in use". Only when 200 draws find nothing free
// does it fall back to the kernel's choice.
func FreePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for i := 0; i < 200; i++ {
		p := lowPortMin + rand.IntN(lowPortMax-lowPortMin)
		if ports[p] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		_ = l.Close()
		ports[p] = true
		return p
	}
	for i := 0; i < 100; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testenv: no free port: %v", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !ports[p] {
			ports[p] = true
			return p
		}
	}
	t.Fatalf("testenv: no unused free port after 100 tries")
	return 0
}

// FreePort draws from [lowPortMin, lowPortMax): above the well-known and
// commonly configured ports, below the ephemeral range.
const (
	lowPortMin = 20000
	lowPortMax = 32000
)

var buildOnce sync.Once

// GoawsBin returns the goaws binary: $PERTITLE_GOAWS_BIN, else <repo>/bin/goaws,
// built there with `go install` on first use.
func GoawsBin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("PERTITLE_GOAWS_BIN"); p != "" {
		return p
	}
	root := RepoRoot(t)
	bin := filepath.Join(root, "bin", "goaws")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	var buildErr error
	buildOnce.Do(func() { buildErr = buildGoaws(root, bin) })
	if buildErr != nil {
		t.Fatalf("testenv: cannot build goaws: %v", buildErr)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("testenv: goaws missing after build: %v", err)
	}
	return bin
}

// buildGoaws installs goaws into a private directory, then renames the binary into
// place atomically, under a file lock so that test binaries of several packages do
// not race.
func buildGoaws(root, bin string) error {
	dir := filepath.Dir(bin)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".goaws.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	if _, err := os.Stat(bin); err == nil {
		return nil // another process built it while we waited
	}
	tmp, err := os.MkdirTemp(dir, ".goaws-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "install", "github.com/Admiral-Piett/goaws/app/cmd@"+GoawsVersion)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go install goaws %s: %w\n%s", GoawsVersion, err, out.String())
	}
	return os.Rename(filepath.Join(tmp, "cmd"), bin)
}

const goawsConfig = `Local:
  Host: 127.0.0.1
  Port: "%d"
  Region: %s
  AccountId: "%s"
  LogToFile: false
  EnableDuplicates: false
  QueueAttributeDefaults:
    VisibilityTimeout: 30
    ReceiveMessageWaitTimeSeconds: 20
    MaximumMessageSize: 262144
  Queues: []
  Topics: []
  RandomLatency:
    Min: 0
    Max: 0
`

// Goaws starts a goaws emulator on a free loopback port for the test and returns
// its endpoint (http://127.0.0.1:PORT). It is killed when the test ends. Its
// region and account are GoawsRegion and GoawsAccountID.
func Goaws(t testing.TB) (endpoint string) {
	t.Helper()
	dir := t.TempDir()
	return server{
		name: "goaws",
		bin:  GoawsBin(t),
		dir:  dir,
		args: func(port int) []string {
			conf := filepath.Join(dir, fmt.Sprintf("goaws-%d.yaml", port))
			if err := os.WriteFile(conf, []byte(fmt.Sprintf(goawsConfig, port, GoawsRegion, GoawsAccountID)), 0o644); err != nil {
				t.Fatalf("testenv: %v", err)
			}
			return []string{"-config", conf, "-loglevel", "warn", "Local"}
		},
		probe: func(c *http.Client, endpoint string) (*http.Response, error) {
			return c.Post(endpoint+"/", "application/x-www-form-urlencoded",
				strings.NewReader("Action=ListQueues&Version=2012-11-05"))
		},
	}.start(t)
}
