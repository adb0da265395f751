// Package domain holds the catalog's view of an asset and the rules that decide how
// events, which may arrive late, twice or out of order, change it. No I/O here.
package domain

import (
	"errors"
	"time"
)

// Status is where an asset is in its journey.
type Status string

// Statuses. Ready and failed are terminal for an attempt: only a newer attempt
// moves an asset out of them.
const (
	StatusUploaded Status = "uploaded"
	StatusEncoding Status = "encoding"
	StatusReady    Status = "ready"
	StatusFailed   Status = "failed"
)

// Rank orders statuses so that a projection never moves an asset backwards:
// uploaded < encoding < ready | failed. The unknown status ranks lowest.
func (s Status) Rank() int {
	switch s {
	case StatusUploaded:
		return 1
	case StatusEncoding:
		return 2
	case StatusReady, StatusFailed:
		return 3
	}
	return 0
}

// Terminal reports whether s ends an attempt.
func (s Status) Terminal() bool { return s == StatusReady || s == StatusFailed }

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool { return s.Rank() > 0 }

// ParseStatus returns the status named s.
func ParseStatus(s string) (Status, error) {
	st := Status(s)
	if !st.Valid() {
		return "", ErrInvalidStatus
	}
	return st, nil
}

// Errors.
var (
	ErrNotFound      = errors.New("asset not found")
	ErrInvalidID     = errors.New("invalid asset id")
	ErrInvalidStatus = errors.New("invalid status: want uploaded, encoding, ready or failed")
)

// MaxIDLen bounds asset ids (ingest issues UUIDs; other producers may use ULIDs or slugs).
const MaxIDLen = 128

// ValidID reports whether id can name an asset: 1 to MaxIDLen characters of
// [A-Za-z0-9._-], not starting with a dot. It keeps ids safe in URLs and storage keys.
func ValidID(id string) bool {
	if id == "" || len(id) > MaxIDLen || id[0] == '.' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// Quality is one measured quality score of a rendition against its source.
type Quality struct {
	Metric string
	Value  float64
}

// Rendition is one produced rung of the ladder.
type Rendition struct {
	Width          int
	Height         int
	Bitrate        int64
	AverageBitrate int64
	Codec          string
	Codecs         string
	FrameRate      float64
	Bytes          int64
	Quality        []Quality
}

// Equal reports whether two renditions are the same.
func (r Rendition) Equal(o Rendition) bool {
	if r.Width != o.Width || r.Height != o.Height || r.Bitrate != o.Bitrate ||
		r.AverageBitrate != o.AverageBitrate || r.Codec != o.Codec || r.Codecs != o.Codecs ||
		r.FrameRate != o.FrameRate || r.Bytes != o.Bytes || len(r.Quality) != len(o.Quality) {
		return false
	}
	for i := range r.Quality {
		if r.Quality[i] != o.Quality[i] {
			return false
		}
	}
	return true
}

// RenditionsEqual reports whether two rendition sets are the same, in order.
func RenditionsEqual(a, b []Rendition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

// Asset is the catalog's projection of one uploaded video.
type Asset struct {
	ID        string
	Owner     string
	Title     string
	SourceKey string

	// From the probe of the source.
	DurationSeconds float64
	Width           int
	Height          int
	SourceBytes     int64

	Status    Status
	Error     string
	Retryable bool

	// Progress of the current attempt; meaningful while encoding.
	ProgressPercent float64
	ProgressETA     float64
	ProgressAt      time.Time
	// A chunked encode: chunks done out of all, and the workers on them.
	ProgressChunksDone, ProgressChunks, ProgressWorkers int

	// The current attempt: the encoding job the status refers to. Attempt is 0
	// while only events without an attempt number (finished, failed) have been seen.
	Backend string
	JobID   string
	Attempt int
	// JobAt is the newest occurred_at among the accepted events of the current job.
	// A job id we do not know yet is newer than the current one when its event is newer.
	JobAt time.Time

	// Outputs of the latest successful attempt: storage keys, or absolute URLs when the
	// backend gave them (they win over keys).
	HLSKey     string
	DASHKey    string
	HLSURL     string
	DASHURL    string
	Renditions []Rendition
	// LadderMode is how that attempt chose its ladder (jobs.ValidLadderMode:
	// "pertitle", "pershot", "static", "fixed"); empty when its event did not say.
	LadderMode string

	CreatedAt        time.Time
	UpdatedAt        time.Time
	ReadyAt          time.Time
	ReadyTransitions int
}

// ErrDeleted is returned for events of an asset that was deleted: its tombstone
// outlives it, so that a late or redelivered event cannot bring it back.
var ErrDeleted = errors.New("asset deleted")

// Request is the latest encoding request of an asset (the EncodingRequested
// event as it travelled), which a retry repeats as a new attempt.
type Request struct {
	EventID string
	At      time.Time
	Body    []byte
}
