package app

import (
	"context"
	"time"
)

// DirectSession is a resumable upload whose parts go straight to storage: the
// session as clients see it, plus the object it becomes and the storage's
// multipart upload id.
type DirectSession struct {
	Session
	AssetID  string
	Key      string
	UploadID string
	// ObjectDone: the multipart upload was completed into the object Key (a
	// retried completion goes on from there).
	ObjectDone bool
	// Announcing: the object is being, or may have been, announced as an
	// asset's source; nothing but the asset's deletion may remove it now.
	Announcing bool
	// LeaseUntil bounds a completion in progress: past it (its process died),
	// another may take the session over.
	LeaseUntil time.Time
}

// SessionStore keeps direct upload sessions where every replica of ingest sees
// them (a SQLite file, or PostgreSQL shared by replicas). Every method is atomic.
type SessionStore interface {
	Create(ctx context.Context, s DirectSession) error
	// Get returns a session, expired or not; ErrSessionNotFound when there is none.
	Get(ctx context.Context, id string) (DirectSession, error)
	// Claim moves a session to SessionCompleting until leaseUntil, from
	// SessionUploading or from a completion whose lease ran out before now;
	// false when it is neither (another completion holds it).
	Claim(ctx context.Context, id string, now, leaseUntil time.Time) (bool, error)
	// Extend moves the lease of a completion from held (the lease its
	// holder last set) to until; false when the lease is no longer held
	// (it ran out and another completion took the session, or it is gone).
	Extend(ctx context.Context, id string, held, until time.Time) (bool, error)
	// Release puts a claimed session back to SessionUploading, recording
	// whether its object is done, and its new expiry; it is no longer announcing.
	Release(ctx context.Context, id string, objectDone bool, expires time.Time) error
	// Announcing marks a claimed session whose object is about to be announced.
	Announcing(ctx context.Context, id string) error
	// Touch slides the expiry of a live session.
	Touch(ctx context.Context, id string, expires time.Time) error
	Delete(ctx context.Context, id string) error
	// Usage is what owner has open: sessions and their declared bytes.
	Usage(ctx context.Context, owner string, now time.Time) (sessions int, bytes int64, err error)
	// Expired lists up to limit sessions past their expiry and not under a lease.
	Expired(ctx context.Context, now time.Time, limit int) ([]DirectSession, error)
	Ping(ctx context.Context) error
	Close() error
}
