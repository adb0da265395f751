package bitmovin_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pertitle/pertitle/internal/bitmovintest"
	"github.com/pertitle/pertitle/pkg/bitmovin"
)

const apiKey = "sk-test-0123456789abcdef"

type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return nil
}

func newClient(t *testing.T, srv *bitmovintest.Server, key string, log *zap.Logger, sl *sleeps) *bitmovin.Client {
	t.Helper()
	c, err := bitmovin.New(bitmovin.Config{BaseURL: srv.URL(), APIKey: key, TenantOrgID: "org-1", Timeout: 100 * time.Millisecond,
		Retries: 2, Backoff: time.Millisecond, Log: log, Sleep: sl.sleep})
	require.NoError(t, err)
	return c
}

func TestClientErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		key       string
		fault     *bitmovintest.Fault
		calls     int
		status    int // 0: not an APIError
		code      int
		malformed bool
		timeout   bool
		waits     []time.Duration
	}{
		{name: "ok", key: apiKey, calls: 1},
		{name: "401 wrong key", key: "sk-wrong-key-xyz", calls: 1, status: 401, code: 1001},
		{name: "404", key: apiKey, fault: &bitmovintest.Fault{PathPrefix: "/encoding/encodings/", Status: 404}, calls: 1, status: 404, code: 1404},
		{name: "429 then ok honours Retry-After", key: apiKey, fault: &bitmovintest.Fault{PathPrefix: "/encoding", Status: 429, RetryAfter: "7", Times: 1},
			calls: 2, waits: []time.Duration{7 * time.Second}},
		{name: "429 forever", key: apiKey, fault: &bitmovintest.Fault{PathPrefix: "/encoding", Status: 429, RetryAfter: "1"},
			calls: 3, status: 429, code: 1429, waits: []time.Duration{time.Second, time.Second}},
		{name: "500 retried then fails", key: apiKey, fault: &bitmovintest.Fault{PathPrefix: "/encoding", Status: 500}, calls: 3, status: 500, code: 1500},
		{name: "503 once", key: apiKey, fault: &bitmovintest.Fault{PathPrefix: "/encoding", Status: 503, Times: 1}, calls: 2},
		{name: "slow answer times out", key: apiKey, fault: &bitmovintest.Fault{PathPrefix: "/encoding", Delay: time.Second}, calls: 3, timeout: true},
		{name: "malformed json", key: apiKey, fault: &bitmovintest.Fault{PathPrefix: "/encoding", Status: 200, Body: `{"requestId":"r1","status":"SUCCESS","data":{"result":`}, calls: 1, malformed: true},
		{name: "html 200", key: apiKey, fault: &bitmovintest.Fault{PathPrefix: "/encoding", Status: 200, Body: `<html>maintenance</html>`}, calls: 1, malformed: true},
		{name: "error envelope with 200", key: apiKey, fault: &bitmovintest.Fault{PathPrefix: "/encoding", Status: 200, Body: `{"requestId":"r2","status":"ERROR","data":{"code":1}}`}, calls: 1, malformed: true},
		{name: "result of the wrong shape", key: apiKey, fault: &bitmovintest.Fault{PathPrefix: "/encoding", Status: 200, Body: `{"requestId":"r3","status":"SUCCESS","data":{"result":[1,2]}}`}, calls: 1, malformed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := bitmovintest.New(bitmovintest.Options{APIKey: apiKey}).Start()
			t.Cleanup(srv.Close)
			sl := &sleeps{}
			created, err := newClient(t, srv, apiKey, nil, &sleeps{}).CreateEncoding(context.Background(), bitmovin.Encoding{Name: "job-1"})
			require.NoError(t, err)
			if tc.fault != nil {
				srv.AddFault(*tc.fault)
			}
			got, err := newClient(t, srv, tc.key, nil, sl).GetEncoding(context.Background(), created.ID)
			calls := srv.Calls()[1:]
			assert.Len(t, calls, tc.calls)
			for _, call := range calls {
				assert.Equal(t, "org-1", call.TenantOrgID)
			}
			var ae *bitmovin.APIError
			switch {
			case tc.status != 0:
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, tc.status, ae.HTTPStatus)
				assert.Equal(t, tc.code, ae.Code)
				assert.NotEmpty(t, ae.RequestID)
				assert.NotEmpty(t, ae.Message)
				assert.Equal(t, tc.calls, ae.Attempts)
			case tc.malformed:
				require.ErrorIs(t, err, bitmovin.ErrMalformedResponse)
			case tc.timeout:
				require.ErrorIs(t, err, context.DeadlineExceeded)
			default:
				require.NoError(t, err)
				assert.Equal(t, "job-1", got.Name)
				assert.Equal(t, bitmovin.StatusCreated, got.Status)
			}
			if tc.waits != nil {
				assert.Equal(t, tc.waits, sl.d)
			}
		})
	}
}

