package testenv_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/testenv"
)

func TestRepoRoot(t *testing.T) {
	root := testenv.RepoRoot(t)
	require.FileExists(t, root+"/go.work")
}

func TestFreePort(t *testing.T) {
	p := testenv.FreePort(t)
	require.Greater(t, p, 0)
	require.Less(t, p, 65536)
}

func TestGoaws(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a goaws process")
	}
	endpoint := testenv.Goaws(t)
	require.True(t, strings.HasPrefix(endpoint, "http://127.0.0.1:"))
	resp, err := http.Post(endpoint+"/", "application/x-www-form-urlencoded",
		strings.NewReader("Action=ListTopics&Version=2010-03-31"))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
