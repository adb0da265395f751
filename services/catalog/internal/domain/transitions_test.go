package domain_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pertitle/pertitle/services/catalog/internal/domain"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

func uploaded(sec int) domain.Uploaded {
	return domain.Uploaded{At: at(sec), Owner: "alice", Title: "Big Buck Bunny", SourceKey: "sources/a1/src.mp4",
		DurationSeconds: 60, Width: 1920, Height: 1080, SourceBytes: 1 << 20}
}

func started(sec int, job string, attempt int) domain.Started {
	return domain.Started{At: at(sec), Owner: "alice", Backend: "local", JobID: job, Attempt: attempt}
}

func progress(sec int, job string, pct float64) domain.Progress {
	return domain.Progress{At: at(sec), Backend: "local", JobID: job, Percent: pct, ETASeconds: 100 - pct}
}

func finished(sec int, job string) domain.Finished {
	return domain.Finished{At: at(sec), Backend: "local", JobID: job,
		HLSKey: "outputs/a1/" + job + "/master.m3u8", DASHKey: "outputs/a1/" + job + "/manifest.mpd",
		Renditions: []domain.Rendition{{Width: 640, Height: 360, Bitrate: 800_000, Codec: "h264",
			Quality: []domain.Quality{{Metric: "vmaf", Value: 93.5}}}}}
}

func failed(sec int, job string, retryable bool) domain.Failed {
	return domain.Failed{At: at(sec), Backend: "local", JobID: job, Reason: "ffmpeg exited 1", Retryable: retryable}
}

func applyAll(events ...domain.Event) domain.Asset {
	a := domain.Asset{ID: "a1"}
	for _, e := range events {
		a, _ = domain.Apply(a, e)
	}
	return a
}

func TestStatusRank(t *testing.T) {
	t.Parallel()
	assert.Less(t, domain.StatusUploaded.Rank(), domain.StatusEncoding.Rank())
	assert.Less(t, domain.StatusEncoding.Rank(), domain.StatusReady.Rank())
	assert.Equal(t, domain.StatusReady.Rank(), domain.StatusFailed.Rank())
	assert.Zero(t, domain.Status("").Rank())
	assert.True(t, domain.StatusReady.Terminal())
	assert.True(t, domain.StatusFailed.Terminal())
	assert.False(t, domain.StatusEncoding.Terminal())
	_, err := domain.ParseStatus("done")
	assert.ErrorIs(t, err, domain.ErrInvalidStatus)
}

func TestValidID(t *testing.T) {
	t.Parallel()
	for id, ok := range map[string]bool{
		"0b6f1c2e-7d1a-4c39-9a55-2f1d3c4b5a69": true, "01HZX3": true, "a_b.c": true,
		"": false, ".hidden": false, "a/b": false, "a b": false, "..": false, "é": false,
		string(make([]byte, domain.MaxIDLen+1)): false,
	} {
		assert.Equal(t, ok, domain.ValidID(id), "%q", id)
	}
}

