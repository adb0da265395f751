package sqlsessions_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/internal/testenv"
	"github.com/pertitle/pertitle/services/ingest/internal/adapters/sqlsessions"
	"github.com/pertitle/pertitle/services/ingest/internal/app"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func session(id, owner string, size int64, expires time.Time) app.DirectSession {
	return app.DirectSession{Session: app.Session{ID: id, Owner: owner, Filename: "a.mp4", ContentType: "video/mp4",
		Title: "A", Size: size, PartSize: 8 << 20, PartsTotal: 1, Status: app.SessionUploading, CreatedAt: t0, ExpiresAt: expires},
		AssetID: "asset-" + id, Key: "sources/asset-" + id + "/source", UploadID: "up-" + id}
}

func open(t *testing.T, dsn string) *sqlsessions.Store {
	s, err := sqlsessions.Open(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// contract is what app.Direct relies on, run on SQLite and PostgreSQL; a and
// b are two handles on one database (two replicas).
func contract(t *testing.T, a, b *sqlsessions.Store) {
	ctx := context.Background()
	s1 := session("s1", "alice", 100, t0.Add(time.Hour))
	require.NoError(t, a.Create(ctx, s1))
	require.NoError(t, a.Create(ctx, session("s2", "alice", 50, t0.Add(time.Minute))))
	require.NoError(t, a.Create(ctx, session("s3", "bob", 7, t0.Add(time.Hour))))
	got, err := b.Get(ctx, "s1")
	require.NoError(t, err)
	assert.Equal(t, s1, got)
	_, err = b.Get(ctx, "nope")
	assert.ErrorIs(t, err, app.ErrSessionNotFound)

	n, bytes, err := b.Usage(ctx, "alice", t0.Add(30*time.Second))
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.EqualValues(t, 150, bytes)
	n, _, err = b.Usage(ctx, "alice", t0.Add(2*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 1, n, "an expired session no longer counts")

	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			s := a
			if i%2 == 1 {
				s = b
			}
			ok, err := s.Claim(ctx, "s1", t0, t0.Add(time.Minute))
			assert.NoError(t, err)
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, 1, wins.Load(), "one completion at a time, across replicas")
	ok, err := a.Extend(ctx, "s1", t0.Add(time.Minute), t0.Add(90*time.Second))
	require.NoError(t, err)
	assert.True(t, ok, "the holder extends its lease")
	ok, err = b.Extend(ctx, "s1", t0.Add(time.Minute), t0.Add(2*time.Minute))
	require.NoError(t, err)
	assert.False(t, ok, "a lease already moved is not the one held")
	ok, err = b.Claim(ctx, "s1", t0.Add(2*time.Minute), t0.Add(3*time.Minute))
	require.NoError(t, err)
	assert.True(t, ok, "a completion whose lease ran out is taken over")
	ok, err = a.Extend(ctx, "s1", t0.Add(90*time.Second), t0.Add(4*time.Minute))
	require.NoError(t, err)
	assert.False(t, ok, "the old holder cannot extend the new holder's lease")
	ok, err = a.Extend(ctx, "nope", t0, t0.Add(time.Minute))
	require.NoError(t, err)
	assert.False(t, ok)

	require.NoError(t, b.Announcing(ctx, "s1"))
	got, err = a.Get(ctx, "s1")
	require.NoError(t, err)
	assert.True(t, got.Announcing)
	require.NoError(t, a.Release(ctx, "s1", true, t0.Add(2*time.Hour)))
	got, err = b.Get(ctx, "s1")
	require.NoError(t, err)
	assert.Equal(t, app.SessionUploading, got.Status)
	assert.True(t, got.ObjectDone)
	assert.False(t, got.Announcing, "a released session is no longer announcing")
	assert.Equal(t, t0.Add(2*time.Hour), got.ExpiresAt)
	require.NoError(t, a.Touch(ctx, "s1", t0.Add(time.Hour)))
	got, _ = b.Get(ctx, "s1")
	assert.Equal(t, t0.Add(2*time.Hour), got.ExpiresAt, "touch never shortens")

	ok, err = a.Claim(ctx, "s3", t0, t0.Add(10*time.Minute))
	require.NoError(t, err)
	require.True(t, ok)
	expired, err := b.Expired(ctx, t0.Add(5*time.Hour), 10)
	require.NoError(t, err)
	var ids []string
	for _, e := range expired {
		ids = append(ids, e.ID)
	}
	assert.Equal(t, []string{"s2", "s3", "s1"}, ids, "oldest expiry first; s3's lease has run out too")
	expired, err = b.Expired(ctx, t0.Add(5*time.Minute), 10)
	require.NoError(t, err)
	require.Len(t, expired, 1, "s3 under its lease and s1 alive are not expired")
	assert.Equal(t, "s2", expired[0].ID)

	require.NoError(t, b.Delete(ctx, "s2"))
	_, err = a.Get(ctx, "s2")
	assert.ErrorIs(t, err, app.ErrSessionNotFound)
	require.NoError(t, a.Ping(ctx))
}

func TestSQLiteContract(t *testing.T) {
	t.Parallel()
	dsn := filepath.Join(t.TempDir(), "x", "ingest.db")
	contract(t, open(t, dsn), open(t, dsn))
}

func TestPostgresContract(t *testing.T) {
	t.Parallel()
	dsn := testenv.Postgres(t)
	contract(t, open(t, dsn), open(t, dsn))
}
