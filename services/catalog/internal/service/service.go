// Package service wires the catalog: configuration, adapters, the projection on the
// bus, and the HTTP server.
package service

import (
	"context"
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/api"
	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/limit"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/services/catalog/internal/analytics"
	"github.com/pertitle/pertitle/services/catalog/internal/app"
	"github.com/pertitle/pertitle/services/catalog/internal/domain"
	cataloghttp "github.com/pertitle/pertitle/services/catalog/internal/ports/http"
	"github.com/pertitle/pertitle/services/catalog/internal/ports/messages"
	"github.com/pertitle/pertitle/services/catalog/internal/webapp"
)

// Deps are the adapters the catalog runs on. Component tests pass their own.
type Deps struct {
	Repo    app.Repository  // required
	Storage storage.Storage // required: media is served from it
	Log     *zap.Logger     // optional
	Ops     *svc.Ops        // optional: health and metrics; a fresh one if nil
	// Auth checks the bearer tokens of the API (an *auth.Verifier in production).
	// Nil: API calls must already carry an auth.Principal in their context, so
	// over HTTP every API call is refused with 401.
	Auth auth.TokenVerifier
	// Pub publishes what DELETE and retry announce (the bus). Nil: those two
	// routes answer 503.
	Pub app.Publisher
}

// Service is a wired catalog without its transports: Handler serves HTTP and
// Messages handles events, as the bus would deliver them.
type Service struct {
	cfg        Config
	deps       Deps
	projection *app.Projection
	queries    *app.Queries
	handler    http.Handler
	routes     []string // the patterns Handler serves
}

// New wires the catalog over deps. It only reads cfg.MediaBaseURL: adapters are the caller's.
func New(cfg Config, deps Deps) (*Service, error) {
	if deps.Repo == nil || deps.Storage == nil {
		return nil, errors.New("catalog: Repo and Storage are required")
	}
	if deps.Log == nil {
		deps.Log = zap.NewNop()
	}
	if deps.Ops == nil {
		deps.Ops = svc.NewOps(Name)
	}
	s := &Service{
		cfg:        cfg,
		deps:       deps,
		projection: app.NewProjection(deps.Repo, app.Consumer, deps.Log),
		queries:    app.NewQueries(deps.Repo),
	}
	s.projection.Storage = deps.Storage
	var commands cataloghttp.Commands
	if deps.Pub != nil {
		commands = app.NewCommands(deps.Repo, deps.Pub, Name)
	}
	deps.Ops.AddCheck("db", deps.Repo.Ping)
	deps.Ops.AddCheck("storage", deps.Storage.Ping)

	mux := http.NewServeMux()
	routes := &svc.Routes{Mux: mux}
	deps.Ops.Register(routes)
	routes.Handle("GET "+api.Path, api.Handler())
	var signer *cataloghttp.Signer
	if cfg.MediaSigningKey != "" {
		signer = cataloghttp.NewSigner([]byte(cfg.MediaSigningKey), cfg.MediaURLTTL)
	}
	httpCfg := cataloghttp.Config{MediaBaseURL: cfg.MediaBaseURL, Signer: signer}
	optional := func(h http.Handler) http.Handler { return h }
	if deps.Auth != nil {
		httpCfg.Authenticate = func(h http.Handler) http.Handler { return auth.Middleware(deps.Auth, h) }
		optional = func(h http.Handler) http.Handler { return auth.Optional(deps.Auth, h) }
	}
	httpCfg.Commands = commands
	cataloghttp.New(httpCfg, s.queries, deps.Storage, deps.Log).Register(routes, deps.Ops.Metrics)
	if store, ok := deps.Repo.(analytics.Store); ok {
		// Beacons take a bearer token or a beacon token, so the analytics routes get
		// the caller when there is one and decide themselves (reads need one).
		s.analytics(cfg, store, signer).Register(routes, wrapRoutes{deps.Ops.Metrics, optional})
	}
	// The web app takes every GET the API and media routes do not match.
	webCfg := cfg.Web
	webCfg.MediaBaseURL = cfg.MediaBaseURL
	if cfg.Storage == storage.KindS3 {
		webCfg.UploadOrigin = cfg.S3.UploadOrigin() // ingest hands out part URLs there
	}
	webCfg.Issuer = cfg.Auth.Issuer // the app signs in where the API's tokens come from
	web, err := webapp.New(webCfg)
	if err != nil {
		return nil, err
	}
	web.Register(routes)
	s.routes = routes.Patterns
	s.handler = cataloghttp.Guard(mux)
	return s, nil
}

// wrapRoutes applies middleware to each route a Register(mux, Instrumenter)
// mounts, inside the metrics: per route, never around the whole mux.
type wrapRoutes struct {
	metrics *svc.Metrics
	wrap    func(http.Handler) http.Handler
}

func (w wrapRoutes) Instrument(route string, h http.Handler) http.Handler {
	return w.metrics.Instrument(route, w.wrap(h))
}

// analytics wires the player analytics endpoints (README "Player analytics").
func (s *Service) analytics(cfg Config, store analytics.Store, signer *cataloghttp.Signer) *analytics.Handler {
	h := &analytics.Handler{Store: store, Log: s.deps.Log,
		Addresses: cfg.Proxies,
		Owner: func(ctx context.Context, id string) (string, bool, error) {
			a, err := s.queries.Get(ctx, id)
			if errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrInvalidID) {
				return "", false, nil
			}
			return a.Owner, err == nil, err
		}}
	perMinute, burst := cfg.AnalyticsPerMinute, cfg.AnalyticsBurst
	if perMinute <= 0 {
		perMinute, burst = DefaultConfig().AnalyticsPerMinute, DefaultConfig().AnalyticsBurst // a Config built by hand
	}
	h.Limiter = limit.NewKeyed(limit.PerMinute(float64(perMinute)), burst, 0)
	if signer != nil {
		h.Tokens = signer
	}
	return h
}

// Handler serves the API, media, the web app, /healthz and a /readyz without
// details; Ops().Handler() serves the details and /metrics on the ops port.
func (s *Service) Handler() http.Handler { return s.handler }

// Ops is the service's health and metrics registry.
func (s *Service) Ops() *svc.Ops { return s.deps.Ops }

// Messages is the catalog's bus port over this service's projection; the
// failures it announces for dead letters go to pub.
func (s *Service) Messages(pub app.Publisher) *messages.Handlers {
	return &messages.Handlers{Projection: s.projection,
		DeadLetters: &app.DeadLetters{Pub: pub, Producer: Name, Log: s.deps.Log}}
}

// Subscribe registers the catalog's bus handlers on b, which also carries the
// failures announced for dead letters.
func (s *Service) Subscribe(b *bus.Bus) {
	s.Messages(b).Subscribe(b)
}
