package storage_test

import (
	"errors"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pertitle/pertitle/pkg/storage"
)

// FuzzCleanKey feeds arbitrary keys (from S3 notifications, media paths,
// webhook-derived job ids) to the check every store runs: an accepted key is
// relative, clean, free of separators that mean something else, and maps to a
// file under the store's root.
func FuzzCleanKey(f *testing.F) {
	for _, k := range []string{"outputs/a/j/master.m3u8", "a//b", "a/./b", "../x", "a/..", "/abs", "a\\b", "a\x00b",
		"dir/", ".", "..", "", "a/b/", "...", "a/.../b", "ü/✓"} {
		f.Add(k)
	}
	fs, err := storage.NewFS(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	root := fs.Root() + string(filepath.Separator)
	f.Fuzz(func(t *testing.T, key string) {
		c, err := storage.CleanKey(key)
		if err != nil {
			if !errors.Is(err, storage.ErrInvalidKey) {
				t.Fatalf("refusal is not ErrInvalidKey: %v", err)
			}
			return
		}
		switch {
		case c == "" || c != strings.TrimSuffix(key, "/") || path.Clean(c) != c:
			t.Fatalf("CleanKey(%q) = %q", key, c)
		case !filepath.IsLocal(filepath.FromSlash(c)) || strings.ContainsAny(c, "\\\x00"):
			t.Fatalf("accepted %q, which is not a local relative path", c)
		}
		if again, err := storage.CleanKey(c); err != nil || again != c {
			t.Fatalf("CleanKey is not idempotent on %q: %q, %v", c, again, err)
		}
		p, err := fs.LocalPath(key)
		if err != nil || !strings.HasPrefix(p, root) {
			t.Fatalf("key %q maps to %q, outside %s (%v)", key, p, root, err)
		}
	})
}
