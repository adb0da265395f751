package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/pkg/storage"
)

// adapters lists every Storage implementation; each runs the same contract. The
// S3 adapter runs against the local S3 server (skipped with -short).
func adapters(t *testing.T) map[string]storage.Storage {
	fsStore, err := storage.NewFS(t.TempDir())
	require.NoError(t, err)
	out := map[string]storage.Storage{"fs": fsStore}
	if !testing.Short() {
		out["s3"] = newS3(t)
	}
	return out
}

func TestStorageContract(t *testing.T) {
	for name, s := range adapters(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			n, err := s.Put(ctx, "a/b/c.txt", strings.NewReader("hello world"))
			require.NoError(t, err)
			assert.EqualValues(t, 11, n)

			rc, obj, err := s.Open(ctx, "a/b/c.txt")
			require.NoError(t, err)
			assert.EqualValues(t, 11, obj.Size)
			_, err = rc.Seek(6, io.SeekStart)
			require.NoError(t, err)
			rest, _ := io.ReadAll(rc)
			require.NoError(t, rc.Close())
			assert.Equal(t, "world", string(rest))

			_, err = s.Put(ctx, "a/b/c.txt", strings.NewReader("replaced"))
			require.NoError(t, err)
			st, err := s.Stat(ctx, "a/b/c.txt")
			require.NoError(t, err)
			assert.EqualValues(t, 8, st.Size)

			_, err = s.Put(ctx, "a/d.txt", bytes.NewReader(nil))
			require.NoError(t, err)
			list, err := s.List(ctx, "a/")
			require.NoError(t, err)
			require.Len(t, list, 2)
			assert.Equal(t, "a/b/c.txt", list[0].Key)

			_, err = s.Stat(ctx, "missing")
			assert.ErrorIs(t, err, storage.ErrNotFound)
			_, _, err = s.Open(ctx, "a/b")
			assert.ErrorIs(t, err, storage.ErrNotFound)

			require.NoError(t, s.Delete(ctx, "a/d.txt"))
			require.NoError(t, s.Delete(ctx, "a/d.txt"), "deleting twice is not an error")
			require.NoError(t, s.DeletePrefix(ctx, "a/"))
			list, err = s.List(ctx, "a/")
			require.NoError(t, err)
			assert.Empty(t, list)
			require.NoError(t, s.Ping(ctx))
		})
	}
}

func TestFailedPutLeavesNothing(t *testing.T) {
	for name, s := range adapters(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			_, err := s.Put(ctx, "x/y.bin", io.MultiReader(strings.NewReader("partial"), errReader{}))
			require.Error(t, err)
			_, err = s.Stat(ctx, "x/y.bin")
			assert.ErrorIs(t, err, storage.ErrNotFound)
			list, err := s.List(ctx, "")
			require.NoError(t, err)
			assert.Empty(t, list)
		})
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestInvalidKeys(t *testing.T) {
	for _, k := range []string{"", "/etc/passwd", "../x", "a/../../x", "a/./b", "a\\b", "a//b"} {
		_, err := storage.CleanKey(k)
		assert.ErrorIs(t, err, storage.ErrInvalidKey, k)
	}
	for _, k := range []string{"a", "a/b.mp4", "outputs/x/y/master.m3u8"} {
		c, err := storage.CleanKey(k)
		require.NoError(t, err)
		assert.Equal(t, k, c)
	}
}

func TestMoveOrPut(t *testing.T) {
	for name, s := range adapters(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			src := t.TempDir() + "/staged.bin"
			require.NoError(t, os.WriteFile(src, []byte("payload"), 0o600))
			require.NoError(t, storage.MoveOrPut(ctx, s, src, "sources/a/source.mp4"))
			_, err := os.Stat(src)
			assert.True(t, os.IsNotExist(err), "the staged file is consumed")
			st, err := s.Stat(ctx, "sources/a/source.mp4")
			require.NoError(t, err)
			assert.EqualValues(t, 7, st.Size)
		})
	}
}

func TestListSkipsPrivateDirectories(t *testing.T) {
	fsStore, err := storage.NewFS(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(fsStore.StagingDir(), 0o755))
	require.NoError(t, os.WriteFile(fsStore.StagingDir()+"/upload-1", []byte("x"), 0o600))
	list, err := fsStore.List(context.Background(), "")
	require.NoError(t, err)
	assert.Empty(t, list)
}

// TestCreateIsExclusive: of writers racing to create one key, exactly one
// wins, and an existing object is never replaced.
func TestCreateIsExclusive(t *testing.T) {
	for name, s := range adapters(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			_, err := s.Create(ctx, "jobs/j1/done", strings.NewReader("first"))
			require.NoError(t, err)
			_, err = s.Create(ctx, "jobs/j1/done", strings.NewReader("second"))
			require.ErrorIs(t, err, storage.ErrExists)
			rc, _, err := s.Open(ctx, "jobs/j1/done")
			require.NoError(t, err)
			b, _ := io.ReadAll(rc)
			rc.Close()
			assert.Equal(t, "first", string(b))

			const racers = 8
			var wg sync.WaitGroup
			var won atomic.Int32
			for i := range racers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.Create(ctx, "jobs/j1/claim", strings.NewReader(fmt.Sprint(i)))
					if err == nil {
						won.Add(1)
					} else {
						assert.ErrorIs(t, err, storage.ErrExists)
					}
				}()
			}
			wg.Wait()
			assert.EqualValues(t, 1, won.Load(), "exactly one creator wins")
			list, err := s.List(ctx, "jobs/j1/")
			require.NoError(t, err)
			assert.Len(t, list, 2, "no temporary file is left behind")
		})
	}
}
