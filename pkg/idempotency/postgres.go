package idempotency

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is the Store shared by replicas: one row per key in the table
// idempotency_claims. Every time is the server's (now()), so replicas whose
// clocks disagree still agree on leases.
type Postgres struct {
	pool *pgxpool.Pool

	mu        sync.Mutex
	lastPurge time.Time
}

// schemaLock serialises the creation of the table by replicas starting at once
// (CREATE TABLE IF NOT EXISTS alone can fail on a concurrent create).
const schemaLock = 0x70657274 // "pert"

// The state column holds State values; expires_at is the lease end (running),
// the end of the keep (done), or when a failed row may be purged.
const schema = `
CREATE TABLE IF NOT EXISTS idempotency_claims (
	key        text        PRIMARY KEY,
	state      text        NOT NULL CHECK (state IN ('running', 'done', 'failed')),
	token      text        NOT NULL,
	attempts   integer     NOT NULL,
	expires_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idempotency_claims_expires_at ON idempotency_claims (expires_at);
`

// OpenPostgres connects to url and creates the table if it is missing.
func OpenPostgres(ctx context.Context, url string) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error can quote the URL, password included.
		return nil, errors.New("idempotency: cannot parse the state database URL")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("idempotency: cannot connect to the state database: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &Postgres{pool: pool}, nil
}

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", schemaLock); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, schema)
		return err
	})
	if err != nil {
		return fmt.Errorf("idempotency: cannot create the claims table: %w", err)
	}
	return nil
}

// claimOnce wins key when it is free: the conditional upsert locks the row, so
// of racing claimers one updates it and the others find it held.
const claimOnce = `
INSERT INTO idempotency_claims AS c (key, state, token, attempts, expires_at, updated_at)
VALUES ($1, 'running', $2, 1, now() + $3 * interval '1 millisecond', now())
ON CONFLICT (key) DO UPDATE
	SET state = 'running', token = EXCLUDED.token, attempts = c.attempts + 1,
	    expires_at = EXCLUDED.expires_at, updated_at = now()
	WHERE c.state = 'failed' OR c.expires_at <= now()
RETURNING attempts`

// Claim implements Store.
func (p *Postgres) Claim(ctx context.Context, key string, lease time.Duration) (Claim, error) {
	if err := checkClaim(key, lease); err != nil {
		return Claim{}, err
	}
	p.purge(ctx)
	// A row that changes between the upsert and the look (its holder failed,
	// it was purged) is tried again; twice more is plenty.
	for range 3 {
		token := uuid.NewString()
		var attempts int
		err := p.pool.QueryRow(ctx, claimOnce, key, token, lease.Milliseconds()).Scan(&attempts)
		if err == nil {
			return Claim{Key: key, Won: true, Token: token, Attempt: attempts, State: Running}, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return Claim{}, fmt.Errorf("idempotency: cannot claim %s: %w", key, err)
		}
		var state State
		var waitMS float64
		err = p.pool.QueryRow(ctx, `
SELECT state, extract(epoch FROM expires_at - now()) * 1000 FROM idempotency_claims
WHERE key = $1 AND state <> 'failed' AND expires_at > now()`, key).Scan(&state, &waitMS)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return Claim{}, fmt.Errorf("idempotency: cannot read claim %s: %w", key, err)
		}
		c := Claim{Key: key, State: state}
		if state == Running {
			c.Wait = time.Duration(waitMS * float64(time.Millisecond))
		}
		return c, nil
	}
	return Claim{}, fmt.Errorf("idempotency: claim %s keeps changing hands", key)
}

// update applies set to the row c holds, or reports ErrLost.
func (p *Postgres) update(ctx context.Context, c Claim, set string, arg any) error {
	if err := checkHeld(c); err != nil {
		return err
	}
	tag, err := p.pool.Exec(ctx, `UPDATE idempotency_claims SET `+set+`, updated_at = now()
WHERE key = $1 AND token = $2 AND state = 'running'`, c.Key, c.Token, arg)
	if err != nil {
		return fmt.Errorf("idempotency: cannot update claim %s: %w", c.Key, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrLost
	}
	return nil
}

// Extend implements Store.
func (p *Postgres) Extend(ctx context.Context, c Claim, lease time.Duration) error {
	if err := checkClaim(c.Key, lease); err != nil {
		return err
	}
	return p.update(ctx, c, `expires_at = now() + $3 * interval '1 millisecond'`, lease.Milliseconds())
}

// Done implements Store.
func (p *Postgres) Done(ctx context.Context, c Claim, keep time.Duration) error {
	return p.update(ctx, c, `state = 'done', expires_at = now() + $3 * interval '1 millisecond'`, keep.Milliseconds())
}

// failedKept is how long a failed row stays (its attempts count) before purging.
const failedKept = time.Hour

// Fail implements Store.
func (p *Postgres) Fail(ctx context.Context, c Claim) error {
	return p.update(ctx, c, `state = 'failed', expires_at = now() + $3 * interval '1 millisecond'`, failedKept.Milliseconds())
}

// purgeInterval is how often one process deletes expired rows; purgeBatch
// bounds one deletion.
const (
	purgeInterval = 10 * time.Minute
	purgeBatch    = 10000
)

// purge deletes a batch of expired rows now and then: best effort, the
// claims are right without it.
func (p *Postgres) purge(ctx context.Context) {
	p.mu.Lock()
	due := time.Since(p.lastPurge) >= purgeInterval
	if due {
		p.lastPurge = time.Now()
	}
	p.mu.Unlock()
	if !due {
		return
	}
	_, _ = p.pool.Exec(ctx, `DELETE FROM idempotency_claims WHERE key IN (
SELECT key FROM idempotency_claims WHERE expires_at < now() LIMIT $1)`, purgeBatch)
}

// Ping implements Store.
func (p *Postgres) Ping(ctx context.Context) error { return p.pool.Ping(ctx) }

// Close implements Store.
func (p *Postgres) Close() error {
	p.pool.Close()
	return nil
}
