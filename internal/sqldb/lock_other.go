//go:build !unix

package sqldb

// lockFile does nothing where flock is missing: one process per database file.
func lockFile(string) (func() error, error) { return func() error { return nil }, nil }
