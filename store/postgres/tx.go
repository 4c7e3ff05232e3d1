package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lazyTx is a transaction on a pooled connection whose BEGIN goes out with its first
// statement: in the same batch when that is a batch, which saves a write a round trip. A
// transaction that ran nothing commits and rolls back as a no-op.
type lazyTx struct {
	conn   *pgxpool.Conn
	begin  string
	began  bool
	closed bool
}

var _ pgx.Tx = (*lazyTx)(nil)

// start sends the BEGIN on its own, before a statement that cannot carry it.
func (t *lazyTx) start(ctx context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	if t.began {
		return nil
	}
	t.began = true
	_, err := t.conn.Exec(ctx, t.begin)
	return err
}

func (t *lazyTx) Begin(context.Context) (pgx.Tx, error) {
	return nil, errors.New("postgres: nested transactions are not used")
}

func (t *lazyTx) Commit(ctx context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	t.closed = true
	if !t.began {
		return nil
	}
	tag, err := t.conn.Exec(ctx, "commit")
	if err != nil {
		if t.conn.Conn().PgConn().TxStatus() != 'I' {
			_ = t.conn.Conn().Close(ctx) // the pool drops it on release
		}
		return err
	}
	if tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

func (t *lazyTx) Rollback(ctx context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	t.closed = true
	if !t.began {
		return nil
	}
	if _, err := t.conn.Exec(ctx, "rollback"); err != nil {
		_ = t.conn.Conn().Close(ctx) // its state is unknown: the pool drops it on release
		return fmt.Errorf("rollback failed: %w", err)
	}
	return nil
}

func (t *lazyTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.start(ctx); err != nil {
		return 0, err
	}
	return t.conn.CopyFrom(ctx, table, columns, src)
}

// SendBatch sends the BEGIN as the batch's first statement if none went yet; its result is
// read before the caller's first.
func (t *lazyTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.closed {
		return errBatch{pgx.ErrTxClosed}
	}
	if t.began {
		return t.conn.SendBatch(ctx, b)
	}
	t.began = true
	withBegin := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(b.QueuedQueries)+1)}
	withBegin.Queue(t.begin)
	withBegin.QueuedQueries = append(withBegin.QueuedQueries, b.QueuedQueries...)
	return &beginResults{BatchResults: t.conn.SendBatch(ctx, withBegin), pending: true}
}

func (t *lazyTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

func (t *lazyTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if err := t.start(ctx); err != nil {
		return nil, err
	}
	return t.conn.Conn().Prepare(ctx, name, sql)
}

func (t *lazyTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := t.start(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return t.conn.Exec(ctx, sql, args...)
}

func (t *lazyTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.start(ctx); err != nil {
		return nil, err
	}
	return t.conn.Query(ctx, sql, args...)
}

func (t *lazyTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := t.start(ctx); err != nil {
		return errRow{err}
	}
	return t.conn.QueryRow(ctx, sql, args...)
}

func (t *lazyTx) Conn() *pgx.Conn { return t.conn.Conn() }

// beginResults are the results of a batch that starts with the transaction's BEGIN.
type beginResults struct {
	pgx.BatchResults
	pending bool
}

// skip reads the BEGIN's result; an error there fails the batch's later results too.
func (r *beginResults) skip() {
	if r.pending {
		r.pending = false
		_, _ = r.BatchResults.Exec()
	}
}

func (r *beginResults) Exec() (pgconn.CommandTag, error) {
	r.skip()
	return r.BatchResults.Exec()
}

func (r *beginResults) Query() (pgx.Rows, error) {
	r.skip()
	return r.BatchResults.Query()
}

func (r *beginResults) QueryRow() pgx.Row {
	r.skip()
	return r.BatchResults.QueryRow()
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// errBatch is a batch that was not sent.
type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b errBatch) QueryRow() pgx.Row                { return errRow(b) }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }
