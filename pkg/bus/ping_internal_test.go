package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeAWS answers SQS (JSON protocol) and SNS (query protocol) as AWS does,
// records the operations called, and knows only the topics in topics.
type fakeAWS struct {
	mu     sync.Mutex
	calls  []string
	topics map[string]bool
	// noTopicAttributes answers GetTopicAttributes as goaws does: 400, no body.
	noTopicAttributes bool
}

func (f *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		op := strings.TrimPrefix(target, "AmazonSQS.")
		f.record(op)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		var in struct{ QueueName, QueueUrl string }
		_ = json.Unmarshal(body, &in)
		switch op {
		case "GetQueueUrl":
			_ = json.NewEncoder(w).Encode(map[string]string{"QueueUrl": "http://" + r.Host + "/000000000000/" + in.QueueName})
		case "GetQueueAttributes":
			_ = json.NewEncoder(w).Encode(map[string]any{"Attributes": map[string]string{"QueueArn": "arn:aws:sqs:us-east-1:000000000000:q"}})
		}
		return
	}
	form, _ := url.ParseQuery(string(body))
	op := form.Get("Action")
	f.record(op)
	w.Header().Set("Content-Type", "text/xml")
	switch {
	case op == "ListTopics":
		fmt.Fprint(w, `<ListTopicsResponse><ListTopicsResult><Topics></Topics></ListTopicsResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></ListTopicsResponse>`)
	case op == "GetTopicAttributes" && f.noTopicAttributes:
		w.WriteHeader(http.StatusBadRequest)
	case op == "GetTopicAttributes" && f.topics[form.Get("TopicArn")]:
		fmt.Fprint(w, `<GetTopicAttributesResponse><GetTopicAttributesResult><Attributes></Attributes></GetTopicAttributesResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetTopicAttributesResponse>`)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>NotFound</Code><Message>Topic does not exist</Message></Error><RequestId>1</RequestId></ErrorResponse>`)
	}
}

func (f *fakeAWS) record(op string) {
	f.mu.Lock()
	f.calls = append(f.calls, op)
	f.mu.Unlock()
}

func (f *fakeAWS) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// Readiness proves each queue with GetQueueAttributes (its URL looked up
// once) and each topic with GetTopicAttributes; a missing topic is "not
// provisioned"; an emulator without GetTopicAttributes gets ListTopics.
func TestPingReadsAttributes(t *testing.T) {
	f := &fakeAWS{topics: map[string]bool{"arn:aws:sns:us-east-1:000000000000:p-encoding-failed": true}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg := DefaultConfig()
	cfg.Endpoint, cfg.Prefix = srv.URL, "p-"
	tr, err := newAWSTransport(context.Background(), cfg, zapAdapter{})
	require.NoError(t, err)
	defer tr.close()
	ctx := context.Background()

	require.NoError(t, tr.ping(ctx, []string{"p-q"}, []string{"encoding-failed"}))
	assert.Equal(t, []string{"GetQueueUrl", "GetQueueAttributes", "GetTopicAttributes"}, f.take())
	require.NoError(t, tr.ping(ctx, []string{"p-q"}, []string{"encoding-failed"}))
	assert.Equal(t, []string{"GetQueueAttributes", "GetTopicAttributes"}, f.take(), "the queue's URL is looked up once")

	err = tr.ping(ctx, nil, []string{"encoding-failed", "asset-uploaded"})
	require.ErrorIs(t, err, ErrNotProvisioned)
	assert.Contains(t, err.Error(), "p-asset-uploaded")
	f.take()

	f.noTopicAttributes = true
	require.NoError(t, tr.ping(ctx, nil, []string{"encoding-failed"}))
	assert.Equal(t, []string{"GetTopicAttributes", "ListTopics"}, f.take())
	require.NoError(t, tr.ping(ctx, nil, []string{"encoding-failed"}))
	assert.Equal(t, []string{"ListTopics"}, f.take(), "then it lists topics straight away")
}
