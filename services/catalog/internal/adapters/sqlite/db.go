package sqlite

import (
	"context"
	"database/sql"

	"github.com/pertitle/pertitle/services/catalog/internal/adapters/sqlcommon"
)

// sqlQuerier is what a pool and a transaction both offer.
type sqlQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// querier is a pool or a transaction as sqlcommon reads and writes.
type querier struct{ q sqlQuerier }

func (q querier) QueryRow(ctx context.Context, query string, args ...any) sqlcommon.Scanner {
	return q.q.QueryRowContext(ctx, query, args...)
}

func (q querier) Each(ctx context.Context, query string, args []any, row func(sqlcommon.Scanner) error) error {
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return sqlcommon.EachRow(rows, row)
}

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// tx is a database/sql transaction as sqlcommon.Tx.
type tx struct {
	querier
	tx *sql.Tx
}

func txOf(t *sql.Tx) tx { return tx{querier{t}, t} }

func (t tx) Commit(context.Context) error   { return t.tx.Commit() }
func (t tx) Rollback(context.Context) error { return t.tx.Rollback() }

// begin begins a write transaction: the one writer connection serialises them.
func (r *Repository) begin(ctx context.Context) (tx, error) {
	t, err := r.writer.BeginTx(ctx, nil)
	if err != nil {
		return tx{}, err
	}
	return txOf(t), nil
}

// stmt is a prepared statement as a sqlQuerier: it runs itself, whatever
// query it is given.
type stmt struct{ s *sql.Stmt }

func (s stmt) ExecContext(ctx context.Context, _ string, args ...any) (sql.Result, error) {
	return s.s.ExecContext(ctx, args...)
}

func (s stmt) QueryContext(ctx context.Context, _ string, args ...any) (*sql.Rows, error) {
	return s.s.QueryContext(ctx, args...)
}

func (s stmt) QueryRowContext(ctx context.Context, _ string, args ...any) *sql.Row {
	return s.s.QueryRowContext(ctx, args...)
}
