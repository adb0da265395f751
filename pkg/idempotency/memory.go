package idempotency

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Memory is the Store of one process: nothing is shared with other replicas
// and nothing survives a restart.
type Memory struct {
	mu     sync.Mutex
	claims map[string]*entry
	calls  int
}

type entry struct {
	state    State
	token    string
	attempts int
	expires  time.Time // lease end (running), end of keep (done); failed: claimable
}

// NewMemory returns an empty memory store.
func NewMemory() *Memory { return &Memory{claims: map[string]*entry{}} }

// purgeEvery is how many claims pass between sweeps of the expired entries.
const purgeEvery = 1024

// Claim implements Store.
func (m *Memory) Claim(_ context.Context, key string, lease time.Duration) (Claim, error) {
	if err := checkClaim(key, lease); err != nil {
		return Claim{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if m.calls++; m.calls%purgeEvery == 0 {
		for k, e := range m.claims {
			if !now.Before(e.expires) {
				delete(m.claims, k)
			}
		}
	}
	e, ok := m.claims[key]
	if ok && e.state != Failed && now.Before(e.expires) {
		c := Claim{Key: key, State: e.state}
		if e.state == Running {
			c.Wait = e.expires.Sub(now)
		}
		return c, nil
	}
	if !ok {
		e = &entry{}
		m.claims[key] = e
	}
	e.state, e.token, e.expires = Running, uuid.NewString(), now.Add(lease)
	e.attempts++
	return Claim{Key: key, Won: true, Token: e.token, Attempt: e.attempts, State: Running}, nil
}

// held returns the entry c holds, or ErrLost.
func (m *Memory) held(c Claim) (*entry, error) {
	if err := checkHeld(c); err != nil {
		return nil, err
	}
	e, ok := m.claims[c.Key]
	if !ok || e.token != c.Token || e.state != Running {
		return nil, ErrLost
	}
	return e, nil
}

// Extend implements Store.
func (m *Memory) Extend(_ context.Context, c Claim, lease time.Duration) error {
	if err := checkClaim(c.Key, lease); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.held(c)
	if err != nil {
		return err
	}
	e.expires = time.Now().Add(lease)
	return nil
}

// Done implements Store.
func (m *Memory) Done(_ context.Context, c Claim, keep time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.held(c)
	if err != nil {
		return err
	}
	e.state, e.expires = Done, time.Now().Add(keep)
	return nil
}

// Fail implements Store.
func (m *Memory) Fail(_ context.Context, c Claim) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.held(c)
	if err != nil {
		return err
	}
	e.state, e.expires = Failed, time.Now()
	return nil
}

// Ping implements Store.
func (m *Memory) Ping(context.Context) error { return nil }

// Close implements Store.
func (m *Memory) Close() error { return nil }
