package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pertitle/pertitle/services/catalog/internal/analytics"
)

var _ analytics.Store = (*Repository)(nil)

// AppendEvents implements analytics.Store: the batch is stored in one transaction.
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
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO playback_events (asset_id, owner, type, session_id, viewer_id, ts,
		received_at, startup_ms, from_bitrate, to_bitrate, width, height, stall_ms, error_code, message,
		watched_seconds, bytes_downloaded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("cannot prepare: %w", err)
	}
	defer stmt.Close()
	now := time.Now().UnixMilli()
	for _, e := range events {
		if _, err = stmt.ExecContext(ctx, e.AssetID, owners[e.AssetID], string(e.Type), e.SessionID, e.ViewerID, e.TS,
			now, e.StartupMS, e.FromBitrate, e.ToBitrate, e.Width, e.Height, e.StallMS, e.ErrorCode, e.Message,
			e.WatchedSeconds, e.BytesDownloaded); err != nil {
			return fmt.Errorf("cannot store playback event: %w", err)
		}
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("cannot commit playback events: %w", err)
	}
	return nil
}

// ScanEvents implements analytics.Store, streaming rows so that memory stays flat.
func (r *Repository) ScanEvents(ctx context.Context, f analytics.Filter, fn func(analytics.Event) error) error {
	var where []string
	var args []any
	switch {
	case f.AssetID != "":
		where, args = append(where, "asset_id = ?"), append(args, f.AssetID)
	case !f.All:
		where, args = append(where, "owner = ?"), append(args, f.Owner)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "ts >= ?"), append(args, f.Since.UnixMilli())
	}
	q := `SELECT type, asset_id, session_id, viewer_id, ts, startup_ms, from_bitrate, to_bitrate, width, height,
		stall_ms, error_code, message, watched_seconds, bytes_downloaded FROM playback_events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := r.reader.QueryContext(ctx, q+" ORDER BY ts, seq", args...)
	if err != nil {
		return fmt.Errorf("cannot read playback events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e analytics.Event
		var typ string
		if err := rows.Scan(&typ, &e.AssetID, &e.SessionID, &e.ViewerID, &e.TS, &e.StartupMS, &e.FromBitrate,
			&e.ToBitrate, &e.Width, &e.Height, &e.StallMS, &e.ErrorCode, &e.Message, &e.WatchedSeconds,
			&e.BytesDownloaded); err != nil {
			return fmt.Errorf("cannot read playback event: %w", err)
		}
		e.Type = analytics.Type(typ)
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}
