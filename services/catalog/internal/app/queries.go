package app

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pertitle/pertitle/services/catalog/internal/domain"
)

// Page sizes of List.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// ErrInvalidCursor is returned for a cursor no List produced.
var ErrInvalidCursor = errors.New("invalid cursor")

// Cursor is the position after the last asset of a page in (created_at, id) order.
// Every repository encodes it the same way so that cursors survive a change of database.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// Encode returns the opaque form handed to clients.
func (c Cursor) Encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreatedAt.UnixNano(), 10) + ":" + c.ID))
}

// DecodeCursor parses an encoded cursor; the empty string is the first page.
func DecodeCursor(s string) (Cursor, bool, error) {
	if s == "" {
		return Cursor{}, false, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, false, ErrInvalidCursor
	}
	ns, id, ok := strings.Cut(string(raw), ":")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || !domain.ValidID(id) {
		return Cursor{}, false, ErrInvalidCursor
	}
	return Cursor{CreatedAt: time.Unix(0, n).UTC(), ID: id}, true, nil
}

// Queries answers reads.
type Queries struct{ repo Repository }

// NewQueries returns the read side over repo.
func NewQueries(repo Repository) *Queries { return &Queries{repo: repo} }

// Get returns one asset; errors wrap domain.ErrInvalidID or domain.ErrNotFound.
func (q *Queries) Get(ctx context.Context, id string) (domain.Asset, error) {
	if !domain.ValidID(id) {
		return domain.Asset{}, domain.ErrInvalidID
	}
	return q.repo.Get(ctx, id)
}

// List returns a page of assets, newest first. Limit 0 means DefaultLimit; larger
// than MaxLimit is clamped. Errors wrap domain.ErrInvalidStatus or ErrInvalidCursor.
func (q *Queries) List(ctx context.Context, f ListFilter) (Page, error) {
	switch {
	case f.Limit <= 0:
		f.Limit = DefaultLimit
	case f.Limit > MaxLimit:
		f.Limit = MaxLimit
	}
	if f.Status != "" && !f.Status.Valid() {
		return Page{}, domain.ErrInvalidStatus
	}
	if _, _, err := DecodeCursor(f.Cursor); err != nil {
		return Page{}, err
	}
	p, err := q.repo.List(ctx, f)
	if err != nil {
		return Page{}, fmt.Errorf("cannot list assets: %w", err)
	}
	return p, nil
}
