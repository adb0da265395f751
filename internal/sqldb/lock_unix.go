//go:build unix

package sqldb

import (
	"fmt"
	"os"
	"syscall"
)

// lockFile holds an exclusive flock on path (created if needed), blocking while
// another process migrates the same file; a file of its own, since closing a
// descriptor of the database would drop SQLite's POSIX locks.
func lockFile(path string) (unlock func() error, err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open the migration lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cannot take the migration lock: %w", err)
	}
	return f.Close, nil
}
