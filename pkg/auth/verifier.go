package auth

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pertitle/pertitle/pkg/auth/jose"
)

var (
	// ErrInvalidToken is a token that is malformed, badly signed, expired, or
	// meant for another issuer or audience. The caller must sign in again.
	ErrInvalidToken = errors.New("invalid token")
	// ErrUnavailable means the issuer's keys could not be fetched, so the token
	// could not be checked; retrying later may succeed.
	ErrUnavailable = errors.New("identity provider unavailable")
)

// Config says which tokens a Verifier accepts.
type Config struct {
	// Issuer is the OIDC issuer URL, exactly as tokens carry it in `iss`, e.g.
	// http://127.0.0.1:8084 or https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc.
	// Its /.well-known/openid-configuration names the JWKS.
	Issuer string
	// Audience is the accepted `aud` (or, for Cognito access tokens, `client_id`).
	// Several may be given, separated by commas (e.g. a web and a CLI app client).
	Audience string
	// Leeway tolerated on exp, nbf and iat for clock skew (default 1 minute).
	Leeway time.Duration
	// MinRefresh is the least time between two JWKS fetches caused by an unknown
	// kid, so that tokens with made-up kids cannot make us hammer the issuer
	// (default 10 s).
	MinRefresh time.Duration
	// MaxAge is how long fetched keys are used before they are fetched again, so
	// that withdrawn keys stop being accepted (default 1 hour). Past it, known keys
	// are still served from the cache while one refresh runs in the background.
	MaxAge time.Duration
	// FetchTimeout bounds one refresh: discovery and JWKS together (default 10 s).
	FetchTimeout time.Duration
	// HTTPClient fetches discovery and JWKS (default: a client with a 10 s timeout).
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Leeway == 0 {
		c.Leeway = time.Minute
	}
	if c.MinRefresh == 0 {
		c.MinRefresh = 10 * time.Second
	}
	if c.MaxAge == 0 {
		c.MaxAge = time.Hour
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = 10 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("issuer %q must be an http(s) URL without query", c.Issuer))
	}
	if len(audiences(c.Audience)) == 0 {
		errs = append(errs, errors.New("audience is empty"))
	}
	if c.Leeway < 0 || c.Leeway > 10*time.Minute {
		errs = append(errs, fmt.Errorf("leeway %s must be between 0 and 10m", c.Leeway))
	}
	return errors.Join(errs...)
}

func audiences(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// Verifier checks bearer tokens against an issuer's published keys. It fetches
// discovery and keys lazily, so a service can start before its identity provider
// and report not-ready (Ping) until the provider answers.
//
// At most one fetch runs at a time, in the background, detached from any request:
// requests for cached keys never wait for it, even when the provider hangs; only a
// request that needs a key the cache lacks waits, for at most its own deadline.
type Verifier struct {
	cfg       Config
	audiences []string

	// jwksURI is used only by the fetch in flight, and fetches never overlap.
	jwksURI string

	mu        sync.RWMutex // guards the fields below
	keys      map[string]crypto.PublicKey
	fetchedAt time.Time // last successful fetch
	triedAt   time.Time // last attempt, successful or not
	fetches   int
	inflight  *flight // the fetch running now, if any
}

// flight is one fetch; err is set before done is closed.
type flight struct {
	done chan struct{}
	err  error
}

// NewVerifier returns a Verifier for cfg. It does not contact the issuer: the
// first Verify or Ping does.
func NewVerifier(_ context.Context, cfg Config) (*Verifier, error) {
	cfg.Issuer = strings.TrimSpace(cfg.Issuer)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid OIDC configuration: %w", err)
	}
	cfg.setDefaults()
	return &Verifier{cfg: cfg, audiences: audiences(cfg.Audience)}, nil
}

// Issuer is the issuer URL tokens must carry.
func (v *Verifier) Issuer() string { return v.cfg.Issuer }

// Ping is a readiness check: it succeeds when the issuer's keys are loaded,
// fetching them if needed (and refreshing them in the background when stale).
func (v *Verifier) Ping(ctx context.Context) error {
	_, err := v.key(ctx, "", false)
	return err
}

// Fetches counts JWKS fetches (metrics, tests).
func (v *Verifier) Fetches() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.fetches
}

// claims are the registered claims and the provider-specific ones we read.
type claims struct {
	Iss               string        `json:"iss"`
	Sub               string        `json:"sub"`
	Aud               audienceClaim `json:"aud"`
	Exp               *numericDate  `json:"exp"`
	Nbf               *numericDate  `json:"nbf"`
	Iat               *numericDate  `json:"iat"`
	TokenUse          string        `json:"token_use"` // Cognito: "access" or "id"
	ClientID          string        `json:"client_id"` // Cognito access tokens (no aud)
	PreferredUsername string        `json:"preferred_username"`
	Username          string        `json:"username"`
	CognitoUsername   string        `json:"cognito:username"`
	Email             string        `json:"email"`
	Groups            []string      `json:"groups"`
	CognitoGroups     []string      `json:"cognito:groups"`
}

