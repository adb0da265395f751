// Package app holds the catalog's use cases: projecting events into the repository
// and answering queries about assets.
package app

import (
	"context"
	"time"

	"github.com/pertitle/pertitle/services/catalog/internal/domain"
)

// EventKey identifies an event handled by one consumer; a repository applies each
// key at most once.
type EventKey struct {
	Consumer string
	EventID  string
}

// UpdateFunc computes the new state of an asset from its current one (the zero Asset
// with only ID set when it does not exist yet). It returns changed=false to write nothing.
type UpdateFunc func(current domain.Asset) (next domain.Asset, changed bool, err error)

// ListFilter selects assets. Owner and Status are optional; Limit is clamped by the
// caller; Cursor is the NextCursor of a previous page.
type ListFilter struct {
	Owner  string
	Status domain.Status
	Limit  int
	Cursor string
}

// Page is one page of assets, newest first. NextCursor is empty on the last page.
type Page struct {
	Assets     []domain.Asset
	NextCursor string
}

// PageOf is the page of at most limit assets from assets, which a repository
// read with one more than limit to tell whether another page exists: then
// the page ends at limit and its cursor points after its last asset.
func PageOf(assets []domain.Asset, limit int) Page {
	p := Page{Assets: assets}
	if len(assets) > limit {
		p.Assets = assets[:limit]
		last := p.Assets[limit-1]
		p.NextCursor = Cursor{CreatedAt: last.CreatedAt, ID: last.ID}.Encode()
	}
	return p
}

// Repository stores the projection. Implementations: SQLite (adapters/sqlite) and
// PostgreSQL (adapters/postgres); each passes apptest.RunRepositoryContract.
type Repository interface {
	// Update reads asset id, calls fn and stores its result, and records key, all in
	// one transaction. When key was already recorded it calls nothing and returns
	// applied=false: an event redelivered has one effect. fn may run more than once
	// if the implementation retries a conflicting transaction, so it must be pure.
	Update(ctx context.Context, key EventKey, id string, fn UpdateFunc) (applied bool, err error)
	// Get returns the asset or an error wrapping domain.ErrNotFound.
	Get(ctx context.Context, id string) (domain.Asset, error)
	// List returns a page of assets, newest (created_at) first. A malformed cursor
	// returns an error wrapping ErrInvalidCursor.
	List(ctx context.Context, f ListFilter) (Page, error)
	// Ping checks the database is usable (readiness).
	Ping(ctx context.Context) error
	// Delete removes asset id and leaves a tombstone in its place, recording key
	// as Update does (applied=false for a key seen before). From then on Update of
	// id returns an error wrapping domain.ErrDeleted and Get domain.ErrNotFound.
	// Deleting an asset that does not exist only leaves the tombstone.
	Delete(ctx context.Context, key EventKey, id string, at time.Time) (applied bool, err error)
	// Deleted reports whether id has a tombstone.
	Deleted(ctx context.Context, id string) (bool, error)
	// SaveRequest keeps r as the latest encoding request of asset id unless a
	// newer one (At) is kept already. A tombstoned id returns domain.ErrDeleted.
	SaveRequest(ctx context.Context, id string, r domain.Request) error
	// LatestRequest returns the latest request of asset id, or domain.ErrNotFound.
	LatestRequest(ctx context.Context, id string) (domain.Request, error)
}
