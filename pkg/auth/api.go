// Package auth verifies OIDC bearer tokens (JWTs) against an issuer's JWKS and
// tells handlers who is calling.
package auth

import (
	"context"
	"slices"
)

// AdminGroup is the group whose members see every asset.
const AdminGroup = "admin"

// Principal is the authenticated caller.
type Principal struct {
	// Subject is the token's `sub`: the owner id of the caller's assets.
	Subject  string
	Username string
	Email    string
	Groups   []string
}

// Admin reports whether the caller may see every user's assets.
func (p Principal) Admin() bool { return slices.Contains(p.Groups, AdminGroup) }

// CanAccess reports whether the caller may read an asset owned by owner.
func (p Principal) CanAccess(owner string) bool {
	return p.Admin() || (p.Subject != "" && p.Subject == owner)
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p (middleware, tests).
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the caller, if the request was authenticated.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
