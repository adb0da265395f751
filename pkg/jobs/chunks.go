package jobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pertitle/pertitle/pkg/media"
	"github.com/pertitle/pertitle/pkg/storage"
)

// Plan is everything a worker needs to encode any chunk of a chunked job. The
// coordinator writes it once, before any chunk is asked for; its id is a hash
// of its content, so a coordinator that plans the job again (after a crash)
// finds the same plan, pieces and finished chunks, and a different plan (a
// different ladder, say) never mixes with them.
type Plan struct {
	JobID   string
	AssetID string
	Source  *media.Source
	Timing  media.Timing
	Ladder  []media.Rung
	Preset  string
	Chunks  []media.Chunk
	// ChunkCRFs, when set, are a per-shot encode's CRFs: ChunkCRFs[k][i] is
	// rung i's CRF in chunk k (media.ChunkRequest.CRFs), one list per chunk
	// and one CRF per rung. Part of the content, so part of the plan's id.
	ChunkCRFs [][]float64 `json:",omitempty"`
	// Analysis, when set, makes this the plan of a per-title analysis
	// rather than of an encode: chunk k is then sampled piece k, and
	// Analysis holds the pieces' tasks (JSON of []pertitle.PieceTask).
	Analysis json.RawMessage `json:",omitempty"`
	// Prefix is ChunkPrefix(JobID, the plan's id): where its work lives.
	Prefix string
}

// NewPlan fills in the plan's prefix from its content.
func NewPlan(p Plan) (*Plan, error) {
	p.Prefix = ""
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("jobs: plan of %s: %w", p.JobID, err)
	}
	sum := sha256.Sum256(b)
	p.Prefix = ChunkPrefix(p.JobID, hex.EncodeToString(sum[:6]))
	return &p, nil
}

// Frames is the number of frames the plan encodes.
func (p *Plan) Frames() int64 {
	var n int64
	for _, c := range p.Chunks {
		n += c.Frames
	}
	return n
}

// SavePlan creates the plan's key unless it exists (a coordinator that
// planned this job before wrote the same bytes).
func SavePlan(ctx context.Context, st storage.Storage, p *Plan) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("jobs: plan of %s: %w", p.JobID, err)
	}
	if _, err := st.Create(ctx, PlanKey(p.Prefix), bytes.NewReader(b)); err != nil && !errors.Is(err, storage.ErrExists) {
		return fmt.Errorf("jobs: cannot save plan of %s: %w", p.JobID, err)
	}
	return nil
}

// LoadPlan reads the plan at key, checking that it is one.
func LoadPlan(ctx context.Context, st storage.Storage, key string) (*Plan, error) {
	var p Plan
	if err := readJSON(ctx, st, key, &p); err != nil {
		return nil, err
	}
	encode := p.Source != nil && p.Source.Video != nil && len(p.Ladder) > 0
	if p.JobID == "" || len(p.Chunks) == 0 || (!encode && len(p.Analysis) == 0) || PlanKey(p.Prefix) != key {
		return nil, fmt.Errorf("jobs: %s is not a chunk plan", key)
	}
	if err := p.CheckChunkCRFs(); err != nil {
		return nil, fmt.Errorf("jobs: %s: %w", key, err)
	}
	return &p, nil
}

// CRFs is chunk k's CRF per rung, or nil when the plan keeps the ladder's.
func (p *Plan) CRFs(k int) []float64 {
	if k < 0 || k >= len(p.ChunkCRFs) {
		return nil
	}
	return p.ChunkCRFs[k]
}

// CheckChunkCRFs checks that per-chunk CRFs, when present, come with chunks
// that follow one another from the first frame (each a shot of the title),
// and give every chunk one CRF per rung, each one media.EncodeChunk takes.
func (p *Plan) CheckChunkCRFs() error {
	if len(p.ChunkCRFs) == 0 {
		return nil
	}
	if len(p.ChunkCRFs) != len(p.Chunks) {
		return fmt.Errorf("%d chunks but CRFs for %d", len(p.Chunks), len(p.ChunkCRFs))
	}
	var next int64
	for k, c := range p.Chunks {
		if c.Index != k || c.First != next || c.Frames <= 0 {
			return fmt.Errorf("chunk %d (index %d, frames %d+%d) does not follow on frame %d", k, c.Index, c.First, c.Frames, next)
		}
		next = c.First + c.Frames
	}
	if p.Source != nil && p.Source.Video != nil && p.Source.Video.Frames > 0 && next != p.Source.Video.Frames {
		return fmt.Errorf("the chunks hold %d frames, the source %d", next, p.Source.Video.Frames)
	}
	for k, crfs := range p.ChunkCRFs {
		if len(crfs) != len(p.Ladder) {
			return fmt.Errorf("chunk %d has %d CRFs for %d rungs", k, len(crfs), len(p.Ladder))
		}
		for i, c := range crfs {
			if !(c > 0 && c <= 51) {
				return fmt.Errorf("chunk %d rung %d: CRF %v outside (0, 51]", k, i, c)
			}
		}
	}
	return nil
}

