// Package bitmovin is a small client of Bitmovin's encoding REST API: the endpoints
// a per-title VOD encoding needs, with typed requests and responses spelled as the
// API reference spells them (developer.bitmovin.com), the response envelope decoded
// strictly, typed errors, retries on 429 and 5xx that honour Retry-After, and
// secrets (the API key, webhook keys) redacted from every error and log line.
package bitmovin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/tracing"
)

// DefaultBaseURL is Bitmovin's API.
const DefaultBaseURL = "https://api.bitmovin.com/v1"

// Headers Bitmovin authenticates with.
const (
	HeaderAPIKey      = "X-Api-Key"
	HeaderTenantOrgID = "X-Tenant-Org-Id"
)

// Config configures a Client.
type Config struct {
	// BaseURL is the API root, DefaultBaseURL when empty.
	BaseURL string
	// APIKey is sent as X-Api-Key; it never appears in errors or logs.
	APIKey string
	// TenantOrgID, when set, is sent as X-Tenant-Org-Id (acting in a sub-organisation).
	TenantOrgID string
	// Timeout bounds one HTTP attempt (default 30s).
	Timeout time.Duration
	// Retries is how many times a 429/5xx answer (and, for GET, a network error or
	// timeout) is retried (default 3; negative disables).
	Retries int
	// Backoff is the first wait between attempts, doubled each time with jitter
	// (default 500ms); MaxBackoff caps it and any Retry-After (default 30s).
	Backoff, MaxBackoff time.Duration
	// Secrets are further values to redact (e.g. webhook signing keys sent in bodies).
	Secrets []string
	// HTTPClient defaults to a client without timeout (Timeout applies per attempt).
	HTTPClient *http.Client
	Log        *zap.Logger
	// Sleep waits between attempts (tests record the waits instead).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client calls the Bitmovin API. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	cfg     Config
	http    *http.Client
	log     *zap.Logger
	secrets []string
	sleep   func(ctx context.Context, d time.Duration) error
}

// New checks cfg and returns a client.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(strings.TrimSuffix(cfg.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("bitmovin: base URL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.APIKey == "" {
		return nil, errors.New("bitmovin: API key is empty")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Retries == 0 {
		cfg.Retries = 3
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	c := &Client{base: u, cfg: cfg, http: cfg.HTTPClient, log: cfg.Log, sleep: cfg.Sleep}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	for _, s := range append([]string{cfg.APIKey}, cfg.Secrets...) {
		if len(s) >= 4 {
			c.secrets = append(c.secrets, s)
		}
	}
	return c, nil
}

// AddSecret registers one more value to redact.
func (c *Client) AddSecret(s string) {
	if len(s) >= 4 {
		c.secrets = append(c.secrets, s)
	}
}

// Redact replaces every secret the client knows in s.
func (c *Client) Redact(s string) string {
	for _, sec := range c.secrets {
		s = strings.ReplaceAll(s, sec, "[REDACTED]")
	}
	return s
}

