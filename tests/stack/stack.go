// Package stack runs the whole of pertitle as separate processes (goaws, the four
// services, the CLI) exactly as `make run` starts them, for end-to-end tests and
// benchmarks.
package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testenv"
	"github.com/pertitle/pertitle/pkg/bus"
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
			"./services/ingest", "./services/encoder-dispatch", "./services/webhook-receiver", "./services/catalog", "./cmd/pertitle",
			"./cmd/fakebitmovin", "./services/issuer")
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
	t     testing.TB
	Bin   string
	Dir   string
	env   []string
	Ports map[string]int
	// OpsPorts are the private ops listeners (/readyz with details, /metrics)
	// of the services and the issuer.
	OpsPorts  map[string]int
	mu        sync.Mutex
	procs     map[string]*exec.Cmd
	Prefix    string
	BusConfig bus.Config
	// S3Endpoint is the local S3 server's, when Options.Env selects PERTITLE_STORAGE=s3.
	S3Endpoint string
	// StateDB is the state database every service shares, when Options.StateDB.
	StateDB string
	extra   []string
	// WebhookSecret signs webhooks (encoder-dispatch) and verifies them (receiver).
	WebhookSecret string
	// Issuer is the OIDC issuer the services trust: the stack's own local issuer
	// (with the Users below), unless Options.Env sets PERTITLE_OIDC_ISSUER.
	Issuer string
	tokMu  sync.Mutex
	tokens map[string]cachedToken
	// services are the processes Start ran, in order.
	services []string
	pin      map[string]string
	// recorder records each service's AWS requests (Options.RecordAWS).
	recorder  *awsRecorder
	awsTarget string
	// Balancers are the round-robin proxies of Options.Replicas, by service.
	Balancers map[string]*Balancer
}

type cachedToken struct {
	token  string
	expiry time.Time
}

// Users of the stack's issuer: alice and bob, and admin in the admin group.
// Their passwords are Password(user).
var Users = map[string][]string{"alice": nil, "bob": nil, "admin": {"admin"}}

// Password is the test password of a stack user.
func Password(user string) string { return user + "-password" }

type Options struct {
	// Extra environment for every service (e.g. a slower preset).
	Env map[string]string
	// Services to start, in order (default: all four).
	Services []string
	// Ports chosen by the caller (e.g. the catalog's, which an OIDC issuer must know
	// as the web app's redirect URI before the stack starts); others are free ports.
	Ports map[string]int
	// Extra binaries (built from cmd/, e.g. fakebitmovin) started before the
	// services, each ready when /readyz answers on its port.
	Extra map[string]int
	// Workers is how many encoder-dispatch processes run (default 1). With
	// more than one they are named encoder-dispatch-1, -2, ... (Worker(i)),
	// each with its own work directory and ops port, as make run starts them.
	Workers int
	// Pin runs processes on chosen CPUs (taskset -c), by process name.
	Pin map[string]string
	// RecordAWS puts a recording proxy between each service and goaws (and
	// the S3 server): Stack.AWSCalls then lists every SNS, SQS and S3 request
	// each service made.
	RecordAWS bool
	// Postgres runs the catalog on a fresh PostgreSQL database (testenv.Postgres)
	// instead of a SQLite file: PERTITLE_CATALOG_DB is its postgres:// URL.
	Postgres bool
	// Catalogs is how many catalog processes run (default 1): "catalog", then
	// Catalog(2), ... each with its own ports, on one database (set Postgres).
	Catalogs int
	// StateDB gives every service one shared state database on a fresh
	// PostgreSQL database (PERTITLE_STATE_DB), as replicas share it.
	StateDB bool
	// Replicas runs that many processes of each of ingest, webhook-receiver
	// and catalog (Replica(service, i), each with its own listeners) behind a
	// round-robin proxy on the service's port, which is where every URL the
	// stack hands out points; and as many encoder-dispatch workers. It
	// overrides Catalogs and Workers. Set Postgres and StateDB with it.
	Replicas int
}

// Replica names process i (from 1) of a service run as Options.Replicas.
func Replica(service string, i int) string { return fmt.Sprintf("%s-%d", service, i) }

// balanced are the HTTP services Options.Replicas puts behind a proxy.
var balanced = []string{"catalog", "webhook-receiver", "ingest"}

// Catalog names catalog process i (from 2) of a stack of several; the first is "catalog".
func Catalog(i int) string { return fmt.Sprintf("catalog-%d", i) }

// Worker names encoder-dispatch process i (from 1) of a stack of several.
func Worker(i int) string { return fmt.Sprintf("encoder-dispatch-%d", i) }

