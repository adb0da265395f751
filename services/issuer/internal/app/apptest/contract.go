// Package apptest is the contract every app.Store must pass.
package apptest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/services/issuer/internal/app"
)

// Open opens a store on dsn; two calls with one dsn share the state (replicas).
type Open func(t *testing.T, dsn string) app.Store

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func refresh(family string, expires time.Time) app.Refresh {
	return app.Refresh{Client: "pertitle-cli", Sub: "sub-1", Scope: "openid offline_access", Family: family,
		AuthTime: t0, Expires: expires}
}

// Run runs the contract; newDSN makes an empty database.
func Run(t *testing.T, newDSN func(t *testing.T) string, open Open) {
	ctx := context.Background()
	t.Run("code is taken once", func(t *testing.T) {
		t.Parallel()
		s := open(t, newDSN(t))
		c := app.Code{Client: "pertitle-web", Redirect: "http://app.test/", State: "st", Nonce: "n", Scope: "openid",
			Challenge: "ch", Sub: "sub-1", AuthTime: t0, Expires: t0.Add(time.Minute)}
		require.NoError(t, s.SaveCode(ctx, "h1", c))
		got, err := s.TakeCode(ctx, "h1")
		require.NoError(t, err)
		assert.Equal(t, c, got)
		_, err = s.TakeCode(ctx, "h1")
		assert.ErrorIs(t, err, app.ErrNotFound)
		_, err = s.TakeCode(ctx, "other")
		assert.ErrorIs(t, err, app.ErrNotFound)
	})
	t.Run("refresh token rotates once, a replay revokes the family", func(t *testing.T) {
		t.Parallel()
		s := open(t, newDSN(t))
		require.NoError(t, s.SaveRefresh(ctx, "r1", refresh("fam", t0.Add(time.Hour))))
		require.NoError(t, s.SaveRefresh(ctx, "other", refresh("fam2", t0.Add(time.Hour))))
		got, err := s.UseRefresh(ctx, "r1", "pertitle-cli", t0)
		require.NoError(t, err)
		assert.Equal(t, refresh("fam", t0.Add(time.Hour)), got)
		require.NoError(t, s.SaveRefresh(ctx, "r2", refresh("fam", t0.Add(2*time.Hour))))

		_, err = s.UseRefresh(ctx, "r1", "pertitle-cli", t0)
		assert.ErrorIs(t, err, app.ErrReplayed)
		_, err = s.UseRefresh(ctx, "r2", "pertitle-cli", t0)
		assert.ErrorIs(t, err, app.ErrNotFound, "the family's live token died with it")
		assert.ErrorIs(t, s.SaveRefresh(ctx, "r3", refresh("fam", t0.Add(3*time.Hour))), app.ErrRevoked)
		_, err = s.UseRefresh(ctx, "other", "pertitle-cli", t0)
		assert.NoError(t, err, "another family is untouched")
	})
	t.Run("wrong client, expired, unknown", func(t *testing.T) {
		t.Parallel()
		s := open(t, newDSN(t))
		require.NoError(t, s.SaveRefresh(ctx, "r1", refresh("fam", t0.Add(time.Hour))))
		_, err := s.UseRefresh(ctx, "r1", "pertitle-web", t0)
		assert.ErrorIs(t, err, app.ErrWrongClient)
		_, err = s.UseRefresh(ctx, "r1", "pertitle-cli", t0.Add(time.Hour))
		assert.ErrorIs(t, err, app.ErrExpired)
		_, err = s.UseRefresh(ctx, "nope", "pertitle-cli", t0)
		assert.ErrorIs(t, err, app.ErrNotFound)
		_, err = s.UseRefresh(ctx, "r1", "pertitle-cli", t0.Add(time.Minute))
		assert.NoError(t, err, "neither the wrong client nor the early expired try spent it")
	})
	t.Run("racing uses: one wins", func(t *testing.T) {
		t.Parallel()
		dsn := newDSN(t)
		a, b := open(t, dsn), open(t, dsn)
		require.NoError(t, a.SaveRefresh(ctx, "r1", refresh("fam", t0.Add(time.Hour))))
		var wins, replays atomic.Int32
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				s := a
				if i%2 == 1 {
					s = b
				}
				_, err := s.UseRefresh(ctx, "r1", "pertitle-cli", t0)
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, app.ErrReplayed):
					replays.Add(1)
				default:
					t.Errorf("use: %v", err)
				}
			})
		}
		wg.Wait()
		assert.EqualValues(t, 1, wins.Load())
		assert.EqualValues(t, 15, replays.Load())
	})
	t.Run("two stores on one database share everything", func(t *testing.T) {
		t.Parallel()
		dsn := newDSN(t)
		a, b := open(t, dsn), open(t, dsn)
		require.NoError(t, a.SaveRefresh(ctx, "r1", refresh("fam", t0.Add(time.Hour))))
		_, err := b.UseRefresh(ctx, "r1", "pertitle-cli", t0)
		require.NoError(t, err)
		_, err = a.UseRefresh(ctx, "r1", "pertitle-cli", t0)
		assert.ErrorIs(t, err, app.ErrReplayed)
		require.NoError(t, a.SaveCode(ctx, "c1", app.Code{Sub: "s", Expires: t0}))
		_, err = b.TakeCode(ctx, "c1")
		assert.NoError(t, err)
		ka, err := a.Secret(ctx, "k", []byte("first"))
		require.NoError(t, err)
		kb, err := b.Secret(ctx, "k", []byte("second"))
		require.NoError(t, err)
		assert.Equal(t, []byte("first"), ka)
		assert.Equal(t, ka, kb)
	})
	t.Run("sign-in failures add up across stores and age out", func(t *testing.T) {
		t.Parallel()
		dsn := newDSN(t)
		a, b := open(t, dsn), open(t, dsn)
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Go(func() {
				s := a
				if i%2 == 1 {
					s = b
				}
				_, err := s.Fail(ctx, "user:bob", t0, time.Minute)
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		n, err := a.Fail(ctx, "user:bob", t0, time.Minute)
		require.NoError(t, err)
		assert.Equal(t, 11, n, "every replica's failure counts")
		require.NoError(t, b.Wait(ctx, "user:bob", t0.Add(30*time.Second), t0.Add(90*time.Second)))
		n, until, err := a.Failures(ctx, "user:bob", t0)
		require.NoError(t, err)
		assert.Equal(t, 11, n)
		assert.Equal(t, t0.Add(30*time.Second), until)
		n, _, err = a.Failures(ctx, "user:bob", t0.Add(90*time.Second))
		require.NoError(t, err)
		assert.Zero(t, n, "forgotten at its forget time")
		n, err = b.Fail(ctx, "user:bob", t0.Add(91*time.Second), time.Minute)
		require.NoError(t, err)
		assert.Equal(t, 1, n, "counting starts afresh")
		n, _, err = a.Failures(ctx, "addr:1.2.3.4", t0)
		require.NoError(t, err)
		assert.Zero(t, n, "keys are apart")
		require.NoError(t, a.Succeed(ctx, "user:bob"))
		n, _, err = b.Failures(ctx, "user:bob", t0.Add(91*time.Second))
		require.NoError(t, err)
		assert.Zero(t, n, "a success forgets")
	})
	t.Run("sweep forgets what expired", func(t *testing.T) {
		t.Parallel()
		s := open(t, newDSN(t))
		require.NoError(t, s.SaveCode(ctx, "old", app.Code{Expires: t0}))
		require.NoError(t, s.SaveCode(ctx, "new", app.Code{Expires: t0.Add(time.Hour)}))
		require.NoError(t, s.SaveRefresh(ctx, "r1", refresh("fam", t0)))
		_, err := s.UseRefresh(ctx, "r1", "pertitle-cli", t0.Add(-time.Second))
		require.NoError(t, err)
		require.NoError(t, s.SaveRefresh(ctx, "live", refresh("fam2", t0.Add(time.Hour))))
		require.NoError(t, s.Sweep(ctx, t0))
		_, err = s.TakeCode(ctx, "old")
		assert.ErrorIs(t, err, app.ErrNotFound)
		_, err = s.TakeCode(ctx, "new")
		assert.NoError(t, err)
		_, err = s.UseRefresh(ctx, "r1", "pertitle-cli", t0)
		assert.ErrorIs(t, err, app.ErrNotFound, "the used token of an expired family is gone (no replay alarm)")
		require.NoError(t, s.SaveRefresh(ctx, "r2", refresh("fam", t0.Add(time.Hour))), "the family is forgotten too")
		_, err = s.UseRefresh(ctx, "live", "pertitle-cli", t0)
		assert.NoError(t, err)
		require.NoError(t, s.Ping(ctx))
	})
}
