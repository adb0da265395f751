package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// FS stores objects as files under a root directory.
type FS struct{ root string }

var _ Storage = (*FS)(nil)
var _ Localizer = (*FS)(nil)
var _ Mover = (*FS)(nil)

// NewFS returns a filesystem store rooted at dir, creating it if needed.
func NewFS(dir string) (*FS, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot resolve storage dir %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create storage dir %q: %w", abs, err)
	}
	return &FS{root: abs}, nil
}

// Root is the directory objects live under.
func (f *FS) Root() string { return f.root }

// LocalPath maps a key to its file.
func (f *FS) LocalPath(key string) (string, error) {
	k, err := CleanKey(key)
	if err != nil {
		return "", err
	}
	return filepath.Join(f.root, filepath.FromSlash(k)), nil
}

func (f *FS) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	p, err := f.LocalPath(key)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return 0, fmt.Errorf("cannot create directory for %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return 0, fmt.Errorf("cannot create temp file for %s: %w", key, err)
	}
	n, err := io.Copy(tmp, ctxReader{ctx, r})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return 0, fmt.Errorf("cannot write %s: %w", key, err)
	}
	return n, nil
}

// Create writes a temporary file and links it to key: link(2) fails when the
// name exists, so of two racing creators exactly one wins.
func (f *FS) Create(ctx context.Context, key string, r io.Reader) (int64, error) {
	p, err := f.LocalPath(key)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return 0, fmt.Errorf("cannot create directory for %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".create-*")
	if err != nil {
		return 0, fmt.Errorf("cannot create temp file for %s: %w", key, err)
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, ctxReader{ctx, r})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("cannot write %s: %w", key, err)
	}
	if err := os.Link(tmp.Name(), p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return 0, fmt.Errorf("%w: %s", ErrExists, key)
		}
		return 0, fmt.Errorf("cannot create %s: %w", key, err)
	}
	return n, nil
}

func (f *FS) Open(_ context.Context, key string) (ReadSeekCloser, Object, error) {
	p, err := f.LocalPath(key)
	if err != nil {
		return nil, Object{}, err
	}
	fh, err := os.Open(p)
	if err != nil {
		return nil, Object{}, f.mapErr(key, err)
	}
	st, err := fh.Stat()
	if err != nil || st.IsDir() {
		_ = fh.Close()
		return nil, Object{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return fh, Object{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
}

func (f *FS) Stat(_ context.Context, key string) (Object, error) {
	p, err := f.LocalPath(key)
	if err != nil {
		return Object{}, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return Object{}, f.mapErr(key, err)
	}
	if st.IsDir() {
		return Object{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return Object{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
}

func (f *FS) Delete(_ context.Context, key string) error {
	p, err := f.LocalPath(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot delete %s: %w", key, err)
	}
	return nil
}

func (f *FS) DeletePrefix(_ context.Context, prefix string) error {
	p, err := f.LocalPath(strings.TrimSuffix(prefix, "/"))
	if err != nil {
		return err
	}
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("cannot delete %s: %w", prefix, err)
	}
	return nil
}

func (f *FS) List(_ context.Context, prefix string) ([]Object, error) {
	var out []Object
	err := filepath.WalkDir(f.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != f.root {
			if d.IsDir() {
				return filepath.SkipDir // staging and other private areas
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(f.root, p)
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, Object{Key: key, Size: info.Size(), ModTime: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list %s: %w", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (f *FS) URL(key string) string {
	p, err := f.LocalPath(key)
	if err != nil {
		return ""
	}
	return "file://" + filepath.ToSlash(p)
}

func (f *FS) Ping(context.Context) error {
	st, err := os.Stat(f.root)
	if err != nil {
		return fmt.Errorf("storage root: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("storage root %s is not a directory", f.root)
	}
	return nil
}

func (f *FS) mapErr(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return fmt.Errorf("cannot read %s: %w", key, err)
}

// ContextReader reads r until ctx ends: a long copy (an upload into a staged
// file, an object into storage) stops when its client is gone or the process
// shuts down, instead of running to the end of the body.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// StagingDir is a private directory on the same filesystem as the objects, so that
// staged uploads become objects by a rename instead of a copy.
func (f *FS) StagingDir() string { return filepath.Join(f.root, ".staging") }

// Move makes the local file at src the object key, renaming it when it lives on
// the same filesystem and copying it otherwise.
func (f *FS) Move(ctx context.Context, src, key string) error {
	p, err := f.LocalPath(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("cannot create directory for %s: %w", key, err)
	}
	if err := os.Rename(src, p); err == nil {
		return nil
	}
	fh, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("cannot move %s to %s: %w", src, key, err)
	}
	defer fh.Close()
	if _, err := f.Put(ctx, key, fh); err != nil {
		return err
	}
	return os.Remove(src)
}