func TestApply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		events []domain.Event
		check  func(t *testing.T, a domain.Asset)
	}{
		{"upload creates an uploaded asset", []domain.Event{uploaded(0)}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusUploaded, a.Status)
			assert.Equal(t, "Big Buck Bunny", a.Title)
			assert.Equal(t, 1920, a.Width)
			assert.Equal(t, at(0), a.CreatedAt)
		}},
		{"happy path", []domain.Event{uploaded(0), started(1, "j1", 1), progress(2, "j1", 40), finished(3, "j1")}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusReady, a.Status)
			assert.Equal(t, 1, a.ReadyTransitions)
			assert.Equal(t, at(3), a.ReadyAt)
			assert.Equal(t, at(3), a.UpdatedAt)
			assert.Equal(t, at(0), a.CreatedAt)
			assert.Equal(t, "j1", a.JobID)
			assert.Equal(t, 1, a.Attempt)
			assert.Len(t, a.Renditions, 1)
		}},
		{"progress while encoding", []domain.Event{uploaded(0), started(1, "j1", 1), progress(3, "j1", 60), progress(2, "j1", 30)}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusEncoding, a.Status)
			assert.Equal(t, 60.0, a.ProgressPercent, "older report is ignored")
			assert.Equal(t, 40.0, a.ProgressETA)
		}},
		{"chunked progress counts chunks and workers", []domain.Event{uploaded(0), started(1, "j1", 1),
			domain.Progress{At: at(2), JobID: "j1", Percent: 40, ChunksDone: 4, Chunks: 10, Workers: 3},
			domain.Progress{At: at(3), JobID: "j1", Percent: 50, ChunksDone: 12, Chunks: 10, Workers: -1}}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, 10, a.ProgressChunks)
			assert.Equal(t, 10, a.ProgressChunksDone, "never more done than there are")
			assert.Equal(t, 0, a.ProgressWorkers)
		}},
		{"a new attempt forgets the chunks of the last", []domain.Event{uploaded(0), started(1, "j1", 1),
			domain.Progress{At: at(2), JobID: "j1", Percent: 40, ChunksDone: 4, Chunks: 10, Workers: 3}, started(3, "j2", 2)}, func(t *testing.T, a domain.Asset) {
			assert.Zero(t, a.ProgressChunks)
			assert.Zero(t, a.ProgressWorkers)
		}},
		{"progress after ready is ignored", []domain.Event{started(1, "j1", 1), finished(3, "j1"), progress(2, "j1", 30)}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusReady, a.Status)
			assert.Equal(t, 100.0, a.ProgressPercent)
		}},
		{"progress before start moves to encoding", []domain.Event{uploaded(0), progress(2, "j1", 10)}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusEncoding, a.Status)
			assert.Equal(t, "j1", a.JobID)
		}},
		{"progress is clamped", []domain.Event{started(1, "j1", 1), progress(2, "j1", 140)}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, 100.0, a.ProgressPercent)
			assert.Zero(t, a.ProgressETA)
		}},
		{"started before uploaded", []domain.Event{started(1, "j1", 1), uploaded(0)}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusEncoding, a.Status)
			assert.Equal(t, "Big Buck Bunny", a.Title)
			assert.Equal(t, at(0), a.CreatedAt)
		}},
		{"late upload fills facts but keeps ready", []domain.Event{started(1, "j1", 1), finished(3, "j1"), uploaded(0)}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusReady, a.Status)
			assert.Equal(t, "alice", a.Owner)
			assert.Equal(t, "Big Buck Bunny", a.Title)
			assert.Equal(t, 60.0, a.DurationSeconds)
			assert.Equal(t, int64(1<<20), a.SourceBytes)
			assert.Equal(t, at(0), a.CreatedAt)
			assert.Equal(t, at(3), a.UpdatedAt)
		}},
		{"finished before started keeps ready", []domain.Event{uploaded(0), finished(3, "j1"), started(1, "j1", 1)}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusReady, a.Status)
			assert.Equal(t, 1, a.Attempt, "the late start still records the attempt")
			assert.Equal(t, 1, a.ReadyTransitions)
		}},
		{"finished twice counts once", []domain.Event{started(1, "j1", 1), finished(3, "j1"), finished(3, "j1"), finished(4, "j1")}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, 1, a.ReadyTransitions)
			assert.Equal(t, at(3), a.ReadyAt)
		}},
		{"failed with reason", []domain.Event{uploaded(0), started(1, "j1", 1), failed(2, "j1", true)}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusFailed, a.Status)
			assert.Equal(t, "ffmpeg exited 1", a.Error)
			assert.True(t, a.Retryable)
		}},
		{"failed then finished for the same job stays failed", []domain.Event{started(1, "j1", 1), failed(2, "j1", false), finished(3, "j1")}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusFailed, a.Status)
			assert.Zero(t, a.ReadyTransitions)
		}},
		{"late start of the same attempt does not reopen failed", []domain.Event{uploaded(0), failed(2, "j1", true), started(1, "j1", 1)}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusFailed, a.Status)
		}},
		{"retry with a higher attempt reopens failed", []domain.Event{started(1, "j1", 1), failed(2, "j1", true), started(5, "j2", 2)}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusEncoding, a.Status)
			assert.Empty(t, a.Error)
			assert.False(t, a.Retryable)
			assert.Equal(t, 2, a.Attempt)
		}},
		{"retry then ready", []domain.Event{started(1, "j1", 1), failed(2, "j1", true), started(5, "j2", 2), finished(9, "j2")}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusReady, a.Status)
			assert.Equal(t, "j2", a.JobID)
			assert.Equal(t, 1, a.ReadyTransitions)
		}},
		{"stale failure of an older attempt is ignored", []domain.Event{started(1, "j1", 1), started(5, "j2", 2), failed(2, "j1", true)}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusEncoding, a.Status)
			assert.Equal(t, "j2", a.JobID)
		}},
		{"stale start of an older attempt is ignored", []domain.Event{started(5, "j2", 2), finished(9, "j2"), started(1, "j1", 1)}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusReady, a.Status)
			assert.Equal(t, "j2", a.JobID)
		}},
		{"lower attempt number loses even when later", []domain.Event{started(5, "j2", 2), started(6, "j1", 1)}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, "j2", a.JobID)
		}},
		{"newer job finishing before its start arrives", []domain.Event{started(1, "j1", 1), failed(2, "j1", true), finished(9, "j2"), started(5, "j2", 2), progress(6, "j2", 50)}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusReady, a.Status)
			assert.Equal(t, "j2", a.JobID)
			assert.Equal(t, 2, a.Attempt)
			assert.Equal(t, 1, a.ReadyTransitions)
			assert.Empty(t, a.Error)
		}},
		{"re-encode of a ready asset counts a second ready", []domain.Event{started(1, "j1", 1), finished(2, "j1"), started(5, "j2", 2), finished(9, "j2")}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, 2, a.ReadyTransitions)
			assert.Equal(t, at(9), a.ReadyAt)
		}},
		{"re-encode keeps previous outputs while encoding", []domain.Event{started(1, "j1", 1), finished(2, "j1"), started(5, "j2", 2)}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusEncoding, a.Status)
			assert.Equal(t, "outputs/a1/j1/master.m3u8", a.HLSKey)
		}},
		{"a different job with the same attempt and newer time wins", []domain.Event{started(1, "j1", 1), failed(2, "j1", true), started(3, "j1b", 1)}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusEncoding, a.Status)
			assert.Equal(t, "j1b", a.JobID)
		}},
		{"failure without a job on a fresh asset", []domain.Event{uploaded(0), failed(1, "", false)}, func(t *testing.T, a domain.Asset) {
			assert.Equal(t, domain.StatusFailed, a.Status)
		}},
		{"failure reason defaults", []domain.Event{failed(1, "j1", false)}, func(t *testing.T, a domain.Asset) {
			a2, _ := domain.Apply(domain.Asset{ID: "a2"}, domain.Failed{At: at(1), JobID: "j"})
			assert.Equal(t, "encoding failed", a2.Error)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.check(t, applyAll(tc.events...))
		})
	}
}

func TestApplyReportsChange(t *testing.T) {
	t.Parallel()
	a, changed := domain.Apply(domain.Asset{ID: "a1"}, uploaded(0))
	require.True(t, changed)
	_, changed = domain.Apply(a, uploaded(0))
	assert.False(t, changed, "the same upload again changes nothing")

	a, changed = domain.Apply(a, started(1, "j1", 1))
	require.True(t, changed)
	a, changed = domain.Apply(a, finished(2, "j1"))
	require.True(t, changed)
	b, changed := domain.Apply(a, finished(2, "j1"))
	assert.False(t, changed)
	assert.True(t, domain.Equal(a, b))
	_, changed = domain.Apply(a, progress(1, "j1", 50))
	assert.False(t, changed)
}

func TestApplyDoesNotAliasRenditions(t *testing.T) {
	t.Parallel()
	f := finished(2, "j1")
	a, _ := domain.Apply(domain.Asset{ID: "a1"}, f)
	f.Renditions[0].Width = 1
	assert.Equal(t, 640, a.Renditions[0].Width)
}
