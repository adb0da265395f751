//go:build !unix

package sqlite

import "context"

// lockFile does nothing where flock is missing: one catalog per database file.
func lockFile(context.Context, string) (func() error, error) { return func() error { return nil }, nil }