// binary is the program a process of the stack runs: a replica's name is its
// service's and a number.
func binary(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 && slices.Contains(AllServices, name[:i]) {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			return name[:i]
		}
	}
	return name
}

// listenVars are the variables of a service's public and ops listeners.
var listenVars = map[string][2]string{
	"catalog":          {"PERTITLE_CATALOG_ADDR", "PERTITLE_CATALOG_OPS_ADDR"},
	"ingest":           {"PERTITLE_INGEST_ADDR", "PERTITLE_INGEST_OPS_ADDR"},
	"webhook-receiver": {"PERTITLE_WEBHOOK_ADDR", "PERTITLE_WEBHOOK_OPS_ADDR"},
	"encoder-dispatch": {"", "PERTITLE_DISPATCH_OPS_ADDR"},
}

// AllServices is every service, in the order they start.
var AllServices = []string{"catalog", "webhook-receiver", "encoder-dispatch", "ingest"}

func Start(t testing.TB, opts Options) *Stack {
	t.Helper()
	bin := Binaries(t)
	endpoint := testenv.Goaws(t)
	dir := t.TempDir()
	// PERTITLE_E2E_KEEP=<dir> keeps each stack's logs and storage there
	// for a post-mortem, instead of a directory removed with the test.
	if keep := os.Getenv("PERTITLE_E2E_KEEP"); keep != "" {
		dir, _ = os.MkdirTemp(keep, "stack-")
	}
	s := &Stack{t: t, Bin: bin, Dir: dir, procs: map[string]*exec.Cmd{}, Ports: map[string]int{
		"catalog": testenv.FreePort(t), "ingest": testenv.FreePort(t), "webhook-receiver": testenv.FreePort(t),
	}, OpsPorts: map[string]int{}, Balancers: map[string]*Balancer{}}
	services := opts.Services
	if len(services) == 0 {
		services = AllServices
	}
	for name, port := range opts.Ports {
		s.Ports[name] = port
	}
	if opts.Replicas > 1 {
		services = s.replicate(t, services, opts.Replicas)
	}
	if opts.Workers > 1 && opts.Replicas <= 1 {
		var ws []string
		for _, name := range services {
			if name != "encoder-dispatch" {
				ws = append(ws, name)
				continue
			}
			for i := 1; i <= opts.Workers; i++ {
				ws = append(ws, Worker(i))
			}
		}
		services = ws
	}
	if opts.Catalogs > 1 && opts.Replicas <= 1 {
		var cs []string
		for _, name := range services {
			cs = append(cs, name)
			if name == "catalog" {
				for i := 2; i <= opts.Catalogs; i++ {
					cs = append(cs, Catalog(i))
					s.Ports[Catalog(i)] = testenv.FreePort(t)
				}
			}
		}
		services = cs
	}
	s.services, s.pin = services, opts.Pin
	for _, name := range append([]string{"issuer"}, services...) {
		s.OpsPorts[name] = testenv.FreePort(t)
	}
	s.Prefix = fmt.Sprintf("e2e%d-", time.Now().UnixNano()%1_000_000)
	vars := map[string]string{
		"PERTITLE_AWS_ENDPOINT":           endpoint,
		"PERTITLE_AWS_REGION":             "us-east-1",
		"PERTITLE_AWS_ACCOUNT_ID":         "000000000000",
		"PERTITLE_BUS_PREFIX":             s.Prefix,
		"PERTITLE_BUS_VISIBILITY_TIMEOUT": "6s",
		"PERTITLE_BUS_WAIT_TIME":          "2s",
		"PERTITLE_BUS_MAX_RECEIVES":       "5",
		"PERTITLE_STORAGE_DIR":            filepath.Join(dir, "storage"),
		"PERTITLE_CATALOG_DB":             filepath.Join(dir, "catalog.db"),
		"PERTITLE_WORK_DIR":               filepath.Join(dir, "work"),
		"PERTITLE_CATALOG_ADDR":           fmt.Sprintf("127.0.0.1:%d", s.Ports["catalog"]),
		"PERTITLE_INGEST_ADDR":            fmt.Sprintf("127.0.0.1:%d", s.Ports["ingest"]),
		"PERTITLE_WEBHOOK_ADDR":           fmt.Sprintf("127.0.0.1:%d", s.Ports["webhook-receiver"]),
		"PERTITLE_CATALOG_OPS_ADDR":       fmt.Sprintf("127.0.0.1:%d", s.OpsPorts["catalog"]),
		"PERTITLE_INGEST_OPS_ADDR":        fmt.Sprintf("127.0.0.1:%d", s.OpsPorts["ingest"]),
		"PERTITLE_WEBHOOK_OPS_ADDR":       fmt.Sprintf("127.0.0.1:%d", s.OpsPorts["webhook-receiver"]),
		"PERTITLE_DISPATCH_OPS_ADDR":      fmt.Sprintf("127.0.0.1:%d", s.OpsPorts["encoder-dispatch"]),
		"PERTITLE_ISSUER_OPS_ADDR":        fmt.Sprintf("127.0.0.1:%d", s.OpsPorts["issuer"]),
		"PERTITLE_MEDIA_BASE_URL":         fmt.Sprintf("http://127.0.0.1:%d/media/", s.Ports["catalog"]),
		"PERTITLE_WEBHOOK_URL":            fmt.Sprintf("http://127.0.0.1:%d/webhooks/bitmovin", s.Ports["webhook-receiver"]),
		"PERTITLE_WEBHOOK_PUBLIC_URL":     fmt.Sprintf("http://127.0.0.1:%d/webhooks/bitmovin", s.Ports["webhook-receiver"]),
		"PERTITLE_CATALOG_URL":            fmt.Sprintf("http://127.0.0.1:%d", s.Ports["catalog"]),
		"PERTITLE_INGEST_URL":             fmt.Sprintf("http://127.0.0.1:%d", s.Ports["ingest"]),
		// A fresh secret, and no PERTITLE_DEV_MODE: the stack runs as production does.
		"PERTITLE_BITMOVIN_WEBHOOK_SECRET": testSecret(),
		"PERTITLE_MEDIA_SIGNING_KEY":       testSecret(),
		"PERTITLE_PROGRESS_EVERY":          "500ms",
		"PERTITLE_LOG_LEVEL":               "debug",
	}
	if opts.Postgres {
		vars["PERTITLE_CATALOG_DB"] = testenv.Postgres(t)
	}
	vars["PERTITLE_INGEST_DB"] = filepath.Join(dir, "ingest.db")
	if opts.StateDB {
		s.StateDB = testenv.Postgres(t)
		vars["PERTITLE_STATE_DB"] = s.StateDB
		vars["PERTITLE_INGEST_DB"] = s.StateDB // upload sessions too, as replicas would share them
	}
	if opts.Env["PERTITLE_STORAGE"] == "s3" {
		// A local S3 server with the default buckets, unless the test points elsewhere.
		s.S3Endpoint = testenv.S3(t, "pertitle-input", "pertitle-output")
		vars["PERTITLE_S3_ENDPOINT"] = s.S3Endpoint
	}
	// The stack's own OIDC issuer, unless the test brings one.
	ownIssuer := opts.Env["PERTITLE_OIDC_ISSUER"] == ""
	if ownIssuer {
		if s.Ports["issuer"] == 0 {
			s.Ports["issuer"] = testenv.FreePort(t)
		}
		s.Issuer = fmt.Sprintf("http://127.0.0.1:%d", s.Ports["issuer"])
		vars["PERTITLE_ISSUER_ADDR"] = fmt.Sprintf("127.0.0.1:%d", s.Ports["issuer"])
		vars["PERTITLE_ISSUER_URL"] = s.Issuer
		vars["PERTITLE_ISSUER_USERS"] = filepath.Join(dir, "users.json")
		vars["PERTITLE_ISSUER_KEY"] = filepath.Join(dir, "issuer-key.pem")
		vars["PERTITLE_ISSUER_DB"] = filepath.Join(dir, "issuer.db")
		vars["PERTITLE_ISSUER_WEB_REDIRECT_URIS"] = fmt.Sprintf("http://127.0.0.1:%d/", s.Ports["catalog"])
		vars["PERTITLE_OIDC_ISSUER"] = s.Issuer
	} else {
		s.Issuer = opts.Env["PERTITLE_OIDC_ISSUER"]
	}
	vars["PERTITLE_OIDC_AUDIENCE"] = "pertitle"
	// The CLI keeps its token under the stack's directory, not the user's.
	vars["XDG_CONFIG_HOME"] = filepath.Join(dir, "config")
	vars["HOME"] = filepath.Join(dir, "home")
	for k, v := range opts.Env {
		vars[k] = v
	}
	s.WebhookSecret = vars["PERTITLE_BITMOVIN_WEBHOOK_SECRET"]
	if opts.RecordAWS {
		s.awsTarget = endpoint
		s.recorder = &awsRecorder{prefix: s.Prefix, buckets: map[string]string{
			vars["PERTITLE_S3_INPUT_BUCKET"]: "input", vars["PERTITLE_S3_OUTPUT_BUCKET"]: "output",
			"pertitle-input": "input", "pertitle-output": "output"}}
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

	if ownIssuer {
		for user, groups := range Users {
			add := s.Command("issuer", "add-user", user, "--cost", "4", "--groups", strings.Join(groups, ","))
			add.Stdin = strings.NewReader(Password(user) + "\n")
			out, err := add.CombinedOutput()
			require.NoError(t, err, "issuer add-user %s: %s", user, out)
		}
		s.extra = append(s.extra, "issuer")
		s.StartService("issuer")
	}
	for name, port := range opts.Extra {
		s.Ports[name] = port
		s.extra = append(s.extra, name)
		s.StartService(name)
	}
	for _, name := range services {
		s.StartService(name)
	}
	t.Cleanup(s.StopAll)
	return s
}

// Metric sums the samples of a Prometheus counter or gauge that service
// exposes, over the series whose labels include every one of labels
// ("outcome=\"dead_letter\"").
func (s *Stack) Metric(service, name string, labels ...string) float64 {
	resp, err := http.Get(s.OpsURL(service, "/metrics"))
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(line, l)
		}
		if f := strings.Fields(line); match && len(f) >= 2 {
			if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
				sum += v
			}
		}
	}
	return sum
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

