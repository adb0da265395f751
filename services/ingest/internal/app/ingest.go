// Package app validates, stores and announces uploaded sources.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/limit"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/storage"
)

// Publisher puts events on the bus.
type Publisher interface {
	Publish(ctx context.Context, env *eventsv1.Envelope) error
}

// Prober tells whether a file is a video we can encode.
type Prober interface {
	Probe(ctx context.Context, path string) (*media.Source, error)
}

// Errors the HTTP port maps to status codes.
var (
	ErrEmpty       = errors.New("the upload is empty")
	ErrTooLarge    = errors.New("the upload is larger than the limit")
	ErrUnavailable = errors.New("cannot accept uploads right now")
)

// Ingestor stages an upload on local disk, validates it, makes it an object and
// publishes AssetUploaded. Nothing is kept of a rejected upload.
type Ingestor struct {
	Store      storage.Storage
	Pub        Publisher
	Prober     Prober
	StagingDir string
	MaxBytes   int64
	Producer   string
	// Uploads is a token bucket per owner: every upload and upload session
	// opened over HTTP takes a token (Admit). Nil: no limit.
	Uploads *limit.Keyed
	// Quota bounds what each owner has in flight (nil: no bound).
	Quota *Quota
}

// RateLimitedError is an upload refused because its owner opened too many lately.
type RateLimitedError struct{ Wait time.Duration }

func (e *RateLimitedError) Error() string {
	return "too many uploads lately; try again later"
}

// Admit takes one of owner's upload tokens, or says how long until there is one.
func (in *Ingestor) Admit(owner string) error {
	if in.Uploads == nil {
		return nil
	}
	if ok, wait := in.Uploads.Allow(owner); !ok {
		return &RateLimitedError{Wait: wait}
	}
	return nil
}

// Staged is an upload written to the staging area, not yet validated.
type Staged struct {
	Path string
	Size int64
}

// Discard removes the staged file.
func (s *Staged) Discard() { _ = os.Remove(s.Path) }

// Stage streams r to a staging file without holding it in memory.
func (in *Ingestor) Stage(ctx context.Context, r io.Reader) (*Staged, error) {
	if err := os.MkdirAll(in.StagingDir, 0o750); err != nil {
		return nil, fmt.Errorf("%w: cannot create staging dir: %w", ErrUnavailable, err)
	}
	f, err := os.CreateTemp(in.StagingDir, "upload-*")
	if err != nil {
		return nil, fmt.Errorf("%w: cannot create staging file: %w", ErrUnavailable, err)
	}
	st := &Staged{Path: f.Name()}
	buf := make([]byte, 1<<20)
	n, err := io.CopyBuffer(f, io.LimitReader(storage.ContextReader(ctx, r), in.MaxBytes+1), buf)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%w: %w", ErrUnavailable, cerr)
	}
	st.Size = n
	switch {
	case err != nil:
		st.Discard()
		return nil, fmt.Errorf("upload interrupted after %d bytes: %w", n, err)
	case n > in.MaxBytes:
		st.Discard()
		return nil, fmt.Errorf("%w of %d bytes", ErrTooLarge, in.MaxBytes)
	case n == 0:
		st.Discard()
		return nil, ErrEmpty
	}
	return st, nil
}

// Meta describes an upload besides its bytes.
type Meta struct {
	Title         string
	Filename      string
	ContentType   string
	Owner         string
	CorrelationID string
}

// check refuses what an event cannot carry: its strings must be UTF-8, and a
// query string or header can hold any bytes.
func (m Meta) check() error {
	for _, f := range []struct{ name, v string }{{"title", m.Title}, {"filename", m.Filename}, {"content type", m.ContentType}} {
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("%w: the %s is not UTF-8", ErrInvalidUpload, f.name)
		}
	}
	return nil
}

// Asset is what the caller learns of an accepted upload.
type Asset struct {
	ID        string  `json:"id"`
	Status    string  `json:"status"`
	Title     string  `json:"title"`
	Owner     string  `json:"owner"`
	Bytes     int64   `json:"source_bytes"`
	Duration  float64 `json:"duration_seconds"`
	Width     int     `json:"width"`
	Height    int     `json:"height"`
	SourceKey string  `json:"-"`
}

// Commit validates a staged upload, stores it and publishes AssetUploaded. The
// staged file is consumed either way.
func (in *Ingestor) Commit(ctx context.Context, st *Staged, m Meta) (*Asset, error) {
	defer st.Discard()
	if err := m.check(); err != nil {
		return nil, err
	}
	src, err := in.Prober.Probe(ctx, st.Path)
	if err != nil {
		return nil, err
	}
	id := uuid.NewString()
	key := jobs.SourceKey(id, src.Extension())
	if err := storage.MoveOrPut(ctx, in.Store, st.Path, key); err != nil {
		return nil, fmt.Errorf("%w: cannot store source: %w", ErrUnavailable, err)
	}
	asset, err := in.announce(ctx, id, key, src, st.Size, m)
	if err != nil {
		// Nobody will ever hear of this source: do not keep it.
		_ = in.Store.DeletePrefix(context.WithoutCancel(ctx), "sources/"+id)
		return nil, err
	}
	return asset, nil
}

// announce publishes AssetUploaded for the stored source key of asset id.
func (in *Ingestor) announce(ctx context.Context, id, key string, src *media.Source, size int64, m Meta) (*Asset, error) {
	title := m.Title
	if title == "" {
		title = strings.TrimSuffix(filepath.Base(m.Filename), filepath.Ext(m.Filename))
	}
	if title == "" || title == "." {
		title = "Untitled"
	}
	w, h := src.DisplaySize()
	env, err := events.New(events.Meta{AssetID: id, Producer: in.Producer, CorrelationID: m.CorrelationID},
		&eventsv1.AssetUploaded{
			Owner: m.Owner, Title: title, SourceKey: key, SourceUrl: in.Store.URL(key),
			OriginalFilename: m.Filename, ContentType: m.ContentType, Probe: probeSummary(src, size),
		})
	if err == nil {
		// The same for every attempt: a completion retried after a lost answer collapses downstream.
		env.EventId = uploadedEventID(id)
		err = in.Pub.Publish(ctx, env)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: cannot publish AssetUploaded: %w", ErrUnavailable, err)
	}
	return &Asset{ID: id, Status: "uploaded", Title: title, Owner: m.Owner, Bytes: size,
		Duration: src.Duration, Width: w, Height: h, SourceKey: key}, nil
}

// probeSummary is the probe as AssetUploaded carries it.
func probeSummary(src *media.Source, size int64) *eventsv1.ProbeSummary {
	w, h := src.DisplaySize()
	probe := &eventsv1.ProbeSummary{
		Container: src.Container, DurationSeconds: src.Duration, SizeBytes: size, Bitrate: src.Bitrate,
		VideoCodec: src.Video.Codec, Width: int32(w), Height: int32(h), FrameRate: src.Video.FrameRate,
		PixelFormat: src.Video.PixFmt, HasAudio: src.HasAudio(), Rotation: int32(src.Video.Rotation),
	}
	if src.HasAudio() {
		probe.AudioCodec = src.Audio[0].Codec
	}
	return probe
}
