// Package apptest holds the contract every app.Repository implementation must pass.
// Call RunRepositoryContract from the adapter's tests with a constructor.
package apptest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/services/catalog/internal/app"
	"github.com/pertitle/pertitle/services/catalog/internal/domain"
)

// NewRepository returns an empty repository for one test; the test cleans up.
type NewRepository func(t *testing.T) app.Repository

var base = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Put writes asset a under a fresh event id, failing the test on error.
func Put(t *testing.T, repo app.Repository, a domain.Asset) {
	t.Helper()
	applied, err := repo.Update(context.Background(), app.EventKey{Consumer: "test", EventID: fmt.Sprintf("put-%s-%d", a.ID, time.Now().UnixNano())}, a.ID,
		func(domain.Asset) (domain.Asset, bool, error) { return a, true, nil })
	require.NoError(t, err)
	require.True(t, applied)
}

func sample(id string, created time.Time, status domain.Status) domain.Asset {
	return domain.Asset{ID: id, Owner: "alice", Title: "Title " + id, SourceKey: "sources/" + id + "/src.mp4",
		DurationSeconds: 12.5, Width: 1920, Height: 1080, SourceBytes: 123456, Status: status,
		CreatedAt: created, UpdatedAt: created.Add(time.Second)}
}

func full(id string) domain.Asset {
	a := sample(id, base, domain.StatusReady)
	a.Error, a.Retryable = "", false
	a.ProgressPercent, a.ProgressETA, a.ProgressAt = 100, 0, base.Add(2*time.Second)
	a.ProgressChunksDone, a.ProgressChunks, a.ProgressWorkers = 7, 9, 3
	a.Backend, a.JobID, a.Attempt, a.JobAt = "local", "job-1", 2, base.Add(3*time.Second)
	a.LadderMode = "pershot"
	a.HLSKey, a.DASHKey = "outputs/"+id+"/job-1/master.m3u8", "outputs/"+id+"/job-1/manifest.mpd"
	a.HLSURL = "https://cdn.example/" + id + "/master.m3u8"
	a.ReadyAt, a.ReadyTransitions = base.Add(4*time.Second), 1
	a.Renditions = []domain.Rendition{
		{Width: 640, Height: 360, Bitrate: 900_000, AverageBitrate: 700_000, Codec: "h264", Codecs: "avc1.64001e",
			FrameRate: 29.97, Bytes: 1_000_000, Quality: []domain.Quality{{Metric: "vmaf", Value: 91.25}, {Metric: "psnr", Value: 40}}},
		{Width: 1920, Height: 1080, Bitrate: 5_000_000, AverageBitrate: 4_000_000, Codec: "h264", Codecs: "avc1.640028",
			FrameRate: 29.97, Bytes: 9_000_000},
	}
	return a
}

