// Package oidc serves the issuer's OpenID Connect endpoints: discovery, JWKS,
// authorization code with PKCE behind a server-rendered login form, refresh-token
// rotation and, for scripts, the password grant. Its state is app.State's.
package oidc

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/auth/jose"
	"github.com/pertitle/pertitle/pkg/limit"
	"github.com/pertitle/pertitle/pkg/tracing"
	"github.com/pertitle/pertitle/services/issuer/internal/adapters/files"
	"github.com/pertitle/pertitle/services/issuer/internal/app"
)

// Keys sign tokens and publish their public halves.
type Keys interface {
	Sign(claims any) (string, error)
	JWKS() jose.JWKS
}

// Users checks passwords and finds users by their stable id.
type Users interface {
	Authenticate(username, password string) (files.User, bool)
	BySub(sub string) (files.User, bool)
}

// Registered clients. Both are public (no secret): a browser app and a CLI cannot keep one.
const (
	ClientWeb = "pertitle-web"
	ClientCLI = "pertitle-cli"
)

// Config of the issuer.
type Config struct {
	// Issuer is the URL tokens carry in iss and where discovery is served.
	Issuer string
	// Audience goes into access tokens' aud: what the services accept.
	Audience string
	// WebRedirectURIs are the exact redirect URIs of pertitle-web.
	WebRedirectURIs []string
	AccessTTL       time.Duration // access and id tokens (default 15m)
	RefreshTTL      time.Duration // refresh tokens, renewed on each use (default 30 days)
	// PasswordGrant lets pertitle-cli exchange a username and password of this
	// issuer's own users for tokens (scripts, tests).
	PasswordGrant bool
	// SignIn throttles password checks, of the form and of the password grant.
	SignIn SignInLimits
	// Addresses finds client addresses behind trusted proxies.
	Addresses limit.Addresses
	// SealKey authenticates the sign-in forms; replicas share it (app.State.SealKey).
	// Empty: a random key of this process.
	SealKey []byte
	Now     func() time.Time
	Log     *zap.Logger
}

// SignInLimits throttle password guessing per user name and per client address.
// After UserFailures failed passwords for one user (AddressFailures from one
// address), every further attempt is refused with 429 for Backoff, doubling
// with each failure after, at most BackoffMax, even when the password is right.
// AddressPerMinute bounds the password checks (bcrypt, costly) one address may
// cause, right or wrong.
type SignInLimits struct {
	UserFailures     int
	AddressFailures  int
	Backoff          time.Duration
	BackoffMax       time.Duration
	AddressPerMinute int
}

// DefaultSignInLimits are the defaults of the README's settings table.
var DefaultSignInLimits = SignInLimits{UserFailures: 5, AddressFailures: 20, Backoff: 30 * time.Second,
	BackoffMax: 15 * time.Minute, AddressPerMinute: 30}

