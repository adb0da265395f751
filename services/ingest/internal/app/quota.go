package app

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ErrQuota is an upload refused because its owner already has as much in flight
// as one user may: the HTTP port answers 429.
var ErrQuota = errors.New("upload quota reached")

// Quota bounds what one user has in flight: open upload sessions, and bytes of
// sessions (their declared size, from opening to completion or expiry) and of
// single uploads being received. Zero limits mean none. Counts live in memory;
// Sessions.Recover rebuilds the sessions' share at start-up.
type Quota struct {
	Sessions int
	Bytes    int64

	mu    sync.Mutex
	users map[string]*usage
}

type usage struct {
	sessions int
	bytes    int64
}

// reserve takes sessions and bytes from owner's quota, or nothing when either
// would go past its limit.
func (q *Quota) reserve(owner string, sessions int, bytes int64) error {
	if q == nil {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	u := q.user(owner)
	switch {
	case q.Sessions > 0 && sessions > 0 && u.sessions+sessions > q.Sessions:
		return fmt.Errorf("%w: %d upload sessions open, at most %d per user; complete or abort one (DELETE /v1/uploads/{id})",
			ErrQuota, u.sessions, q.Sessions)
	case q.Bytes > 0 && bytes > 0 && u.bytes+bytes > q.Bytes:
		q.drop(owner, u)
		return fmt.Errorf("%w: %d bytes of uploads in flight, at most %d per user; wait for them to finish",
			ErrQuota, u.bytes, q.Bytes)
	}
	u.sessions += sessions
	u.bytes += bytes
	return nil
}

// add counts what is already in flight, whatever the limits (Sessions.Recover).
func (q *Quota) add(owner string, sessions int, bytes int64) {
	if q == nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	u := q.user(owner)
	u.sessions += sessions
	u.bytes += bytes
}

// release gives back what reserve took.
func (q *Quota) release(owner string, sessions int, bytes int64) {
	if q == nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if u := q.users[owner]; u != nil {
		u.sessions -= sessions
		u.bytes -= bytes
		q.drop(owner, u)
	}
}

// user is owner's usage, counted from zero the first time; q.mu is held.
func (q *Quota) user(owner string) *usage {
	if q.users == nil {
		q.users = map[string]*usage{}
	}
	u := q.users[owner]
	if u == nil {
		u = &usage{}
		q.users[owner] = u
	}
	return u
}

func (q *Quota) drop(owner string, u *usage) {
	if u.sessions <= 0 && u.bytes <= 0 {
		delete(q.users, owner)
	}
}

// InFlight is what owner has in flight now.
func (q *Quota) InFlight(owner string) (sessions int, bytes int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if u := q.users[owner]; u != nil {
		return u.sessions, u.bytes
	}
	return 0, 0
}

// Hold is the share of one single upload in its owner's quota, growing as its
// bytes arrive; Release gives it back.
type Hold struct {
	q     *Quota
	owner string
	bytes int64
}

// Hold starts a single upload of owner, reserving expected bytes at once (its
// Content-Length; 0 when unknown).
func (q *Quota) Hold(owner string, expected int64) (*Hold, error) {
	if err := q.reserve(owner, 0, expected); err != nil {
		return nil, err
	}
	return &Hold{q: q, owner: owner, bytes: expected}, nil
}

// Reader counts r's bytes into the hold; reading past the quota fails with ErrQuota.
func (h *Hold) Reader(r io.Reader) io.Reader { return &heldReader{h: h, r: r} }

// Release gives the hold's bytes back.
func (h *Hold) Release() {
	h.q.release(h.owner, 0, h.bytes)
	h.bytes = 0
}

type heldReader struct {
	h    *Hold
	r    io.Reader
	read int64
}

func (hr *heldReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	hr.read += int64(n)
	if more := hr.read - hr.h.bytes; more > 0 {
		if qerr := hr.h.q.reserve(hr.h.owner, 0, more); qerr != nil {
			return n, qerr
		}
		hr.h.bytes += more
	}
	return n, err
}

// SweepStaging removes staged uploads (upload-*) in dir last written more than
// olderThan ago: what a crash left behind. A live upload writes its file
// continually and a probe takes minutes, so the age tells them apart.
func SweepStaging(dir string, olderThan time.Duration, now time.Time) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("cannot list staging dir: %w", err)
	}
	removed := 0
	var errs []error
	for _, e := range entries {
		if e.IsDir() || !strings.HasPrefix(e.Name(), "upload-") {
			continue
		}
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) <= olderThan {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}
