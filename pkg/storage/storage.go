// Package storage is where sources and encoded outputs live. The filesystem adapter
// is the local default; an S3 adapter implements the same interface.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"
)

// ErrNotFound is returned for a key that holds no object.
var ErrNotFound = errors.New("object not found")

// ErrExists is returned by Create for a key that already holds an object.
var ErrExists = errors.New("object already exists")

// ErrInvalidKey is returned for keys that could escape the store.
var ErrInvalidKey = errors.New("invalid storage key")

// Object describes a stored object.
type Object struct {
	Key     string
	Size    int64
	ModTime time.Time
	// Set by stores that have them (S3); empty on the filesystem.
	ETag        string
	ContentType string
	VersionID   string
	// Metadata is the object's user metadata (x-amz-meta-*), keys in lower case.
	Metadata map[string]string
}

// ReadSeekCloser is what Open returns, so that ranges can be served.
type ReadSeekCloser interface {
	io.ReadSeeker
	io.Closer
}

// Storage keeps objects under slash-separated keys.
type Storage interface {
	// Put streams r into key, replacing it atomically; a failed Put leaves nothing.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Create writes r into key only if key holds no object, atomically: of
	// two writers racing for one key, one gets ErrExists. It is how "exactly
	// once" is decided without a database (a completion marker, a claim),
	// never check-then-put. Meant for small objects (one request on S3).
	Create(ctx context.Context, key string, r io.Reader) (int64, error)
	Open(ctx context.Context, key string) (ReadSeekCloser, Object, error)
	Stat(ctx context.Context, key string) (Object, error)
	Delete(ctx context.Context, key string) error
	// DeletePrefix removes every object under prefix (a "directory").
	DeletePrefix(ctx context.Context, prefix string) error
	List(ctx context.Context, prefix string) ([]Object, error)
	// URL is the absolute location of key for processes that read it directly.
	URL(key string) string
	// Ping checks the store is usable (readiness).
	Ping(ctx context.Context) error
}

// Localizer is implemented by stores whose objects are files on this machine, so
// that ffmpeg can read them in place instead of through a copy.
type Localizer interface {
	LocalPath(key string) (string, error)
}

// CleanKey validates a key and returns it in canonical form.
func CleanKey(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") || strings.ContainsRune(key, 0) {
		return "", fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == ".." || seg == "." {
			return "", fmt.Errorf("%w: %q", ErrInvalidKey, key)
		}
	}
	c := path.Clean(key)
	if c != strings.TrimSuffix(key, "/") {
		return "", fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	return c, nil
}

// Mover is implemented by stores that can adopt a local file as an object without
// streaming it again (a rename on the same filesystem).
type Mover interface {
	Move(ctx context.Context, localPath, key string) error
}

// MoveOrPut makes the local file at src the object key, through Mover when the
// store has it, otherwise by streaming it; src is removed either way on success.
func MoveOrPut(ctx context.Context, st Storage, src, key string) error {
	if m, ok := st.(Mover); ok {
		return m.Move(ctx, src, key)
	}
	if err := PutFile(ctx, st, src, key); err != nil {
		return err
	}
	return os.Remove(src)
}

// PutFile stores a copy of the local file at src as the object key; src stays.
func PutFile(ctx context.Context, st Storage, src, key string) error {
	fh, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", src, err)
	}
	defer fh.Close()
	_, err = st.Put(ctx, key, fh)
	return err
}