// APIError is an error answer of the API (or a non-2xx without a usable body).
type APIError struct {
	HTTPStatus       int
	RequestID        string
	Code             int
	Message          string
	DeveloperMessage string
	Details          []Message
	// Attempts is how many requests were made before giving up.
	Attempts int
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bitmovin API error: HTTP %d", e.HTTPStatus)
	if e.Code != 0 {
		fmt.Fprintf(&b, ", code %d", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.DeveloperMessage != "" && e.DeveloperMessage != e.Message {
		b.WriteString(" (" + e.DeveloperMessage + ")")
	}
	if e.RequestID != "" {
		b.WriteString(" [request " + e.RequestID + "]")
	}
	return b.String()
}

// Temporary reports whether repeating the request later may succeed.
func (e *APIError) Temporary() bool {
	return e.HTTPStatus == http.StatusTooManyRequests || e.HTTPStatus >= 500
}

// IsNotFound reports whether err is an API 404.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.HTTPStatus == http.StatusNotFound
}

// ErrMalformedResponse is wrapped by errors for 2xx answers that are not the
// envelope and result the endpoint documents.
var ErrMalformedResponse = errors.New("bitmovin: malformed response")

// Response statuses of the envelope.
const (
	ResponseSuccess = "SUCCESS"
	ResponseError   = "ERROR"
)

type envelope struct {
	RequestID string          `json:"requestId"`
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
}

type resultData struct {
	Result json.RawMessage `json:"result"`
}

type errorData struct {
	Code             int       `json:"code"`
	Message          string    `json:"message"`
	DeveloperMessage string    `json:"developerMessage"`
	Details          []Message `json:"details"`
}

// do sends one API call with retries and decodes data.result into out (if
// non-nil), under a client span when ctx is inside a trace.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	ctx, span := tracing.Child(ctx, "bitmovin "+method+" "+routeOf(path), trace.SpanKindClient,
		attribute.String("http.request.method", method), attribute.String("url.path", c.Redact(path)),
		attribute.String("server.address", c.base.Host))
	err := c.call(ctx, method, path, query, in, out)
	var ae *APIError
	if errors.As(err, &ae) {
		span.SetAttributes(attribute.Int("http.response.status_code", ae.HTTPStatus), attribute.Int("pertitle.attempts", ae.Attempts))
	}
	var spanErr error
	if err != nil {
		spanErr = errors.New(c.Redact(err.Error())) // the span keeps no secret
	}
	tracing.End(span, spanErr)
	return err
}

// routeOf is an API path with its ids replaced by {id}, for span names that
// stay few: /encoding/encodings/{id}/start.
func routeOf(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if len(p) >= 16 { // Bitmovin's ids are UUIDs; no fixed segment is that long

			parts[i] = "{id}"
		}
	}
	return strings.Join(parts, "/")
}

// call is do without the span.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("bitmovin: cannot encode %s %s: %w", method, path, err)
		}
	}
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = query.Encode()
	idempotent := method == http.MethodGet || method == http.MethodDelete
	var lastErr error
	attempts := 1 + max(c.cfg.Retries, 0)
	for attempt := 1; attempt <= attempts; attempt++ {
		start := time.Now()
		status, err := c.once(ctx, method, u.String(), body, out)
		c.log.Debug("bitmovin call", tracing.IDs(ctx), zap.String("method", method), zap.String("path", c.Redact(path)),
			zap.Int("status", status), zap.Int("attempt", attempt), zap.Duration("took", time.Since(start)),
			zap.String("error", errString(c, err)))
		if err == nil {
			return nil
		}
		var ae *APIError
		if errors.As(err, &ae) {
			ae.Attempts = attempt
		}
		lastErr = err
		wait, retry := c.retryable(err, idempotent, attempt)
		if !retry || attempt == attempts || ctx.Err() != nil {
			break
		}
		c.log.Warn("bitmovin call retried", tracing.IDs(ctx), zap.String("method", method), zap.String("path", c.Redact(path)),
			zap.Int("status", status), zap.Int("attempt", attempt), zap.Duration("wait", wait))
		if err := c.sleep(ctx, wait); err != nil {
			return fmt.Errorf("bitmovin %s %s: %w (last error: %w)", method, c.Redact(path), err, lastErr)
		}
	}
	return lastErr
}

func errString(c *Client, err error) string {
	if err == nil {
		return ""
	}
	return c.Redact(err.Error())
}

// retryAfterError carries the server's Retry-After beside the API error.
type retryAfterError struct {
	*APIError
	after time.Duration
}

func (e *retryAfterError) Unwrap() error { return e.APIError }

func (c *Client) retryable(err error, idempotent bool, attempt int) (time.Duration, bool) {
	backoff := c.cfg.Backoff << (attempt - 1)
	backoff += time.Duration(rand.Int64N(int64(backoff)/4 + 1))
	backoff = min(backoff, c.cfg.MaxBackoff)
	var ra *retryAfterError
	if errors.As(err, &ra) && ra.after > 0 {
		return min(ra.after, c.cfg.MaxBackoff), true
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return backoff, ae.Temporary()
	}
	if errors.Is(err, ErrMalformedResponse) {
		return 0, false
	}
	// Network errors and per-attempt timeouts: the request may have been applied, so
	// only methods that can be repeated safely are.
	return backoff, idempotent
}

