package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testenv"
	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/tests/stack"
)

// TestBitmovinBackendUploadToReady runs the stack with PERTITLE_ENCODER_BACKEND=bitmovin
// against cmd/fakebitmovin: upload through ingest, dispatch creates and starts the
// per-title encoding on the fake, the fake fires the signed webhook, the receiver
// resolves the encoding through the API and the catalog shows the asset ready with
// its manifest URLs. It checks the control flow, not media: the fake writes none.
func TestBitmovinBackendUploadToReady(t *testing.T) {
	skipShort(t)
	t.Parallel()
	fakePort := testenv.FreePort(t)
	apiURL := fmt.Sprintf("http://127.0.0.1:%d/v1", fakePort)
	s := stack.Start(t, stack.Options{
		Extra: map[string]int{"fakebitmovin": fakePort},
		// The stack points PERTITLE_WEBHOOK_PUBLIC_URL at its webhook-receiver.
		Env: map[string]string{
			"PERTITLE_ENCODER_BACKEND":           "bitmovin",
			"PERTITLE_FAKEBITMOVIN_ADDR":         fmt.Sprintf("127.0.0.1:%d", fakePort),
			"PERTITLE_FAKEBITMOVIN_FINISH_AFTER": "1s",
			"PERTITLE_BITMOVIN_API_URL":          apiURL,
			"PERTITLE_BITMOVIN_API_KEY":          "e2e-api-key",
			"PERTITLE_BITMOVIN_INPUT_ID":         "e2e-input",
			"PERTITLE_BITMOVIN_OUTPUT_ID":        "e2e-output",
		},
	})
	clip := testmedia.Clip(t, testmedia.Spec{Width: 640, Height: 360, Seconds: 2, FPS: 25, Audio: true})
	code, body := s.Upload(clip, "bitmovin")
	require.Equal(t, http.StatusAccepted, code, "%v", body)
	id, _ := body["id"].(string)
	require.NotEmpty(t, id)

	a := s.WaitStatus(id, 90*time.Second, "ready", "failed")
	require.Equal(t, "ready", a.Status, a.Error)
	assert.True(t, strings.HasSuffix(a.HLSURL, "/master.m3u8"), a.HLSURL)
	assert.True(t, strings.HasSuffix(a.DASHURL, "/manifest.mpd"), a.DASHURL)
	assert.Contains(t, a.HLSURL, "/outputs/"+id+"/")
	require.Len(t, a.Renditions, 3, "the fake's per-title result")
	for _, r := range a.Renditions {
		assert.Equal(t, "h264", r.Codec)
		assert.Positive(t, r.Bitrate)
	}
	assert.Contains(t, s.LogTail("encoder-dispatch"), "bitmovin encoding started")
	assert.NotContains(t, s.LogTail("encoder-dispatch"), "e2e-api-key")
	assert.NotContains(t, s.LogTail("webhook-receiver"), "e2e-api-key")
}
