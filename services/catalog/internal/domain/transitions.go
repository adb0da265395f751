package domain

import (
	"reflect"
	"time"
)

// Event is a fact about an asset that the catalog projects. At is when it occurred
// at its producer; it, the job id and the attempt number order events that the
// queues deliver in any order.
type Event interface{ occurred() time.Time }

// Uploaded: the source is stored and probed.
type Uploaded struct {
	At              time.Time
	Owner           string
	Title           string
	SourceKey       string
	DurationSeconds float64
	Width           int
	Height          int
	SourceBytes     int64
}

// Started: an encoding attempt began on a backend.
type Started struct {
	At      time.Time
	Owner   string
	Backend string
	JobID   string
	Attempt int
}

// Progress: the running job reports how far it is.
type Progress struct {
	At         time.Time
	Backend    string
	JobID      string
	Percent    float64
	ETASeconds float64
	// A chunked encode's chunks done, all, and workers (0 otherwise).
	ChunksDone, Chunks, Workers int
}

// Finished: a job produced its outputs.
type Finished struct {
	At         time.Time
	Owner      string
	Backend    string
	JobID      string
	HLSKey     string
	DASHKey    string
	HLSURL     string
	DASHURL    string
	Renditions []Rendition
	LadderMode string
}

// Failed: a job failed.
type Failed struct {
	At        time.Time
	Owner     string
	Backend   string
	JobID     string
	Reason    string
	Retryable bool
}

func (e Uploaded) occurred() time.Time { return e.At }
func (e Started) occurred() time.Time  { return e.At }
func (e Progress) occurred() time.Time { return e.At }
func (e Finished) occurred() time.Time { return e.At }
func (e Failed) occurred() time.Time   { return e.At }

// Apply returns the asset after e, and whether anything changed. It is pure, and
// safe to call with events in any order: status never moves backwards, and a
// terminal status (ready, failed) changes only when a newer attempt shows up.
// a.ID must already be set; the zero Asset stands for one no event has created yet.
func Apply(a Asset, e Event) (Asset, bool) {
	var n Asset
	var accepted bool
	switch e := e.(type) {
	case Uploaded:
		n, accepted = applyUploaded(a, e)
	case Started:
		n, accepted = applyStarted(a, e)
	case Progress:
		n, accepted = applyProgress(a, e)
	case Finished:
		n, accepted = applyFinished(a, e)
	case Failed:
		n, accepted = applyFailed(a, e)
	}
	if !accepted {
		return a, false
	}
	// Created is the earliest event seen (the upload, once it arrives); updated the latest.
	if at := e.occurred(); !at.IsZero() {
		if n.CreatedAt.IsZero() || at.Before(n.CreatedAt) {
			n.CreatedAt = at
		}
		if at.After(n.UpdatedAt) {
			n.UpdatedAt = at
		}
	}
	if Equal(a, n) {
		return a, false
	}
	return n, true
}

func applyUploaded(a Asset, e Uploaded) (Asset, bool) {
	// A late upload event still carries the facts only it knows about the source,
	// but its status (the lowest) never overrides anything.
	n := a
	setIf(&n.Owner, e.Owner)
	setIf(&n.Title, e.Title)
	setIf(&n.SourceKey, e.SourceKey)
	if e.DurationSeconds > 0 {
		n.DurationSeconds = e.DurationSeconds
	}
	if e.Width > 0 {
		n.Width = e.Width
	}
	if e.Height > 0 {
		n.Height = e.Height
	}
	if e.SourceBytes > 0 {
		n.SourceBytes = e.SourceBytes
	}
	if n.Status == "" {
		n.Status = StatusUploaded
	}
	return n, true
}

// jobRelation says how an event's job relates to the asset's current attempt.
type jobRelation int

const (
	jobStale   jobRelation = iota // an older attempt: ignore
	jobCurrent                    // the current attempt
	jobNewer                      // a newer attempt than the current one
)

// relate decides whether an event of job/attempt at time at belongs to the current
// attempt, a newer one, or an older one. Attempt numbers win when both sides have
// one; otherwise occurred_at decides (events of a retry happen after the previous
// attempt's events).
func relate(a Asset, jobID string, attempt int, at time.Time) jobRelation {
	if a.JobID == "" && a.Attempt == 0 && a.JobAt.IsZero() {
		return jobNewer // no attempt seen yet
	}
	if jobID == a.JobID {
		return jobCurrent
	}
	if attempt > 0 && a.Attempt > 0 {
		switch {
		case attempt > a.Attempt:
			return jobNewer
		case attempt < a.Attempt:
			return jobStale
		}
	}
	if at.After(a.JobAt) {
		return jobNewer
	}
	return jobStale
}

// newAttempt switches the asset to job, forgetting the previous attempt's error and progress.
// Outputs of an earlier success stay: they remain playable until the new attempt replaces them.
func newAttempt(a Asset, backend, jobID string, attempt int, at time.Time) Asset {
	a.JobID = jobID
	a.Backend = backend
	a.Attempt = attempt
	a.JobAt = at
	a.Error = ""
	a.Retryable = false
	a.ProgressPercent, a.ProgressETA, a.ProgressAt = 0, 0, time.Time{}
	a.ProgressChunksDone, a.ProgressChunks, a.ProgressWorkers = 0, 0, 0
	return a
}