func TestPostIsNotRepeatedAfterATimeout(t *testing.T) {
	t.Parallel()
	srv := bitmovintest.New(bitmovintest.Options{APIKey: apiKey}).Start()
	t.Cleanup(srv.Close)
	srv.AddFault(bitmovintest.Fault{Method: http.MethodPost, PathPrefix: "/encoding/encodings", Delay: time.Second})
	c := newClient(t, srv, apiKey, nil, &sleeps{})
	_, err := c.CreateEncoding(context.Background(), bitmovin.Encoding{Name: "x"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Len(t, srv.Calls(), 1, "a create that may have been applied is not sent again")
}

func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	srv := bitmovintest.New(bitmovintest.Options{APIKey: apiKey}).Start()
	t.Cleanup(srv.Close)
	core, logs := observer.New(zapcore.DebugLevel)
	c := newClient(t, srv, apiKey, zap.New(core), &sleeps{})
	ctx := context.Background()
	enc, err := c.CreateEncoding(ctx, bitmovin.Encoding{Name: "job"})
	require.NoError(t, err)
	const hookKey = "whsec-abcdef123456"
	_, err = c.CreateEncodingWebhook(ctx, enc.ID, bitmovin.WebhookFinished, bitmovin.Webhook{URL: "http://x/hook",
		Signature: &bitmovin.WebhookSignature{Type: bitmovin.SignatureHMAC, Key: hookKey}})
	require.NoError(t, err)

	// A server that echoes the key back (a proxy error page, a misconfigured gateway).
	echo := `{"requestId":"r","status":"ERROR","data":{"code":1,"message":"bad key ` + apiKey + `","developerMessage":"signature ` + hookKey + `","details":[{"type":"ERROR","text":"` + apiKey + `"}]}}`
	var errs []error
	srv.AddFault(bitmovintest.Fault{PathPrefix: "/encoding", Status: 400, Body: echo, Times: 1})
	_, err = c.GetEncoding(ctx, enc.ID)
	errs = append(errs, err)
	srv.AddFault(bitmovintest.Fault{PathPrefix: "/encoding", Status: 500, Body: echo, Times: 3})
	_, err = c.GetEncoding(ctx, enc.ID)
	errs = append(errs, err)
	srv.AddFault(bitmovintest.Fault{PathPrefix: "/encoding", Status: 200, Body: "not json " + apiKey, Times: 1})
	_, err = c.GetEncoding(ctx, enc.ID)
	errs = append(errs, err)
	bad := newClient(t, srv, "sk-other-key-0000", zap.New(core), &sleeps{})
	_, err = bad.GetEncoding(ctx, enc.ID)
	errs = append(errs, err)

	var text strings.Builder
	for _, e := range errs {
		require.Error(t, e)
		text.WriteString(e.Error() + "\n")
		var ae *bitmovin.APIError
		if errors.As(e, &ae) {
			for _, d := range ae.Details {
				text.WriteString(d.Text + "\n")
			}
		}
	}
	for _, entry := range logs.All() {
		text.WriteString(entry.Message)
		for k, v := range entry.ContextMap() {
			text.WriteString(" " + k + "=" + strings.TrimSpace(toString(v)))
		}
		text.WriteString("\n")
	}
	require.NotZero(t, logs.Len(), "calls are logged")
	assert.NotContains(t, text.String(), apiKey)
	assert.NotContains(t, text.String(), "sk-other-key-0000")
	assert.NotContains(t, text.String(), hookKey)
	assert.Contains(t, text.String(), "[REDACTED]")
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	default:
		return strings.ReplaceAll(strings.TrimSpace(strings.Join(strings.Fields(fmtAny(x)), " ")), "\n", " ")
	}
}

func fmtAny(v any) string { return strings.TrimSpace(strings.ReplaceAll(fmtSprint(v), "\n", " ")) }

var fmtSprint = func(v any) string { return fmt.Sprint(v) }
