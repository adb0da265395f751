package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pertitle/pertitle/services/catalog/internal/adapters/sqlcommon"
)

// pgxQuerier is what the pool and a transaction both offer.
type pgxQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// querier is the pool or a transaction as sqlcommon reads and writes.
type querier struct{ q pgxQuerier }

func (q querier) QueryRow(ctx context.Context, sql string, args ...any) sqlcommon.Scanner {
	return q.q.QueryRow(ctx, sql, args...)
}

func (q querier) Each(ctx context.Context, sql string, args []any, row func(sqlcommon.Scanner) error) error {
	rows, err := q.q.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return sqlcommon.EachRow(rows, row)
}

func (q querier) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := q.q.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}

// tx is a pgx transaction as sqlcommon.Tx.
type tx struct {
	querier
	tx pgx.Tx
}

func txOf(t pgx.Tx) tx { return tx{querier{t}, t} }

func (t tx) Commit(ctx context.Context) error   { return t.tx.Commit(ctx) }
func (t tx) Rollback(ctx context.Context) error { return t.tx.Rollback(ctx) }

// db is the pool as sqlcommon reads and writes outside a transaction.
func (r *Repository) db() querier { return querier{r.pool} }