// audienceClaim is `aud`: a string or an array of strings.
type audienceClaim []string

func (a *audienceClaim) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*a = []string{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return errors.New("aud must be a string or an array of strings")
	}
	*a = l
	return nil
}

// numericDate is seconds since the epoch; fractions are allowed.
type numericDate struct{ time.Time }

// maxDate bounds dates to what time.Duration arithmetic and nanosecond counts
// hold (year 2262): a larger nbf once overflowed into the past and passed.
const maxDate = math.MaxInt64 / int64(time.Second)

func (n *numericDate) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return errors.New("dates must be numbers")
	}
	if f < 0 || f >= float64(maxDate) {
		return fmt.Errorf("date %v is out of range", f)
	}
	sec, frac := math.Modf(f)
	n.Time = time.Unix(int64(sec), int64(frac*float64(time.Second)))
	return nil
}

// decodeClaims reads the claims by their exact names: RFC 7519 names are
// case-sensitive, where encoding/json would also take "SUB" or "Sub" for sub.
// Of duplicate names the last wins, as the RFC allows.
func decodeClaims(b []byte) (claims, error) {
	var c claims
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return c, err
	}
	fields := map[string]any{"iss": &c.Iss, "sub": &c.Sub, "aud": &c.Aud, "exp": &c.Exp, "nbf": &c.Nbf,
		"iat": &c.Iat, "token_use": &c.TokenUse, "client_id": &c.ClientID, "preferred_username": &c.PreferredUsername,
		"username": &c.Username, "cognito:username": &c.CognitoUsername, "email": &c.Email,
		"groups": &c.Groups, "cognito:groups": &c.CognitoGroups}
	for name, dst := range fields {
		if raw, ok := m[name]; ok {
			if err := json.Unmarshal(raw, dst); err != nil {
				return c, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	return c, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, fmt.Sprintf(format, args...))
}

// Verify checks raw (a JWT) and returns who it identifies. Errors wrap
// ErrInvalidToken, or ErrUnavailable when the keys could not be fetched.
func (v *Verifier) Verify(ctx context.Context, raw string) (Principal, error) {
	jws, err := jose.Parse(raw)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	pub, err := v.key(ctx, jws.Header.Kid, true)
	if err != nil {
		return Principal{}, err
	}
	if err := jws.Verify(pub); err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	c, err := decodeClaims(jws.Payload)
	if err != nil {
		return Principal{}, invalid("claims: %v", err)
	}
	if err := v.check(c); err != nil {
		return Principal{}, err
	}
	p := Principal{Subject: c.Sub, Email: c.Email,
		Username: firstOf(c.PreferredUsername, c.Username, c.CognitoUsername)}
	p.Groups = append(append([]string(nil), c.Groups...), c.CognitoGroups...)
	return p, nil
}

func (v *Verifier) check(c claims) error {
	now := v.cfg.Now()
	leeway := v.cfg.Leeway
	switch {
	case c.Iss != v.cfg.Issuer:
		return invalid("issued by %q, not %q", c.Iss, v.cfg.Issuer)
	case c.Sub == "":
		return invalid("no subject")
	case c.Exp == nil:
		return invalid("no expiry")
	case !now.Before(c.Exp.Add(leeway)):
		return invalid("expired at %s", c.Exp.UTC().Format(time.RFC3339))
	case c.Nbf != nil && now.Add(leeway).Before(c.Nbf.Time):
		return invalid("not valid before %s", c.Nbf.UTC().Format(time.RFC3339))
	case c.Iat != nil && now.Add(leeway).Before(c.Iat.Time):
		return invalid("issued in the future")
	}
	// Cognito access tokens carry the app client in client_id and no aud; its id
	// tokens carry it in aud. Other providers put the API's audience in aud.
	switch c.TokenUse {
	case "", "id":
		if !slices.ContainsFunc(c.Aud, v.accepts) {
			return invalid("audience %v is not %v", []string(c.Aud), v.audiences)
		}
	case "access":
		if !v.accepts(c.ClientID) && !slices.ContainsFunc(c.Aud, v.accepts) {
			return invalid("client %q is not %v", c.ClientID, v.audiences)
		}
	default:
		return invalid("token_use %q is not accepted", c.TokenUse)
	}
	return nil
}

func (v *Verifier) accepts(aud string) bool { return slices.Contains(v.audiences, aud) }

func firstOf(vals ...string) string {
	for _, s := range vals {
		if s != "" {
			return s
		}
	}
	return ""
}

// key returns the key with kid (any key when kid is empty and !need). Past MaxAge a
// known key is still returned at once and a refresh starts behind it. An unknown
// kid waits for a refresh (rotation), started at most once per MinRefresh so that
// tokens with made-up kids cannot make us hammer the issuer.
func (v *Verifier) key(ctx context.Context, kid string, need bool) (crypto.PublicKey, error) {
	v.mu.Lock()
	if k, ok := v.lookup(kid, need); ok {
		if v.cfg.Now().Sub(v.fetchedAt) > v.cfg.MaxAge {
			v.startFetch()
		}
		v.mu.Unlock()
		return k, nil
	}
	f, have := v.startFetch(), v.keys != nil
	v.mu.Unlock()
	if f == nil {
		if !have {
			return nil, fmt.Errorf("%w: signing keys not loaded yet", ErrUnavailable)
		}
		return nil, invalid("unknown signing key %q", kid)
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: still fetching the signing keys: %v", ErrUnavailable, ctx.Err())
	}
	v.mu.RLock()
	k, known := v.lookup(kid, need)
	v.mu.RUnlock()
	switch {
	case known:
		return k, nil
	case f.err != nil:
		return nil, f.err
	}
	return nil, invalid("unknown signing key %q", kid)
}

// startFetch returns the fetch in flight, or starts one unless the last attempt is
// more recent than MinRefresh (a second while no key is loaded: nothing can be
// verified until one is); nil then. v.mu is held.
func (v *Verifier) startFetch() *flight {
	if v.inflight != nil {
		return v.inflight
	}
	wait := v.cfg.MinRefresh
	if v.keys == nil {
		wait = time.Second
	}
	now := v.cfg.Now()
	if !v.triedAt.IsZero() && now.Sub(v.triedAt) < wait {
		return nil
	}
	f := &flight{done: make(chan struct{})}
	v.inflight, v.triedAt = f, now
	go func() {
		// Not any caller's context: a caller giving up must not cancel the fetch
		// that the others wait for.
		ctx, cancel := context.WithTimeout(context.Background(), v.cfg.FetchTimeout)
		defer cancel()
		err := v.fetch(ctx)
		v.mu.Lock()
		f.err, v.inflight = err, nil
		v.mu.Unlock()
		close(f.done)
	}()
	return f
}

func (v *Verifier) lookup(kid string, need bool) (crypto.PublicKey, bool) {
	if !need {
		for _, k := range v.keys {
			return k, true
		}
		return nil, false
	}
	if kid == "" && len(v.keys) == 1 {
		// A provider with one key may omit kid.
		for _, k := range v.keys {
			return k, true
		}
	}
	k, ok := v.keys[kid]
	return k, ok
}

// fetch reads discovery (once) and the JWKS; only startFetch calls it.
func (v *Verifier) fetch(ctx context.Context) error {
	if v.jwksURI == "" {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := v.getJSON(ctx, strings.TrimSuffix(v.cfg.Issuer, "/")+"/.well-known/openid-configuration", &doc); err != nil {
			return err
		}
		// OIDC Discovery 4.3: the document must name the issuer we asked.
		if doc.Issuer != v.cfg.Issuer {
			return fmt.Errorf("%w: discovery names issuer %q, not %q", ErrUnavailable, doc.Issuer, v.cfg.Issuer)
		}
		u, err := url.Parse(doc.JWKSURI)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("%w: discovery has no usable jwks_uri", ErrUnavailable)
		}
		v.jwksURI = doc.JWKSURI
	}
	var set jose.JWKS
	if err := v.getJSON(ctx, v.jwksURI, &set); err != nil {
		return err
	}
	keys := map[string]crypto.PublicKey{}
	for _, k := range set.Keys {
		pub, err := k.PublicKey()
		if err != nil {
			continue // keys for encryption or of types we do not use
		}
		keys[k.Kid] = pub
	}
	if len(keys) == 0 {
		return fmt.Errorf("%w: %s has no usable signing key", ErrUnavailable, v.jwksURI)
	}
	v.mu.Lock()
	v.keys, v.fetchedAt = keys, v.cfg.Now()
	v.fetches++
	v.mu.Unlock()
	return nil
}

func (v *Verifier) getJSON(ctx context.Context, u string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: GET %s: %s", ErrUnavailable, u, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(dst); err != nil {
		return fmt.Errorf("%w: GET %s: %v", ErrUnavailable, u, err)
	}
	return nil
}
