package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pertitle/pertitle/services/catalog/internal/adapters/sqlcommon"
	"github.com/pertitle/pertitle/services/catalog/internal/analytics"
)

var _ analytics.Store = (*Repository)(nil)

var eventColumns = []string{"asset_id", "owner", "type", "session_id", "viewer_id", "ts", "received_at", "startup_ms",
	"from_bitrate", "to_bitrate", "width", "height", "stall_ms", "error_code", "message", "watched_seconds", "bytes_downloaded"}

// AppendEvents implements analytics.Store: the batch is copied in (COPY), in
// one transaction.
func (r *Repository) AppendEvents(ctx context.Context, owners map[string]string, events []analytics.Event) error {
	now := time.Now().UnixMilli()
	i := 0
	_, err := r.pool.CopyFrom(ctx, pgx.Identifier{"playback_events"}, eventColumns, pgx.CopyFromFunc(func() ([]any, error) {
		if i == len(events) {
			return nil, nil
		}
		e := events[i]
		i++
		return []any{e.AssetID, owners[e.AssetID], string(e.Type), e.SessionID, e.ViewerID, e.TS,
			now, e.StartupMS, e.FromBitrate, e.ToBitrate, e.Width, e.Height, e.StallMS, e.ErrorCode, e.Message,
			e.WatchedSeconds, e.BytesDownloaded}, nil
	}))
	if err != nil {
		return fmt.Errorf("cannot store playback events: %w", err)
	}
	return nil
}

// dialect is PostgreSQL's side of the report queries.
var dialect = sqlcommon.Dialect{
	Param: func(n int) string { return "$" + strconv.Itoa(n) },
	Median: func(cond string) string {
		return `SELECT COALESCE(percentile_cont(0.5) WITHIN GROUP (ORDER BY startup_ms), 0)
			FROM playback_events WHERE ` + cond
	},
	Bytewise: ` COLLATE "C"`,
}

// Report implements analytics.Store: the events are aggregated by the server,
// in one read-only snapshot, and no event row is read into Go.
func (r *Repository) Report(ctx context.Context, f analytics.Filter, interval time.Duration) (analytics.Report, error) {
	tx, err := r.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return analytics.Report{}, fmt.Errorf("cannot begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // read only: nothing to commit
	return sqlcommon.Report(ctx, dialect, querier{tx}.Each, f, interval)
}

// DeleteEventsBefore deletes the playback events older than before (their ts).
func (r *Repository) DeleteEventsBefore(ctx context.Context, before time.Time) (int64, error) {
	return sqlcommon.DeleteEventsBefore(ctx, r.db(), before)
}
