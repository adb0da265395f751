package app

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/pertitle/pertitle/pkg/idempotency"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/storage"
)

// ErrDirectPart is a part sent to ingest for an upload whose parts go straight to storage.
var ErrDirectPart = errors.New("this upload's parts go straight to storage: PUT each to the URL of GET /v1/uploads/{id}/parts/{n}/url")

// completionLease is how long a completion (download, probe, publish) holds
// a session without renewing its lease; it renews every third of that, so a
// replica killed mid-completion leaves the session to another within a
// minute, while a live one keeps it however long it takes.
const completionLease = time.Minute

// Direct runs resumable uploads whose bytes go from the client straight to
// storage (S3 multipart upload through presigned part URLs): ingest opens the
// upload, hands out the part URLs, lists, completes and aborts it, and then
// validates the object read back from storage, as it would a single upload.
// Sessions live in a SessionStore, so that any replica serves any request.
type Direct struct {
	Ingestor *Ingestor
	Uploads  storage.DirectUploader
	Store    SessionStore
	PartSize int64
	// TTL is how long a session lives after its last activity (creation, a
	// part URL handed out, a failed completion).
	TTL time.Duration
	// Lease is how long a completion holds its session between renewals
	// (default completionLease; renewed every third of it).
	Lease time.Duration
	Now   func() time.Time
}

