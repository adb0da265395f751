package app

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pertitle/pertitle/pkg/storage"
)

// Errors of resumable uploads the HTTP port maps to status codes.
var (
	ErrSessionNotFound = errors.New("upload session not found")
	ErrInvalidUpload   = errors.New("invalid upload")
	ErrUnsupportedType = errors.New("unsupported media type")
	ErrPartTooLarge    = errors.New("part is larger than the part size")
	ErrLengthRequired  = errors.New("Content-Length is required")
	ErrIncomplete      = errors.New("upload is incomplete")
	ErrSessionBusy     = errors.New("upload session is being completed")
)

// Session statuses.
const (
	SessionUploading  = "uploading"
	SessionCompleting = "completing"
)

// DefaultPartSize is the part size of new sessions unless configured: above S3's
// 5 MiB minimum part, small enough that a lost part costs seconds to resend.
const DefaultPartSize = 8 << 20

// MaxParts bounds the number of parts (S3 multipart upload allows 10,000): the part
// size of a session grows with its declared size to stay under it.
const MaxParts = 10000

// Sessions runs resumable uploads: a client declares a file, sends its parts in any
// order and as often as it likes, then completes. Parts live as files under Dir, one
// directory per session; completion streams them into one staged file and hands it
// to Ingestor.Commit, so a resumable upload is validated, stored and announced
// exactly as a single POST /v1/assets is.
//
// State is on the filesystem and guarded by an in-process lock: replicas of ingest
// need session affinity (or S3 multipart upload, see README "Resumable uploads").
type Sessions struct {
	Ingestor *Ingestor
	// Dir holds one directory per session; it should sit on the staging filesystem
	// so that the assembled file becomes the source by a rename.
	Dir      string
	PartSize int64
	// TTL is how long a session lives after its last activity.
	TTL time.Duration
	// Now is the clock (tests).
	Now func() time.Time

	mu      sync.Mutex
	counted map[string]bool // sessions whose size is in Quota
}

