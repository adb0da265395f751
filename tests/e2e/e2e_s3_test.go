package e2e

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testmedia"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/tests/stack"
)

// TestS3ObjectToReady runs the AWS-shaped path with S3 storage: a video put into
// the input bucket plus its ObjectCreated notification (delivered twice) becomes
// one ready asset, whose outputs are in the output bucket and whose manifests the
// catalog serves from there.
func TestS3ObjectToReady(t *testing.T) {
	skipShort(t)
	t.Parallel()
	s := stack.Start(t, stack.Options{Env: map[string]string{"PERTITLE_STORAGE": "s3"}})
	require.NotEmpty(t, s.S3Endpoint)
	ctx := context.Background()
	store, err := storage.NewS3(ctx, storage.S3Config{Endpoint: s.S3Endpoint, InputBucket: "pertitle-input", OutputBucket: "pertitle-output"})
	require.NoError(t, err)

	clip := testmedia.Clip(t, testmedia.Spec{Width: 640, Height: 360, Seconds: 3, FPS: 25, Audio: true})
	fh, err := os.Open(clip)
	require.NoError(t, err)
	defer fh.Close()
	st, _ := fh.Stat()
	const key = "uploads/alice/Holiday ✓.mp4"
	_, err = store.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("pertitle-input"), Key: aws.String(key),
		Body: fh, ContentLength: aws.Int64(st.Size()), Metadata: map[string]string{"title": "E2E S3 clip"}})
	require.NoError(t, err)

	// The local bridge publishes what S3 would; twice, as SNS/SQS may deliver it.
	for i := 0; i < 2; i++ {
		out, err := s.Command("pertitle", "s3-notify", key).CombinedOutput()
		require.NoError(t, err, "pertitle s3-notify: %s", out)
	}

	var id string
	require.Eventually(t, func() bool {
		var list struct {
			Assets []stack.Asset `json:"assets"`
		}
		_, body := s.GetAs("admin", s.URL("catalog", "/v1/assets")) // S3 objects belong to PERTITLE_DEFAULT_OWNER
		if json.Unmarshal(body, &list) != nil || len(list.Assets) == 0 {
			return false
		}
		id = list.Assets[0].ID
		return true
	}, 60*time.Second, 200*time.Millisecond, "the object becomes an asset")
	a := s.WaitStatus(id, 3*time.Minute, "ready", "failed")
	require.Equal(t, "ready", a.Status, a.Error)
	assert.Equal(t, "E2E S3 clip", a.Title)
	assert.Equal(t, 1, a.ReadyTransitions, "a duplicate notification does not encode twice")
	require.NotEmpty(t, a.HLSURL)
	require.NotEmpty(t, a.DASHURL)

	// Manifests and segments come from the output bucket through the catalog.
	master := string(stack.Get(t, a.HLSURL))
	require.Contains(t, master, "#EXTM3U")
	want := map[string]bool{}
	for _, r := range a.Renditions {
		want[dims(r.Width, r.Height)] = true
	}
	for _, u := range []string{a.HLSURL, a.DASHURL} {
		got := map[string]bool{}
		for _, d := range stack.FFprobeStreams(t, u) {
			got[d] = true
		}
		assert.Equal(t, keys(want), keys(got), "renditions found by ffprobe in %s", u)
	}
	outs, err := store.List(ctx, "outputs/"+id+"/")
	require.NoError(t, err)
	assert.NotEmpty(t, outs)
	for _, o := range outs {
		assert.Contains(t, store.URL(o.Key), "s3://pertitle-output/")
	}

	var list struct {
		Assets []stack.Asset `json:"assets"`
	}
	_, listBody := s.GetAs("admin", s.URL("catalog", "/v1/assets"))
	require.NoError(t, json.Unmarshal(listBody, &list))
	assert.Len(t, list.Assets, 1, "one asset for one object, however often notified")
	srcs, err := store.List(ctx, "sources/")
	require.NoError(t, err)
	assert.Empty(t, srcs, "the uploaded object is the source: nothing is copied")
}
