package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/problem"
	"github.com/pertitle/pertitle/tests/stack"
)

// TestRetryThenDelete: an encode that runs past its deadline fails; once the
// dispatcher may take its time, `pertitle assets retry --wait` encodes the
// asset again (attempt 2, a new job) to ready; `pertitle assets delete`
// removes it from the catalog and its source and outputs from storage, and
// the API refuses what no longer applies with problem details.
func TestRetryThenDelete(t *testing.T) {
	skipShort(t)
	t.Parallel()
	s := stack.Start(t, stack.Options{Env: map[string]string{
		"PERTITLE_LADDER_MODE": "fixed", "PERTITLE_X264_PRESET": "slower",
		// Every job gets 1 s: this one cannot make it.
		"PERTITLE_ENCODE_DEADLINE_BASE": "1s", "PERTITLE_ENCODE_MAX_DEADLINE": "1s",
	}})
	clip := testmedia.Clip(t, testmedia.Spec{Width: 640, Height: 360, Seconds: 6, FPS: 25, Audio: true})
	code, up := s.Upload(clip, "Retry me")
	require.Equal(t, http.StatusAccepted, code, up)
	id := up["id"].(string)
	failed := s.WaitStatus(id, 3*time.Minute, "failed")
	assert.Contains(t, failed.Error, "deadline")

	// Before the retry: another user's asset is not found, and a ready one is refused.
	assertProblem(t, s, "bob", http.MethodPost, "/v1/assets/"+id+"/retry", http.StatusNotFound, problem.NotFound)
	assertProblem(t, s, "alice", http.MethodPost, "/v1/assets/.hidden/retry", http.StatusBadRequest, problem.InvalidID)

	_, err := s.Stop("encoder-dispatch")
	require.NoError(t, err)
	s.SetEnv("PERTITLE_ENCODE_DEADLINE_BASE", "10m")
	s.SetEnv("PERTITLE_ENCODE_MAX_DEADLINE", "1h")
	s.StartService("encoder-dispatch")

	s.LoginCLI("alice")
	cmd := s.Command("pertitle", "assets", "retry", id, "--wait", "--json", "--timeout", "4m")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "pertitle assets retry: %s", stderr.String())
	assert.Contains(t, stderr.String(), "attempt 2")
	var ready stack.Asset
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &ready), stdout.String())
	assert.Equal(t, "ready", ready.Status)
	require.NotEmpty(t, ready.Renditions)
	assertProblem(t, s, "alice", http.MethodPost, "/v1/assets/"+id+"/retry", http.StatusConflict, problem.AssetNotFailed)

	storage := filepath.Join(s.Dir, "storage")
	for _, dir := range []string{"sources/" + id, "outputs/" + id} {
		_, err := os.Stat(filepath.Join(storage, dir))
		require.NoError(t, err, "%s exists before the deletion", dir)
	}
	assertProblem(t, s, "bob", http.MethodDelete, "/v1/assets/"+id, http.StatusNotFound, problem.NotFound)
	out, err := s.Command("pertitle", "assets", "delete", id).CombinedOutput()
	require.NoError(t, err, "pertitle assets delete: %s", out)
	_, got := s.GetAssetAs("alice", id)
	assert.Equal(t, http.StatusNotFound, got)
	assertProblem(t, s, "alice", http.MethodDelete, "/v1/assets/"+id, http.StatusNotFound, problem.NotFound)
	assert.Eventually(t, func() bool {
		for _, dir := range []string{"sources/" + id, "outputs/" + id} {
			if entries, err := os.ReadDir(filepath.Join(storage, dir)); err == nil && len(entries) > 0 {
				return false
			}
		}
		return true
	}, 30*time.Second, 200*time.Millisecond, "the catalog removes the deleted asset's source and outputs")

	list, err := s.Command("pertitle", "assets", "list", "--json").Output()
	require.NoError(t, err)
	assert.JSONEq(t, "[]", string(list))
}

func assertProblem(t *testing.T, s *stack.Stack, user, method, path string, status int, want problem.Type) {
	t.Helper()
	code, body := s.Do(user, method, s.URL("catalog", path))
	require.Equal(t, status, code, "%s %s as %s: %s", method, path, user, body)
	var p problem.Details
	require.NoError(t, json.Unmarshal(body, &p), string(body))
	assert.Equal(t, want.URI, p.Type, "%s %s as %s", method, path, user)
}