func (c *Config) setDefaults() {
	if c.AccessTTL == 0 {
		c.AccessTTL = 15 * time.Minute
	}
	if c.RefreshTTL == 0 {
		c.RefreshTTL = 30 * 24 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	if c.SignIn == (SignInLimits{}) {
		c.SignIn = DefaultSignInLimits
	}
	c.Issuer = strings.TrimSuffix(c.Issuer, "/")
}

const (
	loginTTL      = 10 * time.Minute
	codeTTL       = time.Minute
	bindingCookie = "pertitle_login"
	// Bounds of what an authorization request carries through the form.
	maxRedirectLen = 2048
	maxParamLen    = 1024
)

type client struct {
	id       string
	exact    []string // allowed redirect URIs
	loopback bool     // any port on a loopback address (RFC 8252 7.3)
	password bool
}

func (c client) allows(redirect string) bool {
	if slices.Contains(c.exact, redirect) {
		return true
	}
	if !c.loopback {
		return false
	}
	u, err := url.Parse(redirect)
	if err != nil || u.Scheme != "http" || u.Fragment != "" || u.User != nil {
		return false
	}
	h := u.Hostname()
	ip := net.ParseIP(h)
	return (h == "localhost" || (ip != nil && ip.IsLoopback())) && u.Port() != ""
}

type authRequest struct {
	client, redirect, state, nonce, scope, challenge string
}

// throttle backs off failing keys: app.SharedBackoff, whose counts every
// replica on the store shares (limit.Backoff has the same methods, per process).
type throttle interface {
	Wait(key string) time.Duration
	Fail(key string) time.Duration
	Succeed(key string)
}

// Server is the issuer's HTTP side.
type Server struct {
	cfg     Config
	keys    Keys
	users   Users
	state   *app.State
	clients map[string]client

	// sealKey authenticates the sign-in forms handed out (sealLogin): the
	// issuer keeps nothing per form, so anonymous GET /authorize floods cannot
	// fill any table and lock real sign-ins out.
	sealKey   []byte
	userFails throttle
	addrFails throttle
	addrRate  *limit.Keyed
}

// New returns the issuer.
func New(cfg Config, keys Keys, users Users, state *app.State) *Server {
	cfg.setDefaults()
	sl := cfg.SignIn
	if len(cfg.SealKey) == 0 {
		cfg.SealKey = []byte(app.RandomString())
	}
	return &Server{cfg: cfg, keys: keys, users: users, state: state,
		clients: map[string]client{
			ClientWeb: {id: ClientWeb, exact: cfg.WebRedirectURIs},
			ClientCLI: {id: ClientCLI, loopback: true, password: true},
		},
		sealKey: cfg.SealKey,
		userFails: &app.SharedBackoff{Store: state.Store, Prefix: "user:",
			Rule: &limit.Backoff{Free: sl.UserFailures, Base: sl.Backoff, Max: sl.BackoffMax, Now: cfg.Now}},
		addrFails: &app.SharedBackoff{Store: state.Store, Prefix: "addr:",
			Rule: &limit.Backoff{Free: sl.AddressFailures, Base: sl.Backoff, Max: sl.BackoffMax, Now: cfg.Now}},
		addrRate: limit.NewKeyed(limit.PerMinute(float64(sl.AddressPerMinute)), max(1, sl.AddressPerMinute/3), 0).WithClock(cfg.Now)}
}

// Register mounts the OIDC endpoints on mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /.well-known/openid-configuration", s.discovery)
	mux.HandleFunc("GET /jwks.json", s.jwks)
	mux.HandleFunc("GET /authorize", s.authorize)
	mux.HandleFunc("POST /authorize", s.login)
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("OPTIONS /token", s.token)
}

func (s *Server) discovery(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Cache-Control", "public, max-age=300")
	iss := s.cfg.Issuer
	grants := []string{"authorization_code", "refresh_token"}
	if s.cfg.PasswordGrant {
		grants = append(grants, "password")
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                         iss,
		"authorization_endpoint":                         iss + "/authorize",
		"token_endpoint":                                 iss + "/token",
		"jwks_uri":                                       iss + "/jwks.json",
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          grants,
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{"RS256"},
		"code_challenge_methods_supported":               []string{"S256"},
		"token_endpoint_auth_methods_supported":          []string{"none"},
		"scopes_supported":                               []string{"openid", "profile", "email", "groups", "offline_access"},
		"claims_supported":                               []string{"sub", "iss", "aud", "exp", "iat", "preferred_username", "email", "groups", "nonce"},
		"authorization_response_iss_parameter_supported": true,
	})
}

func (s *Server) jwks(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Cache-Control", "public, max-age=60")
	writeJSON(w, http.StatusOK, s.keys.JWKS())
}

