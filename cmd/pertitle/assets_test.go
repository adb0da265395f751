package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/apitest"
	"github.com/pertitle/pertitle/pkg/problem"
)

// TestHelpExitsZero: -h and --help print usage on stdout and succeed, on
// every command and every assets subcommand, and do nothing else.
func TestHelpExitsZero(t *testing.T) {
	t.Setenv("PERTITLE_TOKEN", "") // no command may reach for a token
	var cmds [][]string
	for _, c := range commandNames {
		cmds = append(cmds, []string{c})
	}
	for _, c := range assetCommands {
		cmds = append(cmds, []string{"assets", c})
	}
	for _, cmd := range cmds {
		for _, h := range []string{"-h", "--help"} {
			var out, errb bytes.Buffer
			err := run(context.Background(), append(append([]string{}, cmd...), h), &out, &errb)
			require.NoError(t, err, "%v %s: %s", cmd, h, errb.String())
			assert.Contains(t, strings.ToLower(out.String()), "usage", "%v %s prints its usage on stdout", cmd, h)
		}
	}
}

// fakeCatalog serves the catalog's asset routes from a map, every exchange
// checked against api/openapi.yaml.
type fakeCatalog struct {
	mu      sync.Mutex
	assets  map[string]map[string]any
	retries int
}

func (f *fakeCatalog) handler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/assets", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		list := []map[string]any{}
		for _, a := range f.assets {
			if s := r.URL.Query().Get("status"); s == "" || a["status"] == s {
				list = append(list, a)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"assets": list, "next_cursor": ""})
	})
	mux.HandleFunc("GET /v1/assets/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		a, ok := f.assets[r.PathValue("id")]
		if !ok {
			problem.Write(w, http.StatusNotFound, problem.NotFound, "asset not found")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(a)
	})
	mux.HandleFunc("DELETE /v1/assets/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.assets[r.PathValue("id")]; !ok {
			problem.Write(w, http.StatusNotFound, problem.NotFound, "asset not found")
			return
		}
		delete(f.assets, r.PathValue("id"))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /v1/assets/{id}/retry", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		a, ok := f.assets[r.PathValue("id")]
		if !ok || a["status"] != "failed" {
			problem.Write(w, http.StatusConflict, problem.AssetNotFailed, "only a failed asset can be retried")
			return
		}
		f.retries++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]any{"id": a["id"], "attempt": 2, "request_id": "r2", "job_id": "local-2"})
	})
	return apitest.Validate(t, apitest.Requests, mux)
}

func fakeAsset(id, status, title string) map[string]any {
	return map[string]any{"id": id, "title": title, "owner": "alice", "status": status, "retryable": status == "failed",
		"renditions": []any{}, "duration_seconds": 10.0, "width": 640, "height": 360, "source_bytes": 1000,
		"created_at": time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), "updated_at": time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC),
		"ready_transitions": 0}
}

func TestAssetsCommands(t *testing.T) {
	f := &fakeCatalog{assets: map[string]map[string]any{
		"a1": fakeAsset("a1", "ready", "First"), "a2": fakeAsset("a2", "failed", "Second"),
	}}
	srv := httptest.NewServer(f.handler(t))
	defer srv.Close()
	t.Setenv("PERTITLE_CATALOG_URL", srv.URL)
	t.Setenv("PERTITLE_TOKEN", "test-token")
	pertitle := func(args ...string) (string, string, error) {
		var out, errb bytes.Buffer
		err := run(context.Background(), args, &out, &errb)
		return out.String(), errb.String(), err
	}

	out, _, err := pertitle("assets", "list", "--status", "failed")
	require.NoError(t, err)
	assert.Contains(t, out, "a2")
	assert.Contains(t, out, "Second")
	assert.NotContains(t, out, "a1")

	out, _, err = pertitle("assets", "list", "--json")
	require.NoError(t, err)
	var all []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &all))
	assert.Len(t, all, 2)

	out, _, err = pertitle("assets", "get", "a1")
	require.NoError(t, err)
	assert.Contains(t, out, "status: ready")

	_, errOut, err := pertitle("assets", "retry", "a2")
	require.NoError(t, err)
	assert.Contains(t, errOut, "attempt 2")
	assert.Equal(t, 1, f.retries)

	_, _, err = pertitle("assets", "retry", "a1")
	require.ErrorContains(t, err, "only a failed asset can be retried", "the problem's detail reaches the user")

	_, errOut, err = pertitle("assets", "delete", "a1")
	require.NoError(t, err)
	assert.Contains(t, errOut, "deleted a1")
	_, _, err = pertitle("assets", "get", "a1")
	require.ErrorContains(t, err, "asset not found")

	_, _, err = pertitle("assets", "get")
	var ee exitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 2, ee.code, "a missing id is a usage error")
	_, _, err = pertitle("assets", "frobnicate")
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 2, ee.code)
}

func TestCompletionScripts(t *testing.T) {
	t.Parallel()
	for _, sh := range []string{"bash", "zsh", "fish"} {
		var out bytes.Buffer
		require.NoError(t, run(context.Background(), []string{"completion", sh}, &out, &out))
		for _, word := range append(append([]string{}, commandNames...), assetCommands...) {
			assert.Contains(t, out.String(), word, "%s completes %s", sh, word)
		}
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{"completion", "tcsh"}, &out, &out)
	var ee exitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 2, ee.code)
}

func TestProgressBar(t *testing.T) {
	t.Parallel()
	var plain bytes.Buffer
	now := time.Unix(0, 0)
	b := newBar(&plain, "uploading")
	b.now = func() time.Time { return now }
	for p := 0.0; p <= 100; p += 2.5 {
		b.set(p, "")
	}
	lines := strings.Split(strings.TrimSpace(plain.String()), "\n")
	assert.Len(t, lines, 11, "not a terminal: a line per 10%%: %q", lines)
	assert.NotContains(t, plain.String(), "\r")
	now = now.Add(6 * time.Second)
	b.set(100, "")
	assert.Len(t, strings.Split(strings.TrimSpace(plain.String()), "\n"), 12, "and one every 5 s when stuck")

	var tty bytes.Buffer
	b = newBar(&tty, "encoding")
	b.tty = true
	b.set(50, "2 of 4 chunks")
	b.done()
	assert.Equal(t, "\r\033[Kencoding [===============               ]  50.0% 2 of 4 chunks\n", tty.String())
}