// ChunkReport is what a chunk's done marker records.
type ChunkReport struct {
	Chunk  int
	Worker string
	CPU    time.Duration
	Wall   time.Duration
	At     time.Time
	// Result is what an analysis piece measured (pertitle.PieceResult).
	Result json.RawMessage `json:",omitempty"`
}

// ChunkFailure is what a chunk's failed marker records.
type ChunkFailure struct {
	Chunk  int
	Reason string
	At     time.Time
}

// MarkChunkDone creates chunk k's done marker; a second one is ErrExists.
func MarkChunkDone(ctx context.Context, st storage.Storage, prefix string, r ChunkReport) error {
	return createJSON(ctx, st, ChunkDoneKey(prefix, r.Chunk), r)
}

// MarkChunkFailed creates chunk k's failed marker (the first reason stays).
func MarkChunkFailed(ctx context.Context, st storage.Storage, prefix string, f ChunkFailure) error {
	err := createJSON(ctx, st, ChunkFailedKey(prefix, f.Chunk), f)
	if errors.Is(err, storage.ErrExists) {
		return nil
	}
	return err
}

// ChunkDone reports whether chunk k's rungs are all stored.
func ChunkDone(ctx context.Context, st storage.Storage, prefix string, k int) (bool, error) {
	_, err := st.Stat(ctx, ChunkDoneKey(prefix, k))
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// ChunkStates is what a coordinator sees of a plan's chunks.
type ChunkStates struct {
	Done    map[int]ChunkReport
	Failed  map[int]ChunkFailure
	Workers map[string]bool // workers holding or having finished a chunk
}

// ReadChunkStates lists the markers under the plan's prefix.
func ReadChunkStates(ctx context.Context, st storage.Storage, prefix string) (*ChunkStates, error) {
	objs, err := st.List(ctx, prefix+"/chunks/")
	if err != nil {
		return nil, fmt.Errorf("jobs: cannot list chunks of %s: %w", prefix, err)
	}
	s := &ChunkStates{Done: map[int]ChunkReport{}, Failed: map[int]ChunkFailure{}, Workers: map[string]bool{}}
	for _, o := range objs {
		switch {
		case strings.HasSuffix(o.Key, "/done.json"):
			var r ChunkReport
			if err := readJSON(ctx, st, o.Key, &r); err != nil {
				return nil, err
			}
			s.Done[r.Chunk] = r
			s.Workers[r.Worker] = true
		case strings.HasSuffix(o.Key, "/failed.json"):
			var f ChunkFailure
			if err := readJSON(ctx, st, o.Key, &f); err != nil {
				return nil, err
			}
			s.Failed[f.Chunk] = f
		case strings.HasSuffix(o.Key, "/claim.json"):
			var l Lease
			if readJSON(ctx, st, o.Key, &l) == nil && time.Now().Before(l.Expires) {
				s.Workers[l.Owner] = true
			}
		}
	}
	return s, nil
}

// Lease is a worker's claim on a chunk while it encodes it. SQS hides a
// message from other workers while its holder lives; the lease is for the
// copies SQS may deliver anyway, and for the coordinator's progress report.
type Lease struct {
	Owner   string
	Expires time.Time
}

// ErrHeld is returned (as a *HeldError) by Acquire when another worker's
// lease still runs.
var ErrHeld = errors.New("held by another worker")

// HeldError says whose lease runs, and until when.
type HeldError struct {
	Owner string
	Until time.Time
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%s: %s until %s", ErrHeld, e.Owner, e.Until.Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrHeld) true.
func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// Acquire takes the lease at key for owner: created when none exists, taken
// over when its holder's expired (the holder died) or it is owner's already.
// Two workers taking over one expired lease at once may both win: both then
// encode the same chunk into the same keys, which wastes work but no output.
func Acquire(ctx context.Context, st storage.Storage, key, owner string, ttl time.Duration) error {
	l := Lease{Owner: owner, Expires: time.Now().Add(ttl)}
	err := createJSON(ctx, st, key, l)
	if !errors.Is(err, storage.ErrExists) {
		return err
	}
	var cur Lease
	if err := readJSON(ctx, st, key, &cur); err == nil && cur.Owner != owner && time.Now().Before(cur.Expires) {
		return &HeldError{Owner: cur.Owner, Until: cur.Expires}
	}
	return putJSON(ctx, st, key, l)
}

// Renew extends owner's lease at key.
func Renew(ctx context.Context, st storage.Storage, key, owner string, ttl time.Duration) error {
	return putJSON(ctx, st, key, Lease{Owner: owner, Expires: time.Now().Add(ttl)})
}

// Held reports the lease at key when another worker holds it now.
func Held(ctx context.Context, st storage.Storage, key string) (*Lease, bool) {
	var l Lease
	if err := readJSON(ctx, st, key, &l); err != nil || !time.Now().Before(l.Expires) {
		return nil, false
	}
	return &l, true
}

// Release gives the lease at key up, so that another worker may start at once.
func Release(ctx context.Context, st storage.Storage, key string) error {
	if err := st.Delete(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return nil
}

func createJSON(ctx context.Context, st storage.Storage, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = st.Create(ctx, key, bytes.NewReader(b))
	return err
}

func putJSON(ctx context.Context, st storage.Storage, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = st.Put(ctx, key, bytes.NewReader(b))
	return err
}

// maxJSON bounds what a marker or plan may weigh.
const maxJSON = 4 << 20

func readJSON(ctx context.Context, st storage.Storage, key string, v any) error {
	rc, _, err := st.Open(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxJSON+1))
	if err != nil {
		return fmt.Errorf("jobs: cannot read %s: %w", key, err)
	}
	if len(b) > maxJSON {
		return fmt.Errorf("jobs: %s is over %d bytes", key, maxJSON)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("jobs: %s is corrupt: %w", key, err)
	}
	return nil
}

// ChunkStore keeps chunked jobs' plans, markers and leases in storage.
type ChunkStore struct{ Store storage.Storage }

// LoadPlan reads the plan at key.
func (c ChunkStore) LoadPlan(ctx context.Context, key string) (*Plan, error) {
	return LoadPlan(ctx, c.Store, key)
}

// Done reports whether chunk k is stored.
func (c ChunkStore) Done(ctx context.Context, p *Plan, k int) (bool, error) {
	return ChunkDone(ctx, c.Store, p.Prefix, k)
}

// MarkDone records chunk r.Chunk as stored, once.
func (c ChunkStore) MarkDone(ctx context.Context, p *Plan, r ChunkReport) error {
	if err := MarkChunkDone(ctx, c.Store, p.Prefix, r); err != nil && !errors.Is(err, storage.ErrExists) {
		return err
	}
	return nil
}

// MarkFailed records why chunk f.Chunk was given up on.
func (c ChunkStore) MarkFailed(ctx context.Context, p *Plan, f ChunkFailure) error {
	return MarkChunkFailed(ctx, c.Store, p.Prefix, f)
}

// Acquire takes chunk k's lease.
func (c ChunkStore) Acquire(ctx context.Context, p *Plan, k int, owner string, ttl time.Duration) error {
	return Acquire(ctx, c.Store, ChunkClaimKey(p.Prefix, k), owner, ttl)
}

// Renew extends chunk k's lease.
func (c ChunkStore) Renew(ctx context.Context, p *Plan, k int, owner string, ttl time.Duration) error {
	return Renew(ctx, c.Store, ChunkClaimKey(p.Prefix, k), owner, ttl)
}

// Leased reports whether a worker holds chunk k's lease now.
func (c ChunkStore) Leased(ctx context.Context, p *Plan, k int) bool {
	_, ok := Held(ctx, c.Store, ChunkClaimKey(p.Prefix, k))
	return ok
}

// Release gives chunk k's lease up.
func (c ChunkStore) Release(ctx context.Context, p *Plan, k int) error {
	return Release(ctx, c.Store, ChunkClaimKey(p.Prefix, k))
}
