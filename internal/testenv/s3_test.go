package testenv_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testenv"
)

func TestS3(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an s3server process")
	}
	t.Parallel()
	endpoint := testenv.S3(t, "alpha", "beta")
	require.True(t, strings.HasPrefix(endpoint, "http://127.0.0.1:"))
	resp, err := http.Get(endpoint + "/")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "<Name>alpha</Name>", "buckets are created at start")
	assert.Contains(t, string(body), "<Name>beta</Name>")
}
