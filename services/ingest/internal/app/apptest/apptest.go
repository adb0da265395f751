// Package apptest holds what ingest's tests and fuzzers share: a publisher
// that encodes events as the bus does, and the real probe remembered by
// content.
package apptest

import (
	"context"
	"crypto/sha256"
	"os"
	"sync"

	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/services/ingest/internal/app"
)

// WirePublisher encodes each event as the bus does before sending it (for
// SQS), and keeps it.
type WirePublisher struct {
	mu  sync.Mutex
	got []*eventsv1.Envelope
}

// Publish implements app.Publisher.
func (p *WirePublisher) Publish(_ context.Context, env *eventsv1.Envelope) error {
	if _, err := events.Marshal(env); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, env)
	return nil
}

// Take returns the events published since the last Take.
func (p *WirePublisher) Take() []*eventsv1.Envelope {
	p.mu.Lock()
	defer p.mu.Unlock()
	got := p.got
	p.got = nil
	return got
}

// CachingProber is a real probe (ffprobe and a decode) remembered by the
// file's content, so that a fuzzer sending the same file again and again
// does not wait for it each time.
type CachingProber struct {
	Real app.Prober
	mu   sync.Mutex
	seen map[[32]byte]probed
}

type probed struct {
	src *media.Source
	err error
}

// Probe implements app.Prober.
func (c *CachingProber) Probe(ctx context.Context, path string) (*media.Source, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	c.mu.Lock()
	p, ok := c.seen[sum]
	c.mu.Unlock()
	if !ok {
		p.src, p.err = c.Real.Probe(ctx, path)
		c.mu.Lock()
		if c.seen == nil {
			c.seen = map[[32]byte]probed{}
		}
		c.seen[sum] = p
		c.mu.Unlock()
	}
	return p.src, p.err
}