// RunRepositoryContract runs the suite against repositories made by newRepo.
func RunRepositoryContract(t *testing.T, newRepo NewRepository) {
	ctx := context.Background()
	runDeletionContract(t, newRepo)

	t.Run("get unknown is not found", func(t *testing.T) {
		t.Parallel()
		_, err := newRepo(t).Get(ctx, "nope")
		require.ErrorIs(t, err, domain.ErrNotFound)
	})

	t.Run("ping", func(t *testing.T) {
		t.Parallel()
		require.NoError(t, newRepo(t).Ping(ctx))
	})

	t.Run("round trip keeps every field", func(t *testing.T) {
		t.Parallel()
		repo := newRepo(t)
		want := full("a1")
		Put(t, repo, want)
		got, err := repo.Get(ctx, "a1")
		require.NoError(t, err)
		assert.True(t, domain.Equal(want, got), "want %+v\n got %+v", want, got)

		// Replacing the renditions replaces the set, and an update sees the stored state.
		_, err = repo.Update(ctx, app.EventKey{Consumer: "test", EventID: "e-replace"}, "a1", func(cur domain.Asset) (domain.Asset, bool, error) {
			assert.True(t, domain.Equal(want, cur))
			cur.Renditions = cur.Renditions[1:]
			return cur, true, nil
		})
		require.NoError(t, err)
		got, err = repo.Get(ctx, "a1")
		require.NoError(t, err)
		require.Len(t, got.Renditions, 1)
		assert.Equal(t, 1920, got.Renditions[0].Width)
	})

	t.Run("update of a missing asset starts from its id", func(t *testing.T) {
		t.Parallel()
		repo := newRepo(t)
		_, err := repo.Update(ctx, app.EventKey{Consumer: "test", EventID: "e1"}, "fresh", func(cur domain.Asset) (domain.Asset, bool, error) {
			assert.Equal(t, domain.Asset{ID: "fresh"}, cur)
			return cur, false, nil
		})
		require.NoError(t, err)
		_, err = repo.Get(ctx, "fresh")
		assert.ErrorIs(t, err, domain.ErrNotFound, "an unchanged update writes no asset")
	})

	t.Run("the same event applies once", func(t *testing.T) {
		t.Parallel()
		repo := newRepo(t)
		calls := 0
		inc := func(cur domain.Asset) (domain.Asset, bool, error) {
			calls++
			if cur.Status == "" {
				cur = sample(cur.ID, base, domain.StatusUploaded)
			}
			cur.ReadyTransitions++
			return cur, true, nil
		}
		key := app.EventKey{Consumer: "catalog", EventID: "e-dup"}
		applied, err := repo.Update(ctx, key, "a1", inc)
		require.NoError(t, err)
		assert.True(t, applied)
		applied, err = repo.Update(ctx, key, "a1", inc)
		require.NoError(t, err)
		assert.False(t, applied)
		assert.Equal(t, 1, calls)
		// Another consumer has its own record.
		applied, err = repo.Update(ctx, app.EventKey{Consumer: "other", EventID: "e-dup"}, "a1", inc)
		require.NoError(t, err)
		assert.True(t, applied)
		got, err := repo.Get(ctx, "a1")
		require.NoError(t, err)
		assert.Equal(t, 2, got.ReadyTransitions)
	})

	t.Run("a failed update records nothing", func(t *testing.T) {
		t.Parallel()
		repo := newRepo(t)
		boom := fmt.Errorf("boom")
		key := app.EventKey{Consumer: "catalog", EventID: "e-fail"}
		_, err := repo.Update(ctx, key, "a1", func(domain.Asset) (domain.Asset, bool, error) { return domain.Asset{}, false, boom })
		require.ErrorIs(t, err, boom)
		applied, err := repo.Update(ctx, key, "a1", func(cur domain.Asset) (domain.Asset, bool, error) {
			return sample(cur.ID, base, domain.StatusUploaded), true, nil
		})
		require.NoError(t, err)
		assert.True(t, applied, "the event is retried after a failure")
	})

	t.Run("list newest first with pagination and filters", func(t *testing.T) {
		t.Parallel()
		repo := newRepo(t)
		statuses := []domain.Status{domain.StatusUploaded, domain.StatusEncoding, domain.StatusReady, domain.StatusFailed}
		for i := range 10 {
			a := sample(fmt.Sprintf("a%02d", i), base.Add(time.Duration(i/2)*time.Minute), statuses[i%4]) // pairs share created_at
			if i >= 8 {
				a.Owner = "bob"
			}
			Put(t, repo, a)
		}
		var ids []string
		cursor := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 10)
			p, err := repo.List(ctx, app.ListFilter{Limit: 3, Cursor: cursor})
			require.NoError(t, err)
			for _, a := range p.Assets {
				ids = append(ids, a.ID)
			}
			if p.NextCursor == "" {
				break
			}
			assert.Len(t, p.Assets, 3)
			cursor = p.NextCursor
		}
		assert.Equal(t, []string{"a09", "a08", "a07", "a06", "a05", "a04", "a03", "a02", "a01", "a00"}, ids)

		p, err := repo.List(ctx, app.ListFilter{Status: domain.StatusReady, Limit: 50})
		require.NoError(t, err)
		assert.Equal(t, []string{"a06", "a02"}, idsOf(p))
		assert.Empty(t, p.NextCursor)

		p, err = repo.List(ctx, app.ListFilter{Owner: "bob", Limit: 50})
		require.NoError(t, err)
		assert.Equal(t, []string{"a09", "a08"}, idsOf(p))

		p, err = repo.List(ctx, app.ListFilter{Limit: 10})
		require.NoError(t, err)
		assert.Len(t, p.Assets, 10)
		assert.Empty(t, p.NextCursor, "an exactly full page is the last")

		_, err = repo.List(ctx, app.ListFilter{Limit: 10, Cursor: "!!"})
		assert.ErrorIs(t, err, app.ErrInvalidCursor)
	})

	t.Run("list of an empty repository", func(t *testing.T) {
		t.Parallel()
		p, err := newRepo(t).List(ctx, app.ListFilter{Limit: 5})
		require.NoError(t, err)
		assert.Empty(t, p.Assets)
		assert.Empty(t, p.NextCursor)
	})

	t.Run("concurrent updates serialise", func(t *testing.T) {
		t.Parallel()
		repo := newRepo(t)
		const workers, each = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					key := app.EventKey{Consumer: "catalog", EventID: fmt.Sprintf("e-%d-%d", w, i%(each/2))} // half are duplicates
					_, err := repo.Update(ctx, key, "hot", func(cur domain.Asset) (domain.Asset, bool, error) {
						if cur.Status == "" {
							cur = sample(cur.ID, base, domain.StatusEncoding)
						}
						cur.ReadyTransitions++
						return cur, true, nil
					})
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		got, err := repo.Get(ctx, "hot")
		require.NoError(t, err)
		assert.Equal(t, workers*each/2, got.ReadyTransitions, "every distinct event applied exactly once")
	})
}

