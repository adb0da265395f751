package sqlcommon

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The SQL this package runs numbers its parameters $1, $2, …: PostgreSQL's
// placeholders, which modernc.org/sqlite binds by ordinal too.

// Querier reads, in a transaction or not; each adapter wraps its driver in one.
// No-rows errors wrap sql.ErrNoRows (pgx's does too).
type Querier interface {
	// QueryRow runs a query of one row; its Scan returns the error.
	QueryRow(ctx context.Context, query string, args ...any) Scanner
	// Each runs a query and calls row for each row, in order.
	Each(ctx context.Context, query string, args []any, row func(Scanner) error) error
	// Exec runs a statement and returns how many rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
}

// Tx is a write transaction of either driver.
type Tx interface {
	Querier
	Commit(ctx context.Context) error
	// Rollback is called with a context that is never cancelled.
	Rollback(ctx context.Context) error
}

// rollbackUnless rolls tx back when *ok is false or *err is set; defer it.
func rollbackUnless(ctx context.Context, tx Tx, ok *bool, err *error) {
	if *err != nil || !*ok {
		_ = tx.Rollback(context.WithoutCancel(ctx))
	}
}

// ToNanos stores a time as UTC Unix nanoseconds; 0 is the zero time.
func ToNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// FromNanos reads what ToNanos stored.
func FromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// PruneProcessed forgets processed events older than before; redeliveries
// happen within minutes, so a retention of days is plenty.
func PruneProcessed(ctx context.Context, q Querier, before time.Time) (int64, error) {
	n, err := q.Exec(ctx, `DELETE FROM processed_events WHERE processed_at < $1`, before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("cannot prune processed events: %w", err)
	}
	return n, nil
}

// deleteBatch bounds how many rows one delete removes, so that no transaction
// (and, in SQLite, not the one writer) is held for long by a large backlog.
const deleteBatch = 5000

// DeleteEventsBefore deletes the playback events older than before (their
// ts), in batches; it returns how many it deleted.
func DeleteEventsBefore(ctx context.Context, q Querier, before time.Time) (int64, error) {
	var total int64
	for {
		n, err := q.Exec(ctx, `DELETE FROM playback_events WHERE seq IN
			(SELECT seq FROM playback_events WHERE ts < $1 LIMIT $2)`, before.UnixMilli(), deleteBatch)
		if err != nil {
			return total, fmt.Errorf("cannot delete old playback events: %w", err)
		}
		total += n
		if n < deleteBatch {
			return total, nil
		}
	}
}

// isNoRows reports whether err says a query found no row.
func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
