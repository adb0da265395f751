// Package service wires the local issuer: configuration, keys, users, HTTP; and
// its two maintenance commands, add-user and rotate-key.
package service

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/internal/sqldb"
	"github.com/pertitle/pertitle/pkg/limit"
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/services/issuer/internal/adapters/files"
	"github.com/pertitle/pertitle/services/issuer/internal/adapters/sqlstore"
	"github.com/pertitle/pertitle/services/issuer/internal/app"
	"github.com/pertitle/pertitle/services/issuer/internal/ports/oidc"
)

// Name is the service name in logs and metrics.
const Name = "issuer"

// Config is the issuer's configuration.
type Config struct {
	Addr      string
	OpsAddr   string
	URL       string
	Audience  string
	UsersFile string
	KeyFile   string
	// DB keeps the sign-in state: a SQLite file, or a postgres:// URL shared by replicas.
	DB              string
	WebRedirectURIs string
	AccessTTL       time.Duration
	RefreshTTL      time.Duration
	PasswordGrant   bool
	SignIn          oidc.SignInLimits
	Proxies         limit.Addresses
}

// FromEnv reads the configuration.
func (c *Config) FromEnv(e *svc.Env) {
	e.String(&c.Addr, "PERTITLE_ISSUER_ADDR", "127.0.0.1:8084", "listen address of the OIDC endpoints, /healthz and /readyz (ready or not)")
	e.String(&c.OpsAddr, "PERTITLE_ISSUER_OPS_ADDR", "127.0.0.1:9084", "listen address of /readyz with details and /metrics (keep it private)")
	e.String(&c.URL, "PERTITLE_ISSUER_URL", "http://127.0.0.1:8084", "issuer URL (iss of its tokens; discovery is served under it)")
	e.String(&c.Audience, "PERTITLE_OIDC_AUDIENCE", "pertitle", "aud of the access tokens it issues (what the services accept)")
	e.String(&c.UsersFile, "PERTITLE_ISSUER_USERS", "var/users.json", "users file: username, bcrypt password_hash, sub, groups (`issuer add-user` writes it)")
	e.String(&c.KeyFile, "PERTITLE_ISSUER_KEY", "var/issuer-key.pem", "signing keys, PEM, newest first (created if missing with a SQLite PERTITLE_ISSUER_DB; replicas must share one file; `issuer rotate-key` rotates)")
	e.String(&c.DB, "PERTITLE_ISSUER_DB", "var/issuer.db", "sign-in state (authorization codes, refresh tokens, the form seal key): SQLite file, or a postgres:// URL shared by replicas")
	e.String(&c.WebRedirectURIs, "PERTITLE_ISSUER_WEB_REDIRECT_URIS", "http://127.0.0.1:8080/,http://localhost:8080/", "comma-separated redirect URIs of the pertitle-web client")
	e.Duration(&c.AccessTTL, "PERTITLE_ISSUER_ACCESS_TTL", 15*time.Minute, "lifetime of access and id tokens")
	e.Duration(&c.RefreshTTL, "PERTITLE_ISSUER_REFRESH_TTL", 30*24*time.Hour, "lifetime of refresh tokens (rotated on every use)")
	e.Bool(&c.PasswordGrant, "PERTITLE_ISSUER_PASSWORD_GRANT", true, "let pertitle-cli exchange a local user's password for tokens (scripts)")
	d := oidc.DefaultSignInLimits
	e.Int(&c.SignIn.UserFailures, "PERTITLE_ISSUER_SIGNIN_USER_FAILURES", d.UserFailures, "wrong passwords for one user name before its sign-ins back off (refused with 429, right password or not)")
	e.Int(&c.SignIn.AddressFailures, "PERTITLE_ISSUER_SIGNIN_ADDRESS_FAILURES", d.AddressFailures, "wrong passwords from one client address before its sign-ins back off")
	e.Duration(&c.SignIn.Backoff, "PERTITLE_ISSUER_SIGNIN_BACKOFF", d.Backoff, "first back-off wait; doubles with each further wrong password")
	e.Duration(&c.SignIn.BackoffMax, "PERTITLE_ISSUER_SIGNIN_BACKOFF_MAX", d.BackoffMax, "longest back-off wait (and how long after it failures are remembered)")
	e.Int(&c.SignIn.AddressPerMinute, "PERTITLE_ISSUER_SIGNIN_ADDRESS_PER_MINUTE", d.AddressPerMinute, "password checks one client address may cause per minute, right or wrong (bcrypt is costly)")
	e.TrustedProxies(&c.Proxies)
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var v svc.Validation
	v.Check(svc.ValidAddr(c.Addr), "PERTITLE_ISSUER_ADDR %q is not a listen address", c.Addr)
	v.Check(svc.ValidAddr(c.OpsAddr), "PERTITLE_ISSUER_OPS_ADDR %q is not a listen address", c.OpsAddr)
	u, err := url.Parse(c.URL)
	v.Check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.RawQuery == "",
		"PERTITLE_ISSUER_URL %q must be an http(s) URL", c.URL)
	v.Check(c.Audience != "", "PERTITLE_OIDC_AUDIENCE is empty")
	v.Check(c.UsersFile != "", "PERTITLE_ISSUER_USERS is empty")
	v.Check(c.KeyFile != "", "PERTITLE_ISSUER_KEY is empty")
	if err := sqldb.Check(c.DB); err != nil {
		v.Check(false, "PERTITLE_ISSUER_DB: %v", err)
	}
	for _, r := range splitList(c.WebRedirectURIs) {
		ru, err := url.Parse(r)
		v.Check(err == nil && ru.IsAbs() && ru.Fragment == "", "PERTITLE_ISSUER_WEB_REDIRECT_URIS: %q is not an absolute URL", r)
	}
	v.Check(c.AccessTTL >= time.Minute && c.AccessTTL <= 24*time.Hour, "PERTITLE_ISSUER_ACCESS_TTL must be between 1m and 24h")
	v.Check(c.RefreshTTL >= c.AccessTTL, "PERTITLE_ISSUER_REFRESH_TTL must be at least the access TTL")
	v.Check(c.SignIn.UserFailures >= 1, "PERTITLE_ISSUER_SIGNIN_USER_FAILURES must be at least 1")
	v.Check(c.SignIn.AddressFailures >= 1, "PERTITLE_ISSUER_SIGNIN_ADDRESS_FAILURES must be at least 1")
	v.Check(c.SignIn.Backoff >= time.Second, "PERTITLE_ISSUER_SIGNIN_BACKOFF must be at least 1s")
	v.Check(c.SignIn.BackoffMax >= c.SignIn.Backoff, "PERTITLE_ISSUER_SIGNIN_BACKOFF_MAX must be at least PERTITLE_ISSUER_SIGNIN_BACKOFF")
	v.Check(c.SignIn.AddressPerMinute >= 1, "PERTITLE_ISSUER_SIGNIN_ADDRESS_PER_MINUTE must be at least 1")
	return v.Err()
}

