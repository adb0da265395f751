package s3event_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/s3event"
)

const put = `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
"eventTime":"2024-05-01T10:00:00.123Z","eventName":"ObjectCreated:Put",
"s3":{"s3SchemaVersion":"1.0","bucket":{"name":"in","arn":"arn:aws:s3:::in"},
"object":{"key":%q,"size":1234,"eTag":"0123abcd","versionId":%q,"sequencer":"0062E99A88DC407460"}}}]}`

func TestParse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		body    string
		test    bool
		keys    []string
		version string
		err     bool
	}{
		{"plain key", fmt.Sprintf(put, "uploads/alice/clip.mp4", ""), false, []string{"uploads/alice/clip.mp4"}, "", false},
		{"spaces as plus", fmt.Sprintf(put, "uploads/alice/My+Holiday+Clip.mp4", ""), false, []string{"uploads/alice/My Holiday Clip.mp4"}, "", false},
		{"unicode percent-encoded", fmt.Sprintf(put, "uploads/b%C3%B6b/done%E2%9C%93.mov", "v1"), false, []string{"uploads/böb/done✓.mov"}, "v1", false},
		{"literal plus is %2B", fmt.Sprintf(put, "uploads/a/c%2B%2B.mp4", ""), false, []string{"uploads/a/c++.mp4"}, "", false},
		{"test event ignored", `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-05-01T10:00:00.000Z","Bucket":"in","RequestId":"x","HostId":"y"}`, true, nil, "", false},
		{"multiple records", `{"Records":[` +
			`{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"in"},"object":{"key":"uploads/a/1.mp4"}}},` +
			`{"eventSource":"aws:s3","eventName":"ObjectCreated:CompleteMultipartUpload","s3":{"bucket":{"name":"in"},"object":{"key":"uploads/a/2.mp4"}}}]}`,
			false, []string{"uploads/a/1.mp4", "uploads/a/2.mp4"}, "", false},
		{"sns envelope", `{"Type":"Notification","MessageId":"m","TopicArn":"arn","Message":` + quote(fmt.Sprintf(put, "uploads/x.mp4", "")) + `}`,
			false, []string{"uploads/x.mp4"}, "", false},
		{"malformed json", `{"Records":[`, false, nil, "", true},
		{"not a notification", `{"hello":"world"}`, false, nil, "", true},
		{"other source", `{"Records":[{"eventSource":"aws:sqs","s3":{"bucket":{"name":"in"},"object":{"key":"k"}}}]}`, false, nil, "", true},
		{"no key", `{"Records":[{"eventSource":"aws:s3","s3":{"bucket":{"name":"in"},"object":{}}}]}`, false, nil, "", true},
		{"bad escape", fmt.Sprintf(put, "uploads/%zz", ""), false, nil, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			n, err := s3event.Parse([]byte(c.body))
			if c.err {
				require.ErrorIs(t, err, s3event.ErrMalformed)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.test, n.Test)
			var keys []string
			for _, r := range n.Records {
				keys = append(keys, r.Key)
				assert.Equal(t, "in", r.Bucket)
				assert.True(t, r.ObjectCreated())
			}
			assert.Equal(t, c.keys, keys)
			if len(n.Records) == 1 {
				assert.Equal(t, c.version, n.Records[0].VersionID)
			}
		})
	}
}

func TestBuildRoundTrip(t *testing.T) {
	t.Parallel()
	rec := s3event.Record{Bucket: "in", Key: "uploads/alice/My Holiday ✓ (1)+.mp4", Size: 42, ETag: "abc", Sequencer: "01"}
	body, err := s3event.Build(rec)
	require.NoError(t, err)
	assert.Contains(t, string(body), `"key":"uploads/alice/My+Holiday+%E2%9C%93+%281%29%2B.mp4"`, "encoded as S3 does")
	n, err := s3event.Parse(body)
	require.NoError(t, err)
	require.Len(t, n.Records, 1)
	got := n.Records[0]
	assert.Equal(t, rec.Key, got.Key)
	assert.Equal(t, "ObjectCreated:Put", got.EventName)
	assert.Equal(t, rec.Identity(), got.Identity())
}

func TestIdentity(t *testing.T) {
	t.Parallel()
	a := s3event.Record{Bucket: "in", Key: "k", ETag: "e", Sequencer: "1"}
	b := a
	b.Sequencer = "2"
	assert.NotEqual(t, a.Identity(), b.Identity(), "a new write of the same bytes is a new object version")
	v1, v2 := a, a
	v1.VersionID, v2.VersionID = "v1", "v1"
	v2.Sequencer = "9"
	assert.Equal(t, v1.Identity(), v2.Identity(), "the version id names the version")
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
