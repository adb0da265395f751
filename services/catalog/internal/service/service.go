// Package service wires the catalog: configuration, adapters, the projection on the
// bus, and the HTTP server.
package service

import (
	"context"
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/pertitle/pertitle/pkg/bus"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/storage"
	"github.com/pertitle/pertitle/pkg/svc"
	"github.com/pertitle/pertitle/services/catalog/internal/app"
	cataloghttp "github.com/pertitle/pertitle/services/catalog/internal/ports/http"
)

// Deps are the adapters the catalog runs on. Component tests pass their own.
type Deps struct {
	Repo    app.Repository  // required
	Storage storage.Storage // required: media is served from it
	Log     *zap.Logger     // optional
	Ops     *svc.Ops        // optional: health and metrics; a fresh one if nil
}

// Service is a wired catalog without its transports: Handler serves HTTP and Project
// handles one event, as the bus would deliver it.
type Service struct {
	cfg        Config
	deps       Deps
	projection *app.Projection
	queries    *app.Queries
	handler    http.Handler
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
	deps.Ops.AddCheck("db", deps.Repo.Ping)
	deps.Ops.AddCheck("storage", deps.Storage.Ping)

	mux := http.NewServeMux()
	deps.Ops.Register(mux)
	cataloghttp.New(cataloghttp.Config{MediaBaseURL: cfg.MediaBaseURL}, s.queries, deps.Storage, deps.Log).
		Register(mux, deps.Ops.Metrics)
	s.handler = cataloghttp.Guard(mux)
	return s, nil
}

// Handler serves the API, media, /healthz, /readyz and /metrics.
func (s *Service) Handler() http.Handler { return s.handler }

// Ops is the service's health and metrics registry.
func (s *Service) Ops() *svc.Ops { return s.deps.Ops }

// Project handles one event; it is the bus handler of every subscribed topic. An
// event that can never be projected is returned as bus.Permanent so that it goes
// to the dead-letter queue at once instead of being retried.
func (s *Service) Project(ctx context.Context, env *eventsv1.Envelope) error {
	err := s.projection.Handle(ctx, env)
	if errors.Is(err, app.ErrInvalidEvent) {
		return bus.Permanent(err)
	}
	return err
}

// Topics are the topics the catalog consumes, as provisioned.
func Topics() []string {
	var out []string
	for _, sub := range bus.DefaultTopology().Subscriptions {
		if sub.Service == Name {
			out = append(out, sub.Topic)
		}
	}
	return out
}

// Subscribe registers Project on every topic the catalog consumes.
func (s *Service) Subscribe(b *bus.Bus) {
	for _, t := range Topics() {
		b.Subscribe(t, s.Project)
	}
}
