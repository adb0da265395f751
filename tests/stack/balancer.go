package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testenv"
)

// replicate turns each service of the list into n replicas (Replica(service,
// i)), each with its own ports, and puts a round-robin proxy on the port of
// each HTTP service, where every URL of the stack points.
func (s *Stack) replicate(t testing.TB, services []string, n int) []string {
	var out []string
	for _, name := range services {
		var names []string
		for i := 1; i <= n; i++ {
			names = append(names, Replica(name, i))
		}
		out = append(out, names...)
		if listenVars[name][0] == "" {
			continue
		}
		backends := make([]string, 0, n)
		for _, r := range names {
			s.Ports[r] = testenv.FreePort(t)
			backends = append(backends, fmt.Sprintf("127.0.0.1:%d", s.Ports[r]))
		}
		s.Balancers[name] = startBalancer(t, s.Ports[name], backends)
	}
	return out
}

// Balancer is a round-robin HTTP proxy in front of a service's replicas, as
// a load balancer is: each request goes to the next replica that accepts a
// connection, so that a dead replica costs its requests in flight, not the
// next ones.
type Balancer struct {
	backends []string
	next     atomic.Uint64
	// Served counts the requests each backend accepted, by address.
	served []atomic.Int64
}

// Served is how many requests the replica at index i (Replica(service, i+1)) was handed.
func (b *Balancer) Served(i int) int64 { return b.served[i].Load() }

func startBalancer(t testing.TB, port int, backends []string) *Balancer {
	b := &Balancer{backends: backends, served: make([]atomic.Int64, len(backends))}
	dialer := &net.Dialer{Timeout: 2 * time.Second}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "replicas"
			r.Out.Host = r.In.Host
			r.SetXForwarded()
		},
		// One connection per request, so that each request is balanced anew.
		Transport: &http.Transport{DisableKeepAlives: true, ResponseHeaderTimeout: 5 * time.Minute,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return b.dial(ctx, dialer, network)
			}},
		FlushInterval: -1,
		// A request cut off by a killed replica is the test's to see, as a
		// 502, not a line on the test's output.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	require.NoError(t, err)
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return b
}

// dial connects to the next backend in turn, passing over those that refuse.
func (b *Balancer) dial(ctx context.Context, d *net.Dialer, network string) (net.Conn, error) {
	start := b.next.Add(1)
	var errs []error
	for k := range b.backends {
		i := int((start + uint64(k)) % uint64(len(b.backends)))
		c, err := d.DialContext(ctx, network, b.backends[i])
		if err == nil {
			b.served[i].Add(1)
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}