// PartURL is where to PUT one part.
type PartURL struct {
	N         int       `json:"n"`
	URL       string    `json:"url"`
	Method    string    `json:"method"`
	Size      int64     `json:"size"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (d *Direct) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

// Create opens a session and its multipart upload. Open sessions count in
// their owner's limits from the store, so every replica counts the same.
func (d *Direct) Create(ctx context.Context, owner string, u NewUpload) (*Session, error) {
	if err := u.check(owner, d.Ingestor.MaxBytes); err != nil {
		return nil, err
	}
	now := d.now()
	if q := d.Ingestor.Quota; q != nil {
		n, bytes, err := d.Store.Usage(ctx, owner, now)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		if (q.Sessions > 0 && n >= q.Sessions) || (q.Bytes > 0 && bytes+u.Size > q.Bytes) {
			return nil, fmt.Errorf("%w: %d open upload sessions holding %d bytes", ErrQuota, n, bytes)
		}
	}
	id, err := newSessionID()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	ps := partSizeFor(d.PartSize, u.Size)
	s := DirectSession{Session: Session{ID: id, Owner: owner, Filename: u.Filename, ContentType: u.ContentType,
		Title: u.Title, Size: u.Size, PartSize: ps, PartsTotal: int((u.Size + ps - 1) / ps), Status: SessionUploading,
		CreatedAt: now, ExpiresAt: now.Add(d.TTL)}, AssetID: uuid.NewString()}
	s.Key = jobs.SourceKey(s.AssetID, "")
	if s.UploadID, err = d.Uploads.CreateUpload(ctx, s.Key, u.ContentType); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err := d.Store.Create(ctx, s); err != nil {
		_ = d.Uploads.AbortUpload(context.WithoutCancel(ctx), s.Key, s.UploadID)
		return nil, fmt.Errorf("%w: cannot save the session: %w", ErrUnavailable, err)
	}
	return &s.Session, nil
}

// load returns a live session of owner; anything else is ErrSessionNotFound,
// so that nobody learns of another user's sessions.
func (d *Direct) load(ctx context.Context, owner, id string) (DirectSession, error) {
	if !validSessionID(id) {
		return DirectSession{}, ErrSessionNotFound
	}
	s, err := d.Store.Get(ctx, id)
	if errors.Is(err, ErrSessionNotFound) {
		return s, err
	}
	if err != nil {
		return s, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if s.Owner != owner || !d.now().Before(s.ExpiresAt) {
		return DirectSession{}, ErrSessionNotFound
	}
	return s, nil
}

// PartURL presigns the PUT of part n, its exact length signed, valid until
// the session expires (at most a day), and slides the session's expiry.
func (d *Direct) PartURL(ctx context.Context, owner, id string, n int) (*PartURL, error) {
	s, err := d.load(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	switch {
	case s.Status != SessionUploading || s.ObjectDone:
		return nil, ErrSessionBusy
	case n < 1 || n > s.PartsTotal:
		return nil, fmt.Errorf("%w: part number must be between 1 and %d", ErrInvalidUpload, s.PartsTotal)
	}
	expires := d.now().Add(d.TTL)
	if err := d.Store.Touch(ctx, id, expires); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	ttl := min(d.TTL, 24*time.Hour)
	u, err := d.Uploads.PresignPart(ctx, s.Key, s.UploadID, n, s.PartLen(n), ttl)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return &PartURL{N: n, URL: u, Method: "PUT", Size: s.PartLen(n), ExpiresAt: d.now().Add(ttl)}, nil
}

// Get returns a session with the parts storage holds so far (etag: S3's, an MD5).
func (d *Direct) Get(ctx context.Context, owner, id string) (*Progress, error) {
	s, err := d.load(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	pr := &Progress{Session: s.Session, Parts: []Part{}}
	if s.ObjectDone {
		for n := 1; n <= s.PartsTotal; n++ {
			pr.Parts = append(pr.Parts, Part{N: n, Size: s.PartLen(n)})
		}
		pr.ReceivedBytes = s.Size
		return pr, nil
	}
	parts, err := d.Uploads.Parts(ctx, s.Key, s.UploadID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	for _, p := range parts {
		if p.N >= 1 && p.N <= s.PartsTotal {
			pr.Parts = append(pr.Parts, Part{N: p.N, Size: p.Size, ETag: trimETag(p.ETag)})
			pr.ReceivedBytes += p.Size
		}
	}
	return pr, nil
}

func trimETag(e string) string {
	if u, err := strconv.Unquote(e); err == nil {
		return u
	}
	return e
}

// Abort deletes a session, its parts and, if it was completed, its object.
func (d *Direct) Abort(ctx context.Context, owner, id string) error {
	s, err := d.load(ctx, owner, id)
	if err != nil {
		return err
	}
	if s.Status == SessionCompleting && d.now().Before(s.LeaseUntil) {
		return ErrSessionBusy // its object may be becoming an asset right now
	}
	return d.discard(ctx, s)
}

// discard removes everything of a session: parts, object (unless it may have
// been announced: then it is an asset's source), record.
func (d *Direct) discard(ctx context.Context, s DirectSession) error {
	ctx = context.WithoutCancel(ctx)
	var errs []error
	if err := d.Uploads.AbortUpload(ctx, s.Key, s.UploadID); err != nil {
		errs = append(errs, err)
	}
	if !s.Announcing { // else left to the asset's deletion
		if err := d.Ingestor.Store.Delete(ctx, s.Key); err != nil && !errors.Is(err, storage.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		errs = append(errs, d.Store.Delete(ctx, s.ID))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: cannot delete the upload: %w", ErrUnavailable, err)
	}
	return nil
}

// Complete joins the parts into the object, reads it back from storage to
// validate it as a single upload is, and announces it. A file refused is
// deleted with its session; a missing or wrong-sized part leaves the session
// open to fix; storage or bus trouble leaves it open to complete again.
func (d *Direct) Complete(ctx context.Context, owner, id, correlationID string) (*Asset, error) {
	s, err := d.load(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	now := d.now()
	ok, err := d.Store.Claim(ctx, id, now, now.Add(d.lease()))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if !ok {
		return nil, ErrSessionBusy
	}
	held, lost := d.holdLease(ctx, id, now.Add(d.lease()))
	asset, err := d.complete(held, &s, correlationID)
	if lost() {
		// Another completion has the session now: leave it alone.
		return nil, fmt.Errorf("%w: the completion lost its lease", ErrUnavailable)
	}
	if err == nil {
		d.forget(ctx, id)
		return asset, nil
	}
	if refused(err, s.ObjectDone) && ctx.Err() == nil {
		if derr := d.discard(ctx, s); derr != nil { // refused: nothing is kept
			return nil, errors.Join(err, derr)
		}
		return nil, err
	}
	if !errors.Is(err, ErrIncomplete) && !errors.Is(err, ErrInvalidUpload) && !errors.Is(err, ErrUnavailable) {
		err = fmt.Errorf("%w: %w", ErrUnavailable, err) // storage, ffprobe or the client's connection: try again
	}
	rerr := d.Store.Release(context.WithoutCancel(ctx), id, s.ObjectDone, d.now().Add(d.TTL))
	return nil, errors.Join(err, rerr)
}

func (d *Direct) lease() time.Duration {
	if d.Lease > 0 {
		return d.Lease
	}
	return completionLease
}

// holdLease renews the completion's lease on session id (held until until)
// every third of the lease while the completion runs. It returns the context the
// completion runs on, cancelled should the lease be lost (it could not be
// renewed, and another replica may take the session over), and lost, which
// stops the renewals and reports whether that happened.
func (d *Direct) holdLease(ctx context.Context, id string, until time.Time) (context.Context, func() bool) {
	held, cancel := context.WithCancel(ctx)
	var gone atomic.Bool
	stop := idempotency.Beat(held, d.lease()/3, func() bool {
		next := d.now().Add(d.lease())
		ok, err := d.Store.Extend(held, id, until, next)
		if err != nil || !ok {
			gone.Store(true)
			cancel()
			return false
		}
		until = next
		return true
	})
	return held, func() bool {
		stop()
		cancel()
		return gone.Load()
	}
}

// refused tells a file that can never become an asset (the session goes)
// from trouble that completing again may get past (the session stays).
func refused(err error, objectDone bool) bool {
	var inv *media.InvalidSourceError
	return errors.As(err, &inv) || errors.Is(err, ErrEmpty) || errors.Is(err, ErrTooLarge) ||
		(objectDone && errors.Is(err, ErrInvalidUpload))
}

// forget deletes the record of a session whose object became an asset; tried
// a few times. Should it stay behind, it is marked announcing, and the janitor
// then forgets it without touching the asset's source.
func (d *Direct) forget(ctx context.Context, id string) {
	ctx = context.WithoutCancel(ctx)
	for i := range 3 {
		if d.Store.Delete(ctx, id) == nil {
			return
		}
		time.Sleep(time.Duration(i+1) * 200 * time.Millisecond)
	}
}

func (d *Direct) complete(ctx context.Context, s *DirectSession, correlationID string) (*Asset, error) {
	if !s.ObjectDone {
		if err := d.join(ctx, s); err != nil {
			return nil, err
		}
		s.ObjectDone = true
	}
	rc, obj, err := d.Ingestor.Store.Open(ctx, s.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read the upload back: %w", ErrUnavailable, err)
	}
	if obj.Size != s.Size {
		_ = rc.Close()
		return nil, &media.InvalidSourceError{Reason: fmt.Sprintf("the upload has %d bytes, %d were declared", obj.Size, s.Size)}
	}
	staged, err := d.Ingestor.Stage(ctx, rc)
	_ = rc.Close()
	if err != nil {
		return nil, err
	}
	defer staged.Discard()
	m := Meta{Title: s.Title, Filename: s.Filename, ContentType: s.ContentType, Owner: s.Owner, CorrelationID: correlationID}
	if err := m.check(); err != nil {
		return nil, err
	}
	src, err := d.Ingestor.Prober.Probe(ctx, staged.Path)
	if err != nil {
		return nil, err
	}
	// Recorded first: should forgetting the session fail once the asset is
	// announced, the janitor must not take its source for an orphan.
	if err := d.Store.Announcing(ctx, s.ID); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return d.Ingestor.announce(ctx, s.AssetID, s.Key, src, staged.Size, m)
}

// join checks that storage holds every part at its exact length and
// completes the multipart upload with them (parts beyond the declared count
// are left out, and so dropped by storage).
func (d *Direct) join(ctx context.Context, s *DirectSession) error {
	listed, err := d.Uploads.Parts(ctx, s.Key, s.UploadID)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	byN := make(map[int]storage.UploadedPart, len(listed))
	var have []Part
	for _, p := range listed {
		if p.N >= 1 && p.N <= s.PartsTotal {
			byN[p.N] = p
			have = append(have, Part{N: p.N})
		}
	}
	if err := missingParts(&s.Session, have); err != nil {
		return err
	}
	parts := make([]storage.UploadedPart, 0, s.PartsTotal)
	for n := 1; n <= s.PartsTotal; n++ {
		if p := byN[n]; p.Size != s.PartLen(n) {
			return fmt.Errorf("%w: part %d has %d bytes, it must have %d: send it again", ErrInvalidUpload, n, p.Size, s.PartLen(n))
		}
		parts = append(parts, byN[n])
	}
	if err := d.Uploads.CompleteUpload(ctx, s.Key, s.UploadID, parts); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// Expire deletes sessions past their expiry, with their parts and any object
// they had completed, a batch at a time; any replica may run it.
func (d *Direct) Expire(ctx context.Context) (int, error) {
	removed, err := SweepStaging(d.Ingestor.StagingDir, d.TTL, d.now())
	errs := []error{err}
	for {
		batch, err := d.Store.Expired(ctx, d.now(), 100)
		if err != nil {
			return removed, errors.Join(append(errs, err)...)
		}
		for _, s := range batch {
			if err := d.discard(ctx, s); err != nil {
				return removed, errors.Join(append(errs, err)...)
			}
			removed++
		}
		if len(batch) < 100 {
			return removed, errors.Join(errs...)
		}
	}
}

// RunJanitor expires sessions every interval until ctx ends.
func (d *Direct) RunJanitor(ctx context.Context, every time.Duration, onErr func(removed int, err error)) {
	runEvery(ctx, every, d.Expire, onErr)
}
