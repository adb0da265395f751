package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/pertitle/pertitle/pkg/auth"
	"github.com/pertitle/pertitle/pkg/events"
	"github.com/pertitle/pertitle/pkg/events/eventsv1"
	"github.com/pertitle/pertitle/pkg/jobs"
	"github.com/pertitle/pertitle/services/catalog/internal/domain"
)

// Publisher puts events on the bus.
type Publisher interface {
	Publish(ctx context.Context, env *eventsv1.Envelope) error
}

// Errors of the commands, besides domain.ErrNotFound and domain.ErrInvalidID.
var (
	// ErrNotFailed: only a failed asset can be retried.
	ErrNotFailed = errors.New("only a failed asset can be retried")
	// ErrNotRetryable: the asset failed before any encoding was requested (its
	// source was refused), so there is no request to repeat.
	ErrNotRetryable = errors.New("the asset failed before encoding was planned: upload it again")
	// ErrUnavailable: the bus or the database cannot take the command now.
	ErrUnavailable = errors.New("cannot change assets right now")
)

// Commands change assets on behalf of a caller: delete and retry.
type Commands struct {
	repo     Repository
	pub      Publisher
	producer string
	now      func() time.Time
}

// NewCommands returns the commands over repo, publishing with pub as producer.
func NewCommands(repo Repository, pub Publisher, producer string) *Commands {
	return &Commands{repo: repo, pub: pub, producer: producer, now: func() time.Time { return time.Now().UTC() }}
}

var (
	deletedNamespace = uuid.MustParse("8f6f3b0e-5a40-4f7c-9d1e-2b8c6c1f7a11")
	retryNamespace   = uuid.MustParse("d2a3c1b4-7e6f-4a58-9b0c-6e1d2f3a4b5c")
)

// DeletedEventID is the id of an asset's AssetDeleted: one per asset, so that
// deleting twice announces one deletion.
func DeletedEventID(id string) string {
	return uuid.NewSHA1(deletedNamespace, []byte(id)).String()
}

// accessible returns the asset if who may change it; another user's asset is
// reported as missing, as GET does.
func (c *Commands) accessible(ctx context.Context, who auth.Principal, id string) (domain.Asset, error) {
	if !domain.ValidID(id) {
		return domain.Asset{}, domain.ErrInvalidID
	}
	a, err := c.repo.Get(ctx, id)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return a, err
	case err != nil:
		return a, fmt.Errorf("%w: %w", ErrUnavailable, err)
	case !who.CanAccess(a.Owner):
		return domain.Asset{}, fmt.Errorf("asset %s: %w", id, domain.ErrNotFound)
	}
	return a, nil
}

// Delete announces AssetDeleted and tombstones the asset at once, so that it is
// gone from the API when Delete returns. The bus brings the event back to the
// projection, which removes the asset's sources and outputs from storage until
// that succeeds.
func (c *Commands) Delete(ctx context.Context, who auth.Principal, id string) error {
	a, err := c.accessible(ctx, who, id)
	if err != nil {
		return err
	}
	env, err := events.New(events.Meta{AssetID: id, Producer: c.producer},
		&eventsv1.AssetDeleted{Owner: a.Owner, DeletedBy: who.Subject})
	if err != nil {
		return err
	}
	env.EventId = DeletedEventID(id)
	if err := c.pub.Publish(ctx, env); err != nil {
		return fmt.Errorf("%w: cannot announce the deletion of %s: %w", ErrUnavailable, id, err)
	}
	if _, err := c.repo.Delete(ctx, EventKey{Consumer: Consumer, EventID: env.GetEventId()}, id, c.now()); err != nil {
		// Announced: the projection tombstones it when the event comes back.
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// Retried is what a retry asked for.
type Retried struct {
	AssetID   string
	Attempt   int
	RequestID string
	JobID     string
}

// Retry asks for a new attempt of a failed asset: its latest EncodingRequested
// again, with the next attempt number and a new job (and output prefix). The
// request's id derives from the failed job's, so retrying one failure twice (a
// double click, a client's retry) asks for one new attempt.
func (c *Commands) Retry(ctx context.Context, who auth.Principal, id string) (Retried, error) {
	a, err := c.accessible(ctx, who, id)
	if err != nil {
		return Retried{}, err
	}
	if a.Status != domain.StatusFailed {
		return Retried{}, fmt.Errorf("%w: asset %s is %s", ErrNotFailed, id, a.Status)
	}
	last, err := c.repo.LatestRequest(ctx, id)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return Retried{}, ErrNotRetryable
	case err != nil:
		return Retried{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var req eventsv1.EncodingRequested
	if err := proto.Unmarshal(last.Body, &req); err != nil {
		return Retried{}, fmt.Errorf("%w: the kept request of %s does not decode: %w", ErrUnavailable, id, err)
	}
	req.Attempt = max(req.GetAttempt(), int32(a.Attempt), 1) + 1
	reqID := uuid.NewSHA1(retryNamespace, []byte(id+"\x00"+a.JobID+"\x00"+last.EventID)).String()
	jobID := jobs.NewID(req.GetBackend(), reqID)
	req.OutputPrefix = jobs.OutputPrefix(id, jobID)
	env, err := events.New(events.Meta{AssetID: id, Producer: c.producer}, &req)
	if err != nil {
		return Retried{}, err
	}
	env.EventId = reqID
	if err := c.pub.Publish(ctx, env); err != nil {
		return Retried{}, fmt.Errorf("%w: cannot request encoding of %s: %w", ErrUnavailable, id, err)
	}
	return Retried{AssetID: id, Attempt: int(req.Attempt), RequestID: reqID, JobID: jobID}, nil
}