// Run is the issuer process, or one of its commands:
//
//	issuer                                   serve
//	issuer add-user NAME [--groups a,b] [--password-stdin]
//	issuer rotate-key [--keep N]
func Run(ctx context.Context, log *zap.Logger, args []string) error {
	return run(ctx, log, args, svc.NewEnv(Name), os.Stdin, os.Stdout)
}

func run(ctx context.Context, log *zap.Logger, args []string, env *svc.Env, stdin io.Reader, stdout io.Writer) error {
	var cfg Config
	cfg.FromEnv(env)
	if len(args) > 0 {
		switch args[0] {
		case "add-user":
			return addUser(cfg, args[1:], stdin, stdout)
		case "rotate-key":
			return rotateKey(cfg, args[1:], stdout)
		}
	}
	if err := env.Parse(args, stdout); err != nil {
		if errors.Is(err, svc.ErrHelp) {
			fmt.Fprint(stdout, "\nCommands:\n  issuer add-user NAME [--groups a,b] [--cost N]   (password on stdin)\n  issuer rotate-key [--keep N]\n")
		}
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	log.Info("starting", zap.Any("config", env.Fields()))
	keys, err := loadKeys(cfg)
	if err != nil {
		return fmt.Errorf("cannot load signing keys: %w", err)
	}
	users, err := files.LoadUsers(cfg.UsersFile)
	if err != nil {
		return fmt.Errorf("cannot load users (create one with `issuer add-user NAME`): %w", err)
	}
	store, err := sqlstore.Open(ctx, cfg.DB)
	if err != nil {
		return err
	}
	defer store.Close()
	ops := svc.NewOps(Name)
	ops.AddCheck("state", store.Ping)
	h, err := handler(ctx, cfg, keys, users, store, ops, log)
	if err != nil {
		return err
	}
	return svc.Together(ctx,
		func(ctx context.Context) error { return svc.Serve(ctx, log, svc.NewServer(cfg.Addr, h)) },
		func(ctx context.Context) error { return ops.Serve(ctx, log, cfg.OpsAddr) })
}

// loadKeys reads the signing keys. With a SQLite state (one issuer) a missing
// key file is created; issuers sharing a PostgreSQL state are replicas, which
// must sign with the same keys (their JWKS must agree, whichever one a service
// asks): the file must then exist, mounted from one secret into each.
func loadKeys(cfg Config) (*files.KeySet, error) {
	if sqldb.IsPostgresURL(cfg.DB) {
		if _, err := os.Stat(cfg.KeyFile); err != nil {
			return nil, fmt.Errorf("%w (with a shared PERTITLE_ISSUER_DB every replica reads one key file, created by `issuer rotate-key` and mounted from a secret)", err)
		}
	}
	return files.LoadKeyFile(cfg.KeyFile)
}

// Handler serves the OIDC endpoints and the public health endpoints, with its
// sign-in state in store.
func Handler(ctx context.Context, cfg Config, keys *files.KeySet, users *files.Users, store app.Store, log *zap.Logger) (http.Handler, error) {
	return handler(ctx, cfg, keys, users, store, svc.NewOps(Name), log)
}

// handler is Handler with the ops whose metrics the requests feed.
func handler(ctx context.Context, cfg Config, keys *files.KeySet, users *files.Users, store app.Store, ops *svc.Ops, log *zap.Logger) (http.Handler, error) {
	state := &app.State{Store: store, Now: time.Now, RefreshTTL: cfg.RefreshTTL}
	seal, err := state.SealKey(ctx)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	ops.Register(mux)
	oidc.New(oidc.Config{Issuer: cfg.URL, Audience: cfg.Audience, WebRedirectURIs: splitList(cfg.WebRedirectURIs),
		AccessTTL: cfg.AccessTTL, RefreshTTL: cfg.RefreshTTL, PasswordGrant: cfg.PasswordGrant, SignIn: cfg.SignIn,
		Addresses: cfg.Proxies, SealKey: seal, Log: log}, keys, users, state).
		Register(mux)
	return ops.Metrics.Instrument("issuer", mux), nil
}

func addUser(cfg Config, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("add-user", flag.ContinueOnError)
	groups := fs.String("groups", "", "comma-separated groups (admin sees every asset)")
	cost := fs.Int("cost", 0, "bcrypt cost (default 10)")
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if name == "" && fs.NArg() == 1 {
		name = fs.Arg(0)
	}
	if name == "" {
		return errors.New("usage: issuer add-user NAME [--groups a,b] < password")
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	usr, err := files.PutUser(cfg.UsersFile, name, strings.TrimRight(line, "\r\n"), splitList(*groups), *cost)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "user %s (sub %s) saved in %s\n", usr.Username, usr.Sub, cfg.UsersFile)
	return nil
}

func rotateKey(cfg Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("rotate-key", flag.ContinueOnError)
	keep := fs.Int("keep", 1, "previous keys kept (still published, so their tokens stay valid until they expire)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := files.RotateKeyFile(cfg.KeyFile, *keep); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "new signing key in %s; restart the issuer to use it\n", cfg.KeyFile)
	return nil
}
