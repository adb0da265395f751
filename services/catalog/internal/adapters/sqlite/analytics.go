package sqlite

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pertitle/pertitle/services/catalog/internal/adapters/sqlcommon"
	"github.com/pertitle/pertitle/services/catalog/internal/analytics"
)

var _ analytics.Store = (*Repository)(nil)

// eventColumns are the stored columns of an event, in insertRows' order.
const eventColumns = `asset_id, owner, type, session_id, viewer_id, ts, received_at, startup_ms, from_bitrate,
	to_bitrate, width, height, stall_ms, error_code, message, watched_seconds, bytes_downloaded`

// rowsPerInsert is how many events one INSERT writes: a beacon batch at most
// (analytics.MaxBatchEvents), well inside SQLite's limit on parameters.
const rowsPerInsert = analytics.MaxBatchEvents

// AppendEvents implements analytics.Store: the batch is stored in one
// transaction, up to a whole beacon batch per statement.
func (r *Repository) AppendEvents(ctx context.Context, owners map[string]string, events []analytics.Event) (err error) {
	tx, err := r.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cannot begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	now := time.Now().UnixMilli()
	one := "(" + strings.Repeat("?, ", 16) + "?)"
	args := make([]any, 0, 17*rowsPerInsert)
	for len(events) > 0 {
		n := min(len(events), rowsPerInsert)
		args = args[:0]
		for _, e := range events[:n] {
			args = append(args, e.AssetID, owners[e.AssetID], string(e.Type), e.SessionID, e.ViewerID, e.TS,
				now, e.StartupMS, e.FromBitrate, e.ToBitrate, e.Width, e.Height, e.StallMS, e.ErrorCode, e.Message,
				e.WatchedSeconds, e.BytesDownloaded)
		}
		q := `INSERT INTO playback_events (` + eventColumns + `) VALUES ` + one + strings.Repeat(", "+one, n-1)
		if _, err = tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("cannot store playback events: %w", err)
		}
		events = events[n:]
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("cannot commit playback events: %w", err)
	}
	return nil
}

// dialect is SQLite's side of the report queries. SQLite has no median
// aggregate: the middle one or two values are picked out of one sorted pass.
var dialect = sqlcommon.Dialect{
	Param: func(n int) string { return "?" + strconv.Itoa(n) },
	Median: func(cond string) string {
		return `SELECT COALESCE(AVG(startup_ms), 0) FROM (
				SELECT startup_ms, ROW_NUMBER() OVER (ORDER BY startup_ms) AS i, COUNT(*) OVER () AS n
				FROM playback_events WHERE ` + cond + `)
			WHERE i IN ((n + 1) / 2, (n + 2) / 2)`
	},
}

// Report implements analytics.Store: the events are aggregated by SQLite, in one
// read transaction, and no event row is read into Go.
func (r *Repository) Report(ctx context.Context, f analytics.Filter, interval time.Duration) (rep analytics.Report, err error) {
	tx, err := r.reader.BeginTx(ctx, nil)
	if err != nil {
		return analytics.Report{}, fmt.Errorf("cannot begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // read only: nothing to commit
	return sqlcommon.Report(ctx, dialect, querier{tx}.Each, f, interval)
}

// DeleteEventsBefore deletes the playback events older than before (their ts).
func (r *Repository) DeleteEventsBefore(ctx context.Context, before time.Time) (int64, error) {
	return sqlcommon.DeleteEventsBefore(ctx, querier{r.writer}, before)
}
