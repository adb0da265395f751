package sqlcommon

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pertitle/pertitle/services/catalog/internal/analytics"
)

// Scanner reads the current row.
type Scanner interface{ Scan(dest ...any) error }

// Rows is what both drivers' result sets offer (database/sql and pgx).
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// EachRow calls row for every row of rows, in order, and reports the first
// error, the iteration's included. The caller closes rows.
func EachRow(rows Rows, row func(Scanner) error) error {
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// QueryFunc runs a query and calls row for each row, in order. The adapters run
// every query of one report in one read transaction, so that the parts agree.
type QueryFunc func(ctx context.Context, query string, args []any, row func(Scanner) error) error

// Dialect is what differs between the SQL of the adapters.
type Dialect struct {
	// Param is the n-th (from 1) placeholder: "?1" or "$1".
	Param func(n int) string
	// Median is a query answering the median of startup_ms over the startup
	// events where cond holds (0 when there are none).
	Median func(cond string) string
	// Bytewise follows a text column in ORDER BY so that it sorts as Go compares strings.
	Bytewise string
}

// zeroTimeMS is the Unix time (ms) of Go's zero time: time.Truncate counts its
// buckets from there, not from 1970, and the SQL buckets must fall where the
// Aggregator's do whatever the interval.
const zeroTimeMS = 62135596800000

// Report computes the report of the events f selects with a handful of
// aggregate queries: no event row reaches Go.
func Report(ctx context.Context, d Dialect, query QueryFunc, f analytics.Filter, interval time.Duration) (analytics.Report, error) {
	if interval <= 0 {
		interval = time.Hour
	}
	q := newReportQueries(ctx, d, query, f, interval)
	var s analytics.Sums
	for _, st := range []struct {
		what string
		run  func(*analytics.Sums) error
	}{
		{"totals", q.totals},
		{"plays", q.plays},
		{"median startup", q.medianStartup},
		{"renditions", q.renditions},
		{"errors", q.errors},
		{"timeline", q.timeline},
	} {
		if err := st.run(&s); err != nil {
			return analytics.Report{}, fmt.Errorf("cannot compute the %s of playback events: %w", st.what, err)
		}
	}
	return s.Report(), nil
}

// reportQueries are the queries of one report: each takes the same
// parameters (the filter's) and adds its part to the sums.
type reportQueries struct {
	ctx      context.Context
	d        Dialect
	query    QueryFunc
	args     []any
	where    string // the filter's conditions
	from     string // FROM and WHERE of the filter's events
	interval time.Duration
}

func newReportQueries(ctx context.Context, d Dialect, query QueryFunc, f analytics.Filter, interval time.Duration) *reportQueries {
	q := &reportQueries{ctx: ctx, d: d, query: query, interval: interval}
	var conds []string
	arg := func(v any) string {
		q.args = append(q.args, v)
		return d.Param(len(q.args))
	}
	switch {
	case f.AssetID != "":
		conds = append(conds, "asset_id = "+arg(f.AssetID))
	case !f.All:
		conds = append(conds, "owner = "+arg(f.Owner))
	}
	if !f.Since.IsZero() {
		conds = append(conds, "ts >= "+arg(f.Since.UnixMilli()))
	}
	q.where = "TRUE"
	if len(conds) > 0 {
		q.where = strings.Join(conds, " AND ")
	}
	q.from = " FROM playback_events WHERE " + q.where
	return q
}

// one runs a query of one row into dest.
func (q *reportQueries) one(sql string, dest ...any) error {
	return q.query(q.ctx, sql, q.args, func(r Scanner) error { return r.Scan(dest...) })
}

func (q *reportQueries) totals(s *analytics.Sums) error {
	return q.one(`SELECT COUNT(DISTINCT asset_id),
		COUNT(DISTINCT CASE WHEN type = 'play_start' THEN viewer_id END),
		COALESCE(SUM(CASE WHEN type = 'heartbeat' THEN watched_seconds END), 0),
		CAST(COALESCE(SUM(CASE WHEN type = 'stall' THEN stall_ms END), 0) AS BIGINT),
		COALESCE(SUM(CASE WHEN type = 'heartbeat' AND to_bitrate > 0 THEN to_bitrate * watched_seconds END), 0),
		COALESCE(SUM(CASE WHEN type = 'heartbeat' AND to_bitrate > 0 THEN watched_seconds END), 0),
		CAST(COALESCE(SUM(bytes_downloaded), 0) AS BIGINT)`+q.from,
		&s.Assets, &s.UniqueViewers, &s.WatchedSeconds, &s.StallMS, &s.BitrateSeconds, &s.BitrateWeight, &s.BytesDownloaded)
}

// plays counts sessions: a session is one play, however often its
// play_start was sent.
func (q *reportQueries) plays(s *analytics.Sums) error {
	return q.one(`SELECT COUNT(*) FROM (SELECT DISTINCT asset_id, session_id`+q.from+` AND type = 'play_start') p`, &s.Plays)
}

func (q *reportQueries) medianStartup(s *analytics.Sums) error {
	return q.one(q.d.Median(q.where+" AND type = 'startup'"), &s.MedianStartupMS)
}

func (q *reportQueries) renditions(s *analytics.Sums) error {
	return q.query(q.ctx, `SELECT width, height, to_bitrate, SUM(watched_seconds) AS secs`+q.from+
		` AND type = 'heartbeat' AND (to_bitrate > 0 OR width > 0)
		GROUP BY width, height, to_bitrate
		ORDER BY secs DESC, to_bitrate DESC, width DESC, height DESC LIMIT `+strconv.Itoa(analytics.MaxRenditions), q.args,
		func(r Scanner) error {
			var x analytics.RenditionTime
			if err := r.Scan(&x.Width, &x.Height, &x.Bitrate, &x.Seconds); err != nil {
				return err
			}
			s.Renditions = append(s.Renditions, x)
			return nil
		})
}

func (q *reportQueries) errors(s *analytics.Sums) error {
	return q.query(q.ctx, `SELECT error_code, COUNT(*) AS n`+q.from+` AND type = 'error'
		GROUP BY error_code ORDER BY n DESC, error_code`+q.d.Bytewise+` LIMIT `+strconv.Itoa(analytics.MaxErrorCodes), q.args,
		func(r Scanner) error {
			var x analytics.ErrorCount
			if err := r.Scan(&x.Code, &x.Count); err != nil {
				return err
			}
			s.Errors = append(s.Errors, x)
			return nil
		})
}

// timeline counts plays and stalls per interval; a play counts in the bucket
// of its session's first play_start.
func (q *reportQueries) timeline(s *analytics.Sums) error {
	// The interval is an integer of our own, written into the SQL: every query
	// takes the same parameters, and only the timeline needs it.
	iv, zero := strconv.FormatInt(q.interval.Milliseconds(), 10), strconv.FormatInt(zeroTimeMS, 10)
	bucketOf := func(col string) string { return "(" + col + " - ((" + col + " + " + zero + ") % " + iv + "))" }
	return q.query(q.ctx, `SELECT b, SUM(p), SUM(st) FROM (
			SELECT `+bucketOf("MIN(ts)")+` AS b, 1 AS p, 0 AS st`+q.from+` AND type = 'play_start' GROUP BY asset_id, session_id
			UNION ALL
			SELECT `+bucketOf("ts")+`, 0, 1`+q.from+` AND type = 'stall'
		) buckets GROUP BY b ORDER BY b DESC LIMIT `+strconv.Itoa(analytics.MaxBuckets), q.args,
		func(r Scanner) error {
			var ms int64
			var x analytics.Bucket
			if err := r.Scan(&ms, &x.Plays, &x.Stalls); err != nil {
				return err
			}
			x.T = time.UnixMilli(ms).UTC()
			s.Timeline = append(s.Timeline, x)
			return nil
		})
}