func (c *Client) once(ctx context.Context, method, u string, body []byte, out any) (int, error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, method, u, rd)
	if err != nil {
		return 0, fmt.Errorf("bitmovin: cannot build request: %s", c.Redact(err.Error()))
	}
	req.Header.Set(HeaderAPIKey, c.cfg.APIKey)
	if c.cfg.TenantOrgID != "" {
		req.Header.Set(HeaderTenantOrgID, c.cfg.TenantOrgID)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// url.Error includes the URL, never headers; redact anyway (a key in a query).
		if ctx.Err() != nil {
			return 0, fmt.Errorf("bitmovin %s: %w", method, ctx.Err())
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("bitmovin %s: no answer within %s: %w", method, c.cfg.Timeout, context.DeadlineExceeded)
		}
		return 0, fmt.Errorf("bitmovin %s: %s", method, c.Redact(err.Error()))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return resp.StatusCode, fmt.Errorf("bitmovin %s: body not read within %s: %w", method, c.Cfg().Timeout, context.DeadlineExceeded)
		}
		return resp.StatusCode, fmt.Errorf("bitmovin %s: cannot read body: %s", method, c.Redact(err.Error()))
	}
	var env envelope
	envErr := json.Unmarshal(raw, &env)
	if resp.StatusCode/100 != 2 {
		ae := &APIError{HTTPStatus: resp.StatusCode, RequestID: env.RequestID}
		var ed errorData
		if envErr == nil && len(env.Data) > 0 && json.Unmarshal(env.Data, &ed) == nil {
			ae.Code, ae.Message, ae.DeveloperMessage, ae.Details = ed.Code, ed.Message, ed.DeveloperMessage, ed.Details
		}
		if ae.Message == "" {
			ae.Message = http.StatusText(resp.StatusCode)
		}
		c.redactAPIError(ae)
		if d := retryAfter(resp.Header.Get("Retry-After")); d > 0 {
			return resp.StatusCode, &retryAfterError{APIError: ae, after: d}
		}
		return resp.StatusCode, ae
	}
	if envErr != nil {
		return resp.StatusCode, fmt.Errorf("%w: HTTP %d body is not JSON: %s", ErrMalformedResponse, resp.StatusCode, c.Redact(envErr.Error()))
	}
	if env.Status != ResponseSuccess {
		return resp.StatusCode, fmt.Errorf("%w: HTTP %d with envelope status %q [request %s]", ErrMalformedResponse, resp.StatusCode, env.Status, env.RequestID)
	}
	if out == nil {
		return resp.StatusCode, nil
	}
	var rd2 resultData
	if len(env.Data) == 0 || json.Unmarshal(env.Data, &rd2) != nil || len(rd2.Result) == 0 || string(rd2.Result) == "null" {
		return resp.StatusCode, fmt.Errorf("%w: HTTP %d envelope has no data.result [request %s]", ErrMalformedResponse, resp.StatusCode, env.RequestID)
	}
	if err := json.Unmarshal(rd2.Result, out); err != nil {
		return resp.StatusCode, fmt.Errorf("%w: data.result does not match %T: %s [request %s]", ErrMalformedResponse, out, c.Redact(err.Error()), env.RequestID)
	}
	return resp.StatusCode, nil
}

// Cfg returns the effective configuration (secrets included: do not log it).
func (c *Client) Cfg() Config { return c.cfg }

func (c *Client) redactAPIError(ae *APIError) {
	ae.Message = c.Redact(ae.Message)
	ae.DeveloperMessage = c.Redact(ae.DeveloperMessage)
	for i := range ae.Details {
		ae.Details[i].Text = c.Redact(ae.Details[i].Text)
	}
}

func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