// OpsURL is a URL on a service's ops listener (readiness details, metrics).
func (s *Stack) OpsURL(service, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", s.OpsPorts[service], path)
}

func testSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// readyURL is where a process tells it is ready: the ops listener's /readyz for
// pertitle's own, the public /readyz for extras (fakebitmovin).
func (s *Stack) readyURL(name string) string {
	if _, ok := s.OpsPorts[name]; ok {
		return s.OpsURL(name, "/readyz")
	}
	return s.URL(name, "/readyz")
}

// start launches a service and waits until it is ready.
func (s *Stack) StartService(name string) {
	s.t.Helper()
	logf, err := os.OpenFile(filepath.Join(s.Dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(s.t, err)
	cmd := s.Command(binary(name))
	if cpus := s.pin[name]; cpus != "" {
		// taskset execs the service in its own place: same pid, same signals.
		cmd.Args = append([]string{"taskset", "-c", cpus}, cmd.Args...)
		cmd.Path, err = exec.LookPath("taskset")
		require.NoError(s.t, err)
	}
	if service := binary(name); service != name {
		// A replica: its own listeners and local directories; the same
		// databases, buckets and queues.
		vars := listenVars[service]
		if vars[0] != "" {
			cmd.Env = append(cmd.Env, fmt.Sprintf("%s=127.0.0.1:%d", vars[0], s.Ports[name]))
		}
		cmd.Env = append(cmd.Env, fmt.Sprintf("%s=127.0.0.1:%d", vars[1], s.OpsPorts[name]))
		switch service {
		case "encoder-dispatch":
			cmd.Env = append(cmd.Env, "PERTITLE_WORK_DIR="+filepath.Join(s.Dir, "work-"+name))
		case "ingest":
			cmd.Env = append(cmd.Env, "PERTITLE_INGEST_STAGING_DIR="+filepath.Join(s.Dir, "staging-"+name))
		}
	}
	if s.recorder != nil && !slices.Contains(s.extra, name) {
		// Its own proxies: whatever it calls is recorded as its own.
		cmd.Env = append(cmd.Env, "PERTITLE_AWS_ENDPOINT="+s.recorder.proxy(s.t, binary(name), "bus", s.awsTarget))
		if s.S3Endpoint != "" {
			cmd.Env = append(cmd.Env, "PERTITLE_S3_ENDPOINT="+s.recorder.proxy(s.t, binary(name), "s3", s.S3Endpoint))
		}
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(s.t, cmd.Start())
	s.mu.Lock()
	s.procs[name] = cmd
	s.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	last := ""
	for {
		resp, err := http.Get(s.readyURL(name))
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = string(b)
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s did not become ready (last readiness: %s):\n%s", name, last, s.LogTail(name))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// CPU is the user+system CPU time a running service and the children it
// waited for (its ffmpeg processes) have used so far.
func (s *Stack) CPU(name string) time.Duration {
	s.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.PID(name)))
	require.NoError(s.t, err)
	// Fields after the command name (which may hold spaces) in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	var ticks int64
	for _, i := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
		n, err := strconv.ParseInt(f[i], 10, 64)
		require.NoError(s.t, err)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
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
	for i := len(s.services) - 1; i >= 0; i-- {
		name := s.services[i]
		if _, err := s.Stop(name); err != nil {
			s.t.Logf("stopping %s: %v", name, err)
		}
	}
	for _, name := range s.extra {
		if _, err := s.Stop(name); err != nil {
			s.t.Logf("stopping %s: %v", name, err)
		}
	}
	if s.t.Failed() {
		for _, name := range append(append([]string(nil), s.services...), s.extra...) {
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
	LadderMode       string `json:"ladder_mode"`
	Renditions       []struct {
		Width   int    `json:"width"`
		Height  int    `json:"height"`
		Bitrate int64  `json:"bitrate"`
		Codec   string `json:"codec"`
		Bytes   int64  `json:"bytes"`
	} `json:"renditions"`
}

// Token is a valid access token of a stack user (password grant of the issuer),
// cached until a minute before it expires.
func (s *Stack) Token(user string) string {
	s.t.Helper()
	s.tokMu.Lock()
	defer s.tokMu.Unlock()
	if c, ok := s.tokens[user]; ok && time.Until(c.expiry) > time.Minute {
		return c.token
	}
	resp, err := http.PostForm(s.Issuer+"/token", url.Values{"grant_type": {"password"}, "client_id": {"pertitle-cli"},
		"username": {user}, "password": {Password(user)}, "scope": {"openid"}})
	require.NoError(s.t, err)
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		Error       string `json:"error"`
	}
	require.NoError(s.t, json.NewDecoder(resp.Body).Decode(&body))
	require.NotEmpty(s.t, body.AccessToken, "token for %s: %s", user, body.Error)
	if s.tokens == nil {
		s.tokens = map[string]cachedToken{}
	}
	s.tokens[user] = cachedToken{body.AccessToken, time.Now().Add(time.Duration(body.ExpiresIn) * time.Second)}
	return body.AccessToken
}

// LoginCLI signs the stack's CLI in as user (`pertitle login --password-stdin`);
// its token is saved under the stack's XDG_CONFIG_HOME.
func (s *Stack) LoginCLI(user string) {
	s.t.Helper()
	cmd := s.Command("pertitle", "login", "--username", user, "--password-stdin")
	cmd.Stdin = strings.NewReader(Password(user) + "\n")
	out, err := cmd.CombinedOutput()
	require.NoError(s.t, err, "pertitle login: %s", out)
}

// GetAs GETs url with user's token (user "" sends none) and returns the status and body.
func (s *Stack) GetAs(user, u string) (int, []byte) {
	s.t.Helper()
	return s.Do(user, http.MethodGet, u)
}

// GetAsset reads an asset as admin, who sees every user's.
func (s *Stack) GetAsset(id string) (*Asset, int) {
	return s.GetAssetAs("admin", id)
}

// GetAssetAs reads an asset as user.
func (s *Stack) GetAssetAs(user, id string) (*Asset, int) {
	req, err := http.NewRequest(http.MethodGet, s.URL("catalog", "/v1/assets/"+id), nil)
	require.NoError(s.t, err)
	req.Header.Set("Authorization", "Bearer "+s.Token(user))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode
	}
	var a Asset
	require.NoError(s.t, json.NewDecoder(resp.Body).Decode(&a))
	return &a, resp.StatusCode
}

// WaitStatus polls the catalog until the asset has one of the statuses.
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

// Upload posts a file to ingest as a raw body, as alice.
func (s *Stack) Upload(path, title string) (int, map[string]any) {
	return s.UploadAs("alice", path, title)
}

// UploadAs posts a file to ingest as user ("" sends no token).
func (s *Stack) UploadAs(user, path, title string) (int, map[string]any) {
	f, err := os.Open(path)
	require.NoError(s.t, err)
	defer f.Close()
	req, err := http.NewRequest(http.MethodPost, s.URL("ingest", "/v1/assets?title="+url.QueryEscape(title)), f)
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "video/mp4")
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token(user))
	}
	resp, err := http.DefaultClient.Do(req)
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

// FFprobeStreams returns width x height of the video streams ffprobe finds at url.
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

// SetEnv sets an environment variable of the processes started from now on
// (StartService after Stop: a service restarted with another setting).
func (s *Stack) SetEnv(key, value string) {
	s.env = append(s.env, key+"="+value) // the last one wins
}

// Do sends method to u with user's token (user "" sends none) and returns the
// status and body.
func (s *Stack) Do(user, method, u string) (int, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(method, u, nil)
	require.NoError(s.t, err)
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token(user))
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return resp.StatusCode, b
}