func touchJob(a *Asset, backend string, attempt int, at time.Time) {
	setIf(&a.Backend, backend)
	if attempt > a.Attempt {
		a.Attempt = attempt
	}
	if at.After(a.JobAt) {
		a.JobAt = at
	}
}

func applyStarted(a Asset, e Started) (Asset, bool) {
	n := a
	if n.Owner == "" {
		n.Owner = e.Owner
	}
	switch relate(a, e.JobID, e.Attempt, e.At) {
	case jobStale:
		return a, false
	case jobNewer:
		n = newAttempt(n, e.Backend, e.JobID, e.Attempt, e.At)
		n.Status = StatusEncoding
	case jobCurrent:
		// The start of the attempt we already know, possibly after its end.
		touchJob(&n, e.Backend, e.Attempt, e.At)
		if n.Status.Rank() < StatusEncoding.Rank() {
			n.Status = StatusEncoding
		}
	}
	return n, true
}

func applyProgress(a Asset, e Progress) (Asset, bool) {
	n := a
	switch relate(a, e.JobID, 0, e.At) {
	case jobStale:
		return a, false
	case jobNewer:
		// Progress of a job we have not seen start: its start is late. It may take a
		// fresh asset to encoding, but a terminal status waits for the start itself.
		if a.Status.Terminal() {
			return a, false
		}
		n = newAttempt(n, e.Backend, e.JobID, 0, e.At)
		n.Status = StatusEncoding
	case jobCurrent:
		if a.Status.Terminal() {
			return a, false
		}
		if !e.At.After(a.ProgressAt) && !a.ProgressAt.IsZero() {
			return a, false // an older report overtaken by a newer one
		}
		touchJob(&n, e.Backend, 0, e.At)
		n.Status = StatusEncoding
	}
	n.ProgressPercent = clamp(e.Percent, 0, 100)
	n.ProgressETA = max(e.ETASeconds, 0)
	n.ProgressAt = e.At
	n.ProgressChunks = max(e.Chunks, 0)
	n.ProgressChunksDone = min(max(e.ChunksDone, 0), n.ProgressChunks)
	n.ProgressWorkers = max(e.Workers, 0)
	return n, true
}

// endAttempt decides whether an event that ends an attempt (finished or failed)
// applies, and returns the asset it applies to.
func endAttempt(a Asset, owner, backend, jobID string, at time.Time) (Asset, bool) {
	n := a
	if n.Owner == "" {
		n.Owner = owner
	}
	switch relate(a, jobID, 0, at) {
	case jobStale:
		return a, false
	case jobNewer:
		n = newAttempt(n, backend, jobID, 0, at)
	case jobCurrent:
		if a.Status.Terminal() {
			// Ready already (a second delivery under another event id), or failed: an
			// attempt ends once.
			return a, false
		}
		touchJob(&n, backend, 0, at)
	}
	return n, true
}

func applyFinished(a Asset, e Finished) (Asset, bool) {
	n, ok := endAttempt(a, e.Owner, e.Backend, e.JobID, e.At)
	if !ok {
		return a, false
	}
	n.Status = StatusReady
	n.Error, n.Retryable = "", false
	n.ProgressPercent, n.ProgressETA = 100, 0
	n.HLSKey, n.DASHKey = e.HLSKey, e.DASHKey
	n.HLSURL, n.DASHURL = e.HLSURL, e.DASHURL
	n.Renditions = append([]Rendition(nil), e.Renditions...)
	n.LadderMode = e.LadderMode
	n.ReadyAt = e.At
	n.ReadyTransitions++
	return n, true
}

func applyFailed(a Asset, e Failed) (Asset, bool) {
	n, ok := endAttempt(a, e.Owner, e.Backend, e.JobID, e.At)
	if !ok {
		return a, false
	}
	n.Status = StatusFailed
	n.Error = e.Reason
	if n.Error == "" {
		n.Error = "encoding failed"
	}
	n.Retryable = e.Retryable
	n.ProgressETA = 0
	return n, true
}

func setIf(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func clamp(v, lo, hi float64) float64 { return min(max(v, lo), hi) }

// Equal reports whether two assets hold the same facts (times compared as instants).
func Equal(a, b Asset) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) || !a.UpdatedAt.Equal(b.UpdatedAt) || !a.JobAt.Equal(b.JobAt) ||
		!a.ProgressAt.Equal(b.ProgressAt) || !a.ReadyAt.Equal(b.ReadyAt) || !RenditionsEqual(a.Renditions, b.Renditions) {
		return false
	}
	a.CreatedAt, a.UpdatedAt, a.JobAt, a.ProgressAt, a.ReadyAt, a.Renditions = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}, nil
	b.CreatedAt, b.UpdatedAt, b.JobAt, b.ProgressAt, b.ReadyAt, b.Renditions = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}, nil
	return reflect.DeepEqual(a, b)
}