func idsOf(p app.Page) []string {
	out := make([]string, len(p.Assets))
	for i, a := range p.Assets {
		out[i] = a.ID
	}
	return out
}

// runDeletionContract: a deleted asset is gone for good. Its tombstone drops
// every later event, however late or often it comes, and its requests.
func runDeletionContract(t *testing.T, newRepo NewRepository) {
	ctx := context.Background()
	del := app.EventKey{Consumer: "test", EventID: "deleted-a1"}

	t.Run("delete leaves a tombstone that drops later events", func(t *testing.T) {
		t.Parallel()
		repo := newRepo(t)
		Put(t, repo, full("a1"))
		Put(t, repo, full("a2"))
		require.NoError(t, repo.SaveRequest(ctx, "a1", domain.Request{EventID: "r1", At: base, Body: []byte{1}}))
		applied, err := repo.Delete(ctx, del, "a1", base.Add(time.Hour))
		require.NoError(t, err)
		assert.True(t, applied)
		_, err = repo.Get(ctx, "a1")
		require.ErrorIs(t, err, domain.ErrNotFound)
		gone, err := repo.Deleted(ctx, "a1")
		require.NoError(t, err)
		assert.True(t, gone)
		p, err := repo.List(ctx, app.ListFilter{})
		require.NoError(t, err)
		assert.Equal(t, []string{"a2"}, idsOf(p))
		called := false
		applied, err = repo.Update(ctx, app.EventKey{Consumer: "test", EventID: "late-finish"}, "a1",
			func(domain.Asset) (domain.Asset, bool, error) { called = true; return full("a1"), true, nil })
		require.ErrorIs(t, err, domain.ErrDeleted)
		assert.False(t, applied)
		assert.False(t, called, "the update function of a deleted asset must not run")
		_, err = repo.Get(ctx, "a1")
		require.ErrorIs(t, err, domain.ErrNotFound, "a late event must not resurrect the asset")
		require.ErrorIs(t, repo.SaveRequest(ctx, "a1", domain.Request{EventID: "r2", At: base.Add(2 * time.Hour), Body: []byte{2}}), domain.ErrDeleted)
		_, err = repo.LatestRequest(ctx, "a1")
		require.ErrorIs(t, err, domain.ErrNotFound)
		// The other asset is untouched.
		gone, err = repo.Deleted(ctx, "a2")
		require.NoError(t, err)
		assert.False(t, gone)
	})

	t.Run("a redelivered deletion applies once", func(t *testing.T) {
		t.Parallel()
		repo := newRepo(t)
		Put(t, repo, full("a1"))
		applied, err := repo.Delete(ctx, del, "a1", base)
		require.NoError(t, err)
		require.True(t, applied)
		applied, err = repo.Delete(ctx, del, "a1", base)
		require.NoError(t, err)
		assert.False(t, applied)
		// A deletion under another key of an asset already gone keeps the tombstone.
		applied, err = repo.Delete(ctx, app.EventKey{Consumer: "other", EventID: "deleted-a1"}, "a1", base)
		require.NoError(t, err)
		assert.True(t, applied)
		gone, err := repo.Deleted(ctx, "a1")
		require.NoError(t, err)
		assert.True(t, gone)
	})

	t.Run("the latest request wins whatever the order", func(t *testing.T) {
		t.Parallel()
		repo := newRepo(t)
		_, err := repo.LatestRequest(ctx, "a1")
		require.ErrorIs(t, err, domain.ErrNotFound)
		newer := domain.Request{EventID: "r2", At: base.Add(time.Minute), Body: []byte("second")}
		older := domain.Request{EventID: "r1", At: base, Body: []byte("first")}
		require.NoError(t, repo.SaveRequest(ctx, "a1", newer))
		require.NoError(t, repo.SaveRequest(ctx, "a1", older))
		got, err := repo.LatestRequest(ctx, "a1")
		require.NoError(t, err)
		assert.Equal(t, newer.EventID, got.EventID)
		assert.Equal(t, newer.Body, got.Body)
		assert.True(t, newer.At.Equal(got.At))
	})
}