var pkceChars = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// authorize validates an authorization request and shows the login form.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c, ok := s.clients[q.Get("client_id")]
	redirect := q.Get("redirect_uri")
	if !ok || !c.allows(redirect) {
		// Never redirect to an unregistered URI: show the error here.
		s.page(w, http.StatusBadRequest, pageData{Error: "Unknown client or redirect URI not registered for it."})
		return
	}
	req := authRequest{client: c.id, redirect: redirect, state: q.Get("state"), nonce: q.Get("nonce"),
		scope: q.Get("scope"), challenge: q.Get("code_challenge")}
	switch {
	case len(redirect) > maxRedirectLen || len(req.state) > maxParamLen || len(req.nonce) > maxParamLen || len(req.scope) > maxParamLen:
		s.page(w, http.StatusBadRequest, pageData{Error: fmt.Sprintf("The sign-in request is too long (redirect_uri at most %d bytes; state, nonce and scope %d each).", maxRedirectLen, maxParamLen)})
		return
	case q.Get("response_type") != "code":
		redirectError(w, r, req, s.cfg.Issuer, "unsupported_response_type", "only response_type=code")
		return
	case q.Get("code_challenge_method") != "S256" || !pkceChars.MatchString(req.challenge):
		redirectError(w, r, req, s.cfg.Issuer, "invalid_request", "PKCE with code_challenge_method=S256 is required")
		return
	}
	binding := ""
	if ck, err := r.Cookie(bindingCookie); err == nil && len(ck.Value) >= 32 && len(ck.Value) <= 64 {
		binding = ck.Value
	} else {
		binding = app.RandomString()
		http.SetCookie(w, &http.Cookie{Name: bindingCookie, Value: binding, Path: "/", HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: strings.HasPrefix(s.cfg.Issuer, "https://")})
	}
	s.page(w, http.StatusOK, pageData{LoginID: s.sealLogin(req, binding), Client: c.id})
}

// sealedLogin is what the sign-in form carries between GET and POST /authorize,
// authenticated by sealKey: the request, the browser it was handed to and until when.
type sealedLogin struct {
	Client    string `json:"c"`
	Redirect  string `json:"r"`
	State     string `json:"s,omitempty"`
	Nonce     string `json:"n,omitempty"`
	Scope     string `json:"o,omitempty"`
	Challenge string `json:"p"`
	Binding   string `json:"b"` // SHA-256 of the binding cookie
	Expires   int64  `json:"e"`
}

func (s *Server) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.sealKey)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

func bindingHash(binding string) string {
	sum := sha256.Sum256([]byte(binding))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (s *Server) sealLogin(req authRequest, binding string) string {
	b, _ := json.Marshal(sealedLogin{Client: req.client, Redirect: req.redirect, State: req.state, Nonce: req.nonce,
		Scope: req.scope, Challenge: req.challenge, Binding: bindingHash(binding), Expires: s.cfg.Now().Add(loginTTL).Unix()})
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload))
}