// NewUpload is what a client declares when it opens a session.
type NewUpload struct {
	Filename    string `json:"filename"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
	Title       string `json:"title"`
}

// Session is an upload in progress.
type Session struct {
	ID          string    `json:"id"`
	Owner       string    `json:"owner"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	Title       string    `json:"title"`
	Size        int64     `json:"size"`
	PartSize    int64     `json:"part_size"`
	PartsTotal  int       `json:"parts_total"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// PartLen is the exact length part n (1-based) must have.
func (s *Session) PartLen(n int) int64 {
	if n == s.PartsTotal {
		return s.Size - int64(s.PartsTotal-1)*s.PartSize
	}
	return s.PartSize
}

// Part is one received part.
type Part struct {
	N    int    `json:"n"`
	Size int64  `json:"size"`
	ETag string `json:"etag"`
}

// Progress is a session and the parts it holds.
type Progress struct {
	Session
	Parts         []Part `json:"parts"`
	ReceivedBytes int64  `json:"received_bytes"`
}

func (s *Sessions) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sessions) partSize(size int64) int64 { return partSizeFor(s.PartSize, size) }

// partSizeFor is the configured part size ps, grown (in whole MiB) for a file
// of size bytes to fit in MaxParts.
func partSizeFor(ps, size int64) int64 {
	if ps <= 0 {
		ps = DefaultPartSize
	}
	if min := (size + MaxParts - 1) / MaxParts; ps < min {
		ps = (min + 1<<20 - 1) &^ (1<<20 - 1) // whole MiB
	}
	return ps
}

// videoExts are the file extensions a video upload plausibly has.
var videoExts = map[string]bool{
	".mp4": true, ".m4v": true, ".mov": true, ".qt": true, ".mkv": true, ".webm": true, ".ts": true,
	".mts": true, ".m2ts": true, ".avi": true, ".flv": true, ".mpg": true, ".mpeg": true, ".m2v": true,
	".vob": true, ".wmv": true, ".asf": true, ".3gp": true, ".3g2": true, ".ogv": true, ".mxf": true,
	".dv": true, ".y4m": true, ".h264": true, ".264": true, ".hevc": true, ".265": true,
}

// plausibleVideo accepts a video/* type (or one of the generic containers browsers
// report), or no type or a generic one when the extension is a video's.
func plausibleVideo(filename, contentType string) error {
	ext := strings.ToLower(filepath.Ext(filename))
	mt := ""
	if contentType != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(contentType); err != nil {
			return fmt.Errorf("%w: content_type %q is malformed", ErrInvalidUpload, contentType)
		}
	}
	switch {
	case strings.HasPrefix(mt, "video/"), mt == "application/mp4", mt == "application/x-matroska", mt == "application/mxf":
		return nil
	case (mt == "" || mt == "application/octet-stream" || mt == "binary/octet-stream") && videoExts[ext]:
		return nil
	case mt == "" || mt == "application/octet-stream" || mt == "binary/octet-stream":
		return fmt.Errorf("%w: %q does not have a video file extension", ErrUnsupportedType, filepath.Base(filename))
	}
	return fmt.Errorf("%w: content_type %q is not a video type", ErrUnsupportedType, mt)
}

// check refuses a declaration no upload may have: no owner, a bad file name,
// a long title, a size that is not positive or above maxBytes, or a file that
// does not claim to be a video.
func (u *NewUpload) check(owner string, maxBytes int64) error {
	u.Filename = strings.TrimSpace(u.Filename)
	switch {
	case owner == "":
		return fmt.Errorf("%w: no owner", ErrInvalidUpload)
	case u.Filename == "" || len(u.Filename) > 255 || strings.ContainsAny(u.Filename, "\x00/\\"):
		return fmt.Errorf("%w: filename must be a file name of 1 to 255 characters", ErrInvalidUpload)
	case len(u.Title) > 512:
		return fmt.Errorf("%w: title is longer than 512 characters", ErrInvalidUpload)
	case len(u.ContentType) > 255:
		return fmt.Errorf("%w: content_type is longer than 255 characters", ErrInvalidUpload)
	case !utf8.ValidString(u.Filename) || !utf8.ValidString(u.Title) || !utf8.ValidString(u.ContentType):
		return fmt.Errorf("%w: filename, title and content_type must be UTF-8", ErrInvalidUpload)
	case u.Size <= 0:
		return fmt.Errorf("%w: size must be a positive number of bytes", ErrInvalidUpload)
	case u.Size > maxBytes:
		return fmt.Errorf("%w of %d bytes", ErrTooLarge, maxBytes)
	}
	return plausibleVideo(u.Filename, u.ContentType)
}

// Create opens a session for owner after checking the declared file.
func (s *Sessions) Create(_ context.Context, owner string, u NewUpload) (*Session, error) {
	if err := u.check(owner, s.Ingestor.MaxBytes); err != nil {
		return nil, err
	}
	id, err := newSessionID()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err := s.Ingestor.Quota.reserve(owner, 1, u.Size); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	ps := s.partSize(u.Size)
	sess := &Session{ID: id, Owner: owner, Filename: u.Filename, ContentType: u.ContentType, Title: u.Title,
		Size: u.Size, PartSize: ps, PartsTotal: int((u.Size + ps - 1) / ps), Status: SessionUploading,
		CreatedAt: now, ExpiresAt: now.Add(s.TTL)}
	if err := os.MkdirAll(s.dir(id), 0o750); err != nil {
		s.Ingestor.Quota.release(owner, 1, u.Size)
		return nil, fmt.Errorf("%w: cannot create session: %w", ErrUnavailable, err)
	}
	if err := s.save(sess); err != nil {
		_ = os.RemoveAll(s.dir(id))
		s.Ingestor.Quota.release(owner, 1, u.Size)
		return nil, err
	}
	s.mu.Lock()
	s.markCounted(id)
	s.mu.Unlock()
	return sess, nil
}

func newSessionID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func validSessionID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

func (s *Sessions) dir(id string) string { return filepath.Join(s.Dir, id) }
func (s *Sessions) partPath(id string, n int) string {
	return filepath.Join(s.dir(id), fmt.Sprintf("%06d.part", n))
}

// load reads a live session owned by owner; any other case is ErrSessionNotFound, so
// that nobody learns of another user's sessions. Callers hold s.mu.
func (s *Sessions) load(owner, id string) (*Session, error) {
	if !validSessionID(id) {
		return nil, ErrSessionNotFound
	}
	b, err := os.ReadFile(filepath.Join(s.dir(id), "session.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrSessionNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read session: %w", ErrUnavailable, err)
	}
	var sess Session
	if err := json.Unmarshal(b, &sess); err != nil {
		return nil, fmt.Errorf("%w: corrupt session %s: %w", ErrUnavailable, id, err)
	}
	if sess.Owner != owner || !s.now().Before(sess.ExpiresAt) {
		return nil, ErrSessionNotFound
	}
	return &sess, nil
}

// save writes the session atomically. Callers hold s.mu (or own a new session).
func (s *Sessions) save(sess *Session) error {
	b, err := json.Marshal(sess)
	if err == nil {
		tmp := filepath.Join(s.dir(sess.ID), ".session.json.tmp")
		if err = os.WriteFile(tmp, b, 0o640); err == nil {
			err = os.Rename(tmp, filepath.Join(s.dir(sess.ID), "session.json"))
		}
	}
	if err != nil {
		return fmt.Errorf("%w: cannot save session: %w", ErrUnavailable, err)
	}
	return nil
}

// PutPart stores part n (1-based) of a session from r, which must hold exactly
// length bytes (the request's Content-Length, -1 when unknown). Sending a part again
// replaces it. The first bytes of part 1 must look like a video container; if they
// do not, the whole upload is rejected and deleted.
func (s *Sessions) PutPart(ctx context.Context, owner, id string, n int, length int64, r io.Reader) (Part, error) {
	s.mu.Lock()
	sess, err := s.load(owner, id)
	s.mu.Unlock()
	if err != nil {
		return Part{}, err
	}
	if sess.Status != SessionUploading {
		return Part{}, ErrSessionBusy
	}
	if n < 1 || n > sess.PartsTotal {
		return Part{}, fmt.Errorf("%w: part number must be between 1 and %d", ErrInvalidUpload, sess.PartsTotal)
	}
	want := sess.PartLen(n)
	switch {
	case length < 0:
		return Part{}, ErrLengthRequired
	case length > sess.PartSize:
		return Part{}, fmt.Errorf("%w: part %d has %d bytes, part_size is %d", ErrPartTooLarge, n, length, sess.PartSize)
	case length != want:
		return Part{}, fmt.Errorf("%w: part %d must have exactly %d bytes, not %d", ErrInvalidUpload, n, want, length)
	}
	br := bufio.NewReaderSize(storage.ContextReader(ctx, r), 4096)
	if n == 1 {
		head, _ := br.Peek(int(min(want, 1024)))
		if !LooksLikeVideo(head) {
			_ = s.Abort(ctx, owner, id)
			return Part{}, fmt.Errorf("%w: the file does not start like a video container "+
				"(%s); the upload was discarded", ErrUnsupportedType, ContainerList)
		}
	}
	tmp, err := os.CreateTemp(s.dir(id), ".part-*")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Part{}, ErrSessionNotFound // aborted meanwhile
		}
		return Part{}, fmt.Errorf("%w: cannot create part: %w", ErrUnavailable, err)
	}
	h := sha256.New()
	got, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(br, want+1))
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%w: %w", ErrUnavailable, cerr)
	}
	if err == nil && got != want {
		err = fmt.Errorf("%w: part %d must have exactly %d bytes, received %d", ErrInvalidUpload, n, want, got)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return Part{}, err
	}
	p := Part{N: n, Size: got, ETag: hex.EncodeToString(h.Sum(nil))}

	s.mu.Lock()
	defer s.mu.Unlock()
	if sess, err = s.load(owner, id); err == nil && sess.Status != SessionUploading {
		err = ErrSessionBusy
	}
	if err == nil {
		err = s.commitPart(sess, tmp.Name(), p)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return Part{}, err
	}
	return p, nil
}

// commitPart replaces part p with the file at tmp and slides the expiry. Callers hold s.mu.
func (s *Sessions) commitPart(sess *Session, tmp string, p Part) error {
	meta, _ := json.Marshal(p)
	if err := os.WriteFile(s.partPath(sess.ID, p.N)+".json", meta, 0o640); err != nil {
		return fmt.Errorf("%w: cannot record part: %w", ErrUnavailable, err)
	}
	if err := os.Rename(tmp, s.partPath(sess.ID, p.N)); err != nil {
		return fmt.Errorf("%w: cannot store part: %w", ErrUnavailable, err)
	}
	sess.ExpiresAt = s.now().UTC().Add(s.TTL)
	return s.save(sess)
}

// parts lists the parts received, in order. Callers hold s.mu.
func (s *Sessions) parts(sess *Session) ([]Part, error) {
	entries, err := os.ReadDir(s.dir(sess.ID))
	if err != nil {
		return nil, fmt.Errorf("%w: cannot list parts: %w", ErrUnavailable, err)
	}
	out := []Part{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".part.json")
		if !ok {
			continue
		}
		if _, err := os.Stat(filepath.Join(s.dir(sess.ID), name+".part")); err != nil {
			continue // recorded but not yet renamed in: it does not count
		}
		b, err := os.ReadFile(filepath.Join(s.dir(sess.ID), e.Name()))
		var p Part
		if err == nil {
			err = json.Unmarshal(b, &p)
		}
		if err != nil || strconv.Itoa(p.N) != strings.TrimLeft(name, "0") {
			return nil, fmt.Errorf("%w: corrupt part record %s", ErrUnavailable, e.Name())
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].N < out[j].N })
	return out, nil
}

// Get returns a session with the parts received so far.
func (s *Sessions) Get(_ context.Context, owner, id string) (*Progress, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.load(owner, id)
	if err != nil {
		return nil, err
	}
	parts, err := s.parts(sess)
	if err != nil {
		return nil, err
	}
	pr := &Progress{Session: *sess, Parts: parts}
	for _, p := range parts {
		pr.ReceivedBytes += p.Size
	}
	return pr, nil
}

// Abort deletes a session and its parts.
func (s *Sessions) Abort(_ context.Context, owner, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, err := s.load(owner, id)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(s.dir(id)); err != nil {
		return fmt.Errorf("%w: cannot delete session: %w", ErrUnavailable, err)
	}
	s.uncount(sess)
	return nil
}

// Complete assembles the parts in order into one staged file, streaming, and
// commits it as Ingestor.Commit does for a single upload. A session whose file is
// refused is deleted; one that fails for a transient reason (storage, bus) stays,
// so that the client can complete it again.
func (s *Sessions) Complete(ctx context.Context, owner, id, correlationID string) (*Asset, error) {
	s.mu.Lock()
	sess, err := s.load(owner, id)
	var parts []Part
	if err == nil && sess.Status != SessionUploading {
		err = ErrSessionBusy
	}
	if err == nil {
		parts, err = s.parts(sess)
	}
	if err == nil {
		err = missingParts(sess, parts)
	}
	if err == nil {
		sess.Status = SessionCompleting
		err = s.save(sess)
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}

	staged, err := s.assemble(ctx, sess)
	if err == nil {
		var asset *Asset
		asset, err = s.Ingestor.Commit(ctx, staged, Meta{Title: sess.Title, Filename: sess.Filename,
			ContentType: sess.ContentType, Owner: owner, CorrelationID: correlationID})
		if err == nil {
			s.mu.Lock()
			_ = os.RemoveAll(s.dir(id))
			s.uncount(sess)
			s.mu.Unlock()
			return asset, nil
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if errors.Is(err, ErrUnavailable) || ctx.Err() != nil {
		if cur, lerr := s.load(owner, id); lerr == nil {
			cur.Status = SessionUploading
			_ = s.save(cur)
		}
		return nil, err
	}
	_ = os.RemoveAll(s.dir(id)) // rejected: nothing is kept
	s.uncount(sess)
	return nil, err
}

func missingParts(sess *Session, parts []Part) error {
	have := make(map[int]bool, len(parts))
	for _, p := range parts {
		have[p.N] = true
	}
	var missing []string
	for n := 1; n <= sess.PartsTotal; n++ {
		if !have[n] {
			if len(missing) == 20 {
				missing = append(missing, "…")
				break
			}
			missing = append(missing, strconv.Itoa(n))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing parts %s", ErrIncomplete, strings.Join(missing, ", "))
	}
	return nil
}

// assemble concatenates the parts into a staging file and checks its size.
func (s *Sessions) assemble(ctx context.Context, sess *Session) (*Staged, error) {
	if err := os.MkdirAll(s.Ingestor.StagingDir, 0o750); err != nil {
		return nil, fmt.Errorf("%w: cannot create staging dir: %w", ErrUnavailable, err)
	}
	out, err := os.CreateTemp(s.Ingestor.StagingDir, "upload-*")
	if err != nil {
		return nil, fmt.Errorf("%w: cannot create staging file: %w", ErrUnavailable, err)
	}
	st := &Staged{Path: out.Name()}
	buf := make([]byte, 1<<20)
	for n := 1; n <= sess.PartsTotal && err == nil; n++ {
		var in *os.File
		if in, err = os.Open(s.partPath(sess.ID, n)); err != nil {
			break
		}
		var c int64
		c, err = io.CopyBuffer(out, storage.ContextReader(ctx, in), buf)
		st.Size += c
		_ = in.Close()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && st.Size != sess.Size {
		err = fmt.Errorf("%w: assembled %d bytes, declared %d", ErrUnavailable, st.Size, sess.Size)
	}
	if err != nil {
		st.Discard()
		if !errors.Is(err, ErrUnavailable) && ctx.Err() == nil {
			err = fmt.Errorf("%w: cannot assemble parts: %w", ErrUnavailable, err)
		}
		return nil, err
	}
	return st, nil
}

// Expire deletes sessions past their expiry (and leftovers without a readable
// session file), and staged uploads a crash left behind (older than TTL),
// returning how many it removed.
func (s *Sessions) Expire(_ context.Context) (int, error) {
	removed, err := SweepStaging(s.Ingestor.StagingDir, s.TTL, s.now())
	errs := []error{err}
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return removed, errors.Join(errs...)
	}
	if err != nil {
		return removed, fmt.Errorf("cannot list sessions: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, e := range entries {
		if !e.IsDir() || !validSessionID(e.Name()) {
			continue
		}
		var sess Session
		b, err := os.ReadFile(filepath.Join(s.Dir, e.Name(), "session.json"))
		if err == nil && json.Unmarshal(b, &sess) == nil && now.Before(sess.ExpiresAt) {
			continue
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			continue // unreadable for now: try again next time
		}
		if err := os.RemoveAll(filepath.Join(s.Dir, e.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		if sess.ID == e.Name() {
			s.uncount(&sess)
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

// Recover picks up the sessions a previous process left, at start-up: each live
// one counts in its owner's quota again, one caught completing (the process
// died mid-way) can be completed again, and part files it was writing are
// removed. Expired ones are left to Expire.
func (s *Sessions) Recover(_ context.Context) error {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot list sessions: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || !validSessionID(e.Name()) {
			continue
		}
		var sess Session
		b, err := os.ReadFile(filepath.Join(s.Dir, e.Name(), "session.json"))
		if err != nil || json.Unmarshal(b, &sess) != nil || !s.now().Before(sess.ExpiresAt) {
			continue
		}
		if sess.Status == SessionCompleting {
			sess.Status = SessionUploading
			errs = append(errs, s.save(&sess))
		}
		tmps, _ := filepath.Glob(filepath.Join(s.Dir, e.Name(), ".part-*"))
		for _, t := range tmps {
			errs = append(errs, os.Remove(t))
		}
		s.Ingestor.Quota.add(sess.Owner, 1, sess.Size)
		s.markCounted(sess.ID)
	}
	return errors.Join(errs...)
}

// uncount takes a deleted session out of its owner's quota. Callers hold s.mu.
func (s *Sessions) uncount(sess *Session) {
	if s.counted[sess.ID] {
		s.Ingestor.Quota.release(sess.Owner, 1, sess.Size)
		delete(s.counted, sess.ID)
	}
}

// markCounted notes that a session is in its owner's quota. Callers hold s.mu.
func (s *Sessions) markCounted(id string) {
	if s.counted == nil {
		s.counted = map[string]bool{}
	}
	s.counted[id] = true
}

// RunJanitor expires sessions every interval until ctx ends.
func (s *Sessions) RunJanitor(ctx context.Context, every time.Duration, onErr func(removed int, err error)) {
	runEvery(ctx, every, s.Expire, onErr)
}

// runEvery runs expire now and every interval until ctx ends, reporting what
// it removed and what failed.
func runEvery(ctx context.Context, every time.Duration, expire func(context.Context) (int, error), onErr func(int, error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := expire(ctx)
		if onErr != nil && (n > 0 || err != nil) {
			onErr(n, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// bmffBoxes are the top-level boxes an MP4 or QuickTime file starts with.
var bmffBoxes = map[string]bool{"ftyp": true, "moov": true, "mdat": true, "free": true, "skip": true, "wide": true, "pnot": true, "styp": true}

// ContainerList names what LooksLikeVideo recognises, for people.
const ContainerList = "MP4/MOV, Matroska/WebM, MPEG-TS, MPEG-PS, AVI, FLV, ASF, MXF, Ogg or YUV4MPEG"

// LooksLikeVideo tells whether the first bytes of a file are those of a video
// container. It only catches the obvious (a PDF, a text file, a JPEG): ffprobe and
// a decode decide at completion.
func LooksLikeVideo(b []byte) bool {
	has := func(off int, sig string) bool {
		return len(b) >= off+len(sig) && string(b[off:off+len(sig)]) == sig
	}
	switch {
	case len(b) >= 8 && bmffBoxes[string(b[4:8])]:
		return true // ISO BMFF / QuickTime
	case has(0, "\x1a\x45\xdf\xa3"):
		return true // EBML: Matroska, WebM
	case len(b) > 0 && b[0] == 0x47 && (len(b) < 189 || b[188] == 0x47):
		return true // MPEG-TS sync byte every 188 bytes
	case len(b) > 4 && b[4] == 0x47 && (len(b) < 197 || b[196] == 0x47):
		return true // M2TS: 4-byte timecode before each TS packet
	case has(0, "RIFF") && (has(8, "AVI ") || has(8, "AVIX")):
		return true
	case has(0, "FLV"), has(0, "OggS"), has(0, "\x00\x00\x01\xba"), has(0, "\x00\x00\x01\xb3"):
		return true // FLV, Ogg, MPEG-PS pack, MPEG-1/2 video sequence
	case has(0, "\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
		return true // ASF / WMV
	case has(0, "\x06\x0e\x2b\x34\x02\x05\x01\x01"):
		return true // MXF header partition key
	case has(0, "YUV4MPEG2"):
		return true
	}
	return false
}

// ErrNotDirect is a part URL asked of an upload whose parts go through ingest.
var ErrNotDirect = errors.New("this upload's parts go through ingest: PUT /v1/uploads/{id}/parts/{n}")

// PartURL is refused: parts of these sessions go through ingest (PutPart).
func (s *Sessions) PartURL(context.Context, string, string, int) (*PartURL, error) {
	return nil, ErrNotDirect
}

// PutPart is refused: parts of direct sessions go straight to storage.
func (d *Direct) PutPart(context.Context, string, string, int, int64, io.Reader) (Part, error) {
	return Part{}, ErrDirectPart
}