// openLogin returns the request of a sealed form when it is this issuer's, not
// expired, and was handed to the browser holding binding.
func (s *Server) openLogin(sealed, binding string) (authRequest, bool) {
	payload, sig, ok := strings.Cut(sealed, ".")
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(got, s.mac(payload)) {
		return authRequest{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	var sl sealedLogin
	if err != nil || json.Unmarshal(b, &sl) != nil || !s.cfg.Now().Before(time.Unix(sl.Expires, 0)) ||
		subtle.ConstantTimeCompare([]byte(sl.Binding), []byte(bindingHash(binding))) != 1 {
		return authRequest{}, false
	}
	return authRequest{client: sl.Client, redirect: sl.Redirect, state: sl.State, nonce: sl.Nonce, scope: sl.Scope,
		challenge: sl.Challenge}, true
}

// errThrottled is a password check refused by the sign-in limits.
type errThrottled struct{ wait time.Duration }

func (e errThrottled) Error() string {
	return fmt.Sprintf("too many sign-in attempts; try again in %d s", max(1, int(math.Ceil(e.wait.Seconds()))))
}

// authenticate checks a password within the sign-in limits: while the user name
// or the client address is backing off, or the address has checked too many
// passwords lately, it refuses without checking (errThrottled).
func (s *Server) authenticate(r *http.Request, username, password string) (files.User, error) {
	addr := s.cfg.Addresses.Client(r)
	userKey := username
	if len(userKey) > 256 {
		userKey = userKey[:256]
	}
	if wait := max(s.userFails.Wait(userKey), s.addrFails.Wait(addr)); wait > 0 {
		return files.User{}, errThrottled{wait}
	}
	if ok, wait := s.addrRate.Allow(addr); !ok {
		return files.User{}, errThrottled{wait}
	}
	usr, ok := s.users.Authenticate(username, password)
	if !ok {
		s.userFails.Fail(userKey)
		s.addrFails.Fail(addr)
		return files.User{}, errWrongPassword
	}
	// The address keeps its count: one account of one's own must not buy
	// fresh guesses at the others.
	s.userFails.Succeed(userKey)
	return usr, nil
}

var errWrongPassword = errors.New("wrong username or password")

// login handles the form. The pending login is bound to the browser that
// started it by a SameSite cookie, so another site cannot submit the form to
// sign a victim in as someone else (login CSRF).
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.page(w, http.StatusBadRequest, pageData{Error: "Malformed form."})
		return
	}
	id := r.PostForm.Get("login_id")
	ck, err := r.Cookie(bindingCookie)
	var req authRequest
	valid := err == nil
	if valid {
		req, valid = s.openLogin(id, ck.Value)
	}
	if !valid {
		s.page(w, http.StatusForbidden, pageData{Error: "This sign-in form has expired or was not opened in this browser. Start again from the application."})
		return
	}
	username := r.PostForm.Get("username")
	usr, err := s.authenticate(r, username, r.PostForm.Get("password"))
	var throttled errThrottled
	switch {
	case errors.As(err, &throttled):
		s.cfg.Log.Info("sign-in throttled", tracing.IDs(r.Context()), zap.String("username", username))
		limit.RetryAfter(w.Header(), throttled.wait)
		s.page(w, http.StatusTooManyRequests, pageData{LoginID: id, Client: req.client, Username: username,
			Error: "Too many sign-in attempts: " + throttled.Error() + "."})
		return
	case err != nil:
		s.cfg.Log.Info("sign-in refused", tracing.IDs(r.Context()), zap.String("username", username))
		s.page(w, http.StatusUnauthorized, pageData{LoginID: id, Client: req.client, Username: username, Error: "Wrong username or password."})
		return
	}
	now := s.cfg.Now()
	code, err := s.state.NewCode(r.Context(), app.Code{Client: req.client, Redirect: req.redirect, State: req.state,
		Nonce: req.nonce, Scope: req.scope, Challenge: req.challenge, Sub: usr.Sub, AuthTime: now, Expires: now.Add(codeTTL)})
	if err != nil {
		s.cfg.Log.Error("cannot sign in", tracing.IDs(r.Context()), zap.Error(err))
		s.page(w, http.StatusServiceUnavailable, pageData{LoginID: id, Client: req.client, Username: username,
			Error: "Signing in is unavailable for a moment; try again."})
		return
	}
	s.cfg.Log.Info("signed in", tracing.IDs(r.Context()), zap.String("username", usr.Username), zap.String("client", req.client))
	u, _ := url.Parse(req.redirect)
	q := u.Query()
	q.Set("code", code)
	q.Set("iss", s.cfg.Issuer)
	if req.state != "" {
		q.Set("state", req.state)
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

func redirectError(w http.ResponseWriter, r *http.Request, req authRequest, iss, code, desc string) {
	u, _ := url.Parse(req.redirect)
	q := u.Query()
	q.Set("error", code)
	q.Set("error_description", desc)
	q.Set("iss", iss)
	if req.state != "" {
		q.Set("state", req.state)
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// tokenError is an OAuth error response (RFC 6749 5.2).
type tokenError struct {
	status      int
	code, descr string
	retryAfter  time.Duration
}

func (e *tokenError) Error() string { return e.code + ": " + e.descr }

func grantErr(descr string) error {
	return &tokenError{status: http.StatusBadRequest, code: "invalid_grant", descr: descr}
}
func requestErr(descr string) error {
	return &tokenError{status: http.StatusBadRequest, code: "invalid_request", descr: descr}
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.cors(w, r)
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeTokenError(w, requestErr("malformed form body"))
		return
	}
	f := r.PostForm
	c, ok := s.clients[f.Get("client_id")]
	if !ok {
		writeTokenError(w, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", descr: "unknown client_id"})
		return
	}
	var resp map[string]any
	var err error
	switch f.Get("grant_type") {
	case "authorization_code":
		resp, err = s.codeGrant(r.Context(), c, f)
	case "refresh_token":
		resp, err = s.refreshGrant(r.Context(), c, f)
	case "password":
		resp, err = s.passwordGrant(r, c, f)
	default:
		err = &tokenError{status: http.StatusBadRequest, code: "unsupported_grant_type", descr: "grant_type must be authorization_code, refresh_token or password"}
	}
	if err != nil {
		writeTokenError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) codeGrant(ctx context.Context, c client, f url.Values) (map[string]any, error) {
	code, err := s.state.TakeCode(ctx, f.Get("code")) // single use, whatever happens next
	switch {
	case errors.Is(err, app.ErrNotFound) || errors.Is(err, app.ErrExpired):
		return nil, grantErr("unknown, used or expired code")
	case err != nil:
		return nil, err
	case code.Client != c.id:
		return nil, grantErr("code was issued to another client")
	case code.Redirect != f.Get("redirect_uri"):
		return nil, grantErr("redirect_uri differs from the authorization request")
	}
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	if !pkceChars.MatchString(f.Get("code_verifier")) || subtle.ConstantTimeCompare([]byte(got), []byte(code.Challenge)) != 1 {
		return nil, grantErr("code_verifier does not match code_challenge")
	}
	usr, ok := s.users.BySub(code.Sub)
	if !ok {
		return nil, grantErr("user no longer exists")
	}
	return s.issue(ctx, c.id, usr, code.Scope, code.Nonce, code.AuthTime, "")
}

// refreshGrant rotates a refresh token. A rotated-out token that comes back
// leaked: the store ends its whole family (RFC 9700 4.14.2), so the thief's
// copy dies with the user's, whichever replica either reaches.
func (s *Server) refreshGrant(ctx context.Context, c client, f url.Values) (map[string]any, error) {
	rt, err := s.state.UseRefresh(ctx, f.Get("refresh_token"), c.id)
	switch {
	case errors.Is(err, app.ErrReplayed):
		s.cfg.Log.Warn("refresh token replayed: family revoked", tracing.IDs(ctx))
		return nil, grantErr("refresh token was already used")
	case errors.Is(err, app.ErrNotFound):
		return nil, grantErr("unknown refresh token")
	case errors.Is(err, app.ErrExpired):
		return nil, grantErr("refresh token expired")
	case errors.Is(err, app.ErrWrongClient):
		return nil, grantErr("refresh token was issued to another client")
	case err != nil:
		return nil, err
	}
	usr, ok := s.users.BySub(rt.Sub)
	if !ok {
		return nil, grantErr("user no longer exists")
	}
	return s.issue(ctx, c.id, usr, rt.Scope, "", rt.AuthTime, rt.Family)
}

func (s *Server) passwordGrant(r *http.Request, c client, f url.Values) (map[string]any, error) {
	if !s.cfg.PasswordGrant || !c.password {
		return nil, &tokenError{status: http.StatusBadRequest, code: "unauthorized_client", descr: "the password grant is not enabled for this client"}
	}
	usr, err := s.authenticate(r, f.Get("username"), f.Get("password"))
	var throttled errThrottled
	if errors.As(err, &throttled) {
		s.cfg.Log.Info("password grant throttled", tracing.IDs(r.Context()), zap.String("username", f.Get("username")))
		return nil, &tokenError{status: http.StatusTooManyRequests, code: "temporarily_unavailable", descr: throttled.Error(),
			retryAfter: throttled.wait}
	}
	if err != nil {
		s.cfg.Log.Info("password grant refused", tracing.IDs(r.Context()), zap.String("username", f.Get("username")))
		return nil, grantErr("wrong username or password")
	}
	scope := f.Get("scope")
	if scope == "" {
		scope = "openid profile offline_access"
	}
	return s.issue(r.Context(), c.id, usr, scope, "", s.cfg.Now(), "")
}

// issue mints an access token, an id token and a new refresh token.
func (s *Server) issue(ctx context.Context, clientID string, usr files.User, scope, nonce string, authTime time.Time, family string) (map[string]any, error) {
	now := s.cfg.Now()
	exp := now.Add(s.cfg.AccessTTL)
	common := map[string]any{"iss": s.cfg.Issuer, "sub": usr.Sub, "iat": now.Unix(), "exp": exp.Unix(),
		"preferred_username": usr.Username, "groups": append([]string{}, usr.Groups...)}
	if usr.Email != "" {
		common["email"] = usr.Email
	}
	access := map[string]any{"aud": s.cfg.Audience, "client_id": clientID, "scope": scope, "jti": app.RandomString()}
	id := map[string]any{"aud": clientID, "azp": clientID, "auth_time": authTime.Unix()}
	if nonce != "" {
		id["nonce"] = nonce
	}
	for k, v := range common {
		access[k], id[k] = v, v
	}
	at, err := s.keys.Sign(access)
	if err != nil {
		return nil, err
	}
	it, err := s.keys.Sign(id)
	if err != nil {
		return nil, err
	}
	refresh, err := s.state.IssueRefresh(ctx, app.Refresh{Client: clientID, Sub: usr.Sub, Scope: scope, Family: family,
		AuthTime: authTime})
	if errors.Is(err, app.ErrRevoked) {
		return nil, grantErr("refresh token was revoked")
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": int(s.cfg.AccessTTL.Seconds()),
		"refresh_token": refresh, "id_token": it, "scope": scope}, nil
}

// cors lets the web app's origins call the token endpoint from the browser.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	for _, ru := range s.clients[ClientWeb].exact {
		if u, err := url.Parse(ru); err == nil && u.Scheme+"://"+u.Host == origin {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type")
			h.Set("Access-Control-Max-Age", "600")
			h.Add("Vary", "Origin")
			return
		}
	}
}

func writeTokenError(w http.ResponseWriter, err error) {
	var te *tokenError
	if !errors.As(err, &te) {
		te = &tokenError{status: http.StatusInternalServerError, code: "server_error", descr: "cannot issue tokens"}
	}
	if te.retryAfter > 0 {
		limit.RetryAfter(w.Header(), te.retryAfter)
	}
	writeJSON(w, te.status, map[string]string{"error": te.code, "error_description": te.descr})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

type pageData struct {
	LoginID, Client, Username, Error string
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · pertitle</title>
<style>
body{font-family:system-ui,sans-serif;background:#f4f5f7;display:flex;justify-content:center;padding-top:10vh;margin:0}
main{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002;width:20rem}
h1{font-size:1.3rem;margin:0 0 1rem}label{display:block;margin:.8rem 0 .2rem}
input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
button{margin-top:1.2rem;width:100%;padding:.6rem;font-size:1rem;background:#2557d6;color:#fff;border:0;border-radius:4px}
.error{color:#b00020}.hint{color:#666;font-size:.85rem}
</style></head><body><main>
<h1>Sign in to pertitle</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
{{if .LoginID}}<form method="post" action="/authorize">
<input type="hidden" name="login_id" value="{{.LoginID}}">
<label for="username">Username</label><input id="username" name="username" autocomplete="username" value="{{.Username}}" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
<p class="hint">Signing in to {{.Client}}.</p>
</form>{{end}}
</main></body></html>
`))

func (s *Server) page(w http.ResponseWriter, code int, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	if err := loginPage.Execute(w, d); err != nil {
		s.cfg.Log.Warn("cannot render the login page", zap.Error(err))
	}
}
