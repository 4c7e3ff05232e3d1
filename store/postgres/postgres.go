package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gonango/nango/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultSchema is the schema the store uses when Options.Schema is empty.
const DefaultSchema = "nango"

// Options configure New and Open. The zero value and nil mean the defaults.
type Options struct {
	// Schema is the PostgreSQL schema that holds the store's tables; New creates it. Defaults
	// to "nango". Several stores can share a database under different schemas.
	Schema string
	// ReadOnly makes every write fail with ErrReadOnly, and New check the schema's version
	// without creating or migrating anything.
	ReadOnly bool
	// MaxRetries is how many times a transaction that failed with a transient error is run
	// again. Defaults to 3; a negative value disables retries.
	MaxRetries int
	// Logger receives the retries of transient failures, at debug level. Defaults to discarding.
	Logger *slog.Logger
}

// Store is a store.Store on PostgreSQL. It is safe for concurrent use, by any number of
// goroutines and processes on the same schema.
type Store struct {
	pool     *pgxpool.Pool
	ownsPool bool
	schema   string // quoted identifier
	name     string // as given
	id       string // StoreID
	opts     Options
	log      *slog.Logger
	closed   atomic.Bool
	listen   listener     // signal.go
	fresh    freshStreams // records.go
}

var (
	_ store.Store      = (*Store)(nil)
	_ store.Identifier = (*Store)(nil)
)

// Open connects to the database at url (a postgres:// URL or a key=value connection string)
// with a pool of its own, and returns the store on it as New does. Close closes the pool.
func Open(ctx context.Context, url string, o *Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parsing the connection URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		return nil, fmt.Errorf("postgres: connecting: %w", err)
	}
	s, err := New(ctx, pool, o)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownsPool = true
	return s, nil
}

// New returns the store on a pool the caller owns (Close leaves it open), after creating or
// migrating its schema.
func New(ctx context.Context, pool *pgxpool.Pool, o *Options) (*Store, error) {
	if pool == nil {
		return nil, errors.New("postgres: nil pool")
	}
	var opts Options
	if o != nil {
		opts = *o
	}
	if opts.Schema == "" {
		opts.Schema = DefaultSchema
	}
	if len(opts.Schema) > 63 || strings.IndexByte(opts.Schema, 0) >= 0 {
		return nil, fmt.Errorf("postgres: schema name %q: at most 63 bytes, no NUL", opts.Schema)
	}
	switch {
	case opts.MaxRetries == 0:
		opts.MaxRetries = 3
	case opts.MaxRetries < 0:
		opts.MaxRetries = 0
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{pool: pool, schema: pgx.Identifier{opts.Schema}.Sanitize(), name: opts.Schema, opts: opts, log: log}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	s.id = s.identify(ctx)
	return s, nil
}

// identify names the store's data: the database cluster by its system identifier (by the
// server's address where the function is not allowed), the database, and the schema.
func (s *Store) identify(ctx context.Context) string {
	var cluster, db string
	err := s.pool.QueryRow(ctx, `SELECT (SELECT system_identifier::text FROM pg_control_system()), current_database()`).Scan(&cluster, &db)
	if err != nil {
		err = s.pool.QueryRow(ctx, `SELECT coalesce(host(inet_server_addr()), '') || ':' || coalesce(inet_server_port()::text, ''), current_database()`).Scan(&cluster, &db)
		if err != nil || cluster == ":" {
			c := s.pool.Config().ConnConfig
			cluster, db = fmt.Sprintf("%s:%d", c.Host, c.Port), c.Database
		}
	}
	return fmt.Sprintf("postgres:%s/%s/%s", cluster, db, s.name)
}

// StoreID implements store.Identifier: the database cluster (its system identifier), the
// database and the schema, so that two Stores on one schema have the same.
func (s *Store) StoreID() string { return s.id }

// Pool returns the pool the store uses.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Schema returns the name of the store's schema.
func (s *Store) Schema() string { return s.name }

// Close releases the store, and the pool if Open made it. Calls after Close return
// store.ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stopListening()
	if s.ownsPool {
		s.pool.Close()
	}
	return nil
}

// q returns a query with {s} replaced by the store's schema.
func (s *Store) q(query string) string { return strings.ReplaceAll(query, "{s}", s.schema) }

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return ctx.Err()
}

// txMode says what a transaction does.
type txMode int

const (
	txRead txMode = iota
	// txWrite transactions change the store: refused in read-only mode.
	txWrite
)

// dbtx is what both a pool and a transaction offer.
// queryJSON runs a query whose one column is a JSON document and decodes every row with decode.
func queryJSON[T any](ctx context.Context, db dbtx, decode func([]byte) (T, error), sql string, args ...any) ([]T, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		v, err := decode(data)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// run runs fn in a transaction, again from the start after a transient failure, up to
// Options.MaxRetries more times. op names the operation in errors.
func (s *Store) run(ctx context.Context, op string, mode txMode, fn func(ctx context.Context, tx pgx.Tx) error) error {
	if mode == txWrite && s.opts.ReadOnly && !s.closed.Load() {
		return ErrReadOnly
	}
	return s.retry(ctx, op, func() error { return s.attempt(ctx, mode, fn) })
}

// writeOne runs fn, a write of one statement that may run twice with the same effect, on the
// pool outside a transaction block (one round trip instead of three), again after a transient
// failure, even one that leaves unknown whether the statement committed.
func (s *Store) writeOne(ctx context.Context, op string, fn func(ctx context.Context, db dbtx) error) error {
	if s.opts.ReadOnly && !s.closed.Load() {
		return ErrReadOnly
	}
	return s.retry(ctx, op, func() error { return fn(ctx, s.pool) })
}

// read runs fn, a read of one statement, on the pool, again after a transient failure.
func (s *Store) read(ctx context.Context, op string, fn func(ctx context.Context, db dbtx) error) error {
	return s.retry(ctx, op, func() error { return fn(ctx, s.pool) })
}

func (s *Store) retry(ctx context.Context, op string, try func() error) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err := try()
		if err == nil {
			return nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ErrCommitUnknown) {
			return ctxErr
		}
		if !transient(err) || errors.Is(err, ErrCommitUnknown) {
			return err
		}
		if attempt >= s.opts.MaxRetries {
			return &TransientError{Op: op, Attempts: attempt + 1, Err: err}
		}
		s.log.DebugContext(ctx, "postgres: retrying after a transient failure", "op", op, "attempt", attempt+1, "error", err.Error())
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return err
		}
		if s.closed.Load() {
			return store.ErrClosed
		}
	}
}

func (s *Store) attempt(ctx context.Context, mode txMode, fn func(ctx context.Context, tx pgx.Tx) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	tx := &lazyTx{conn: conn, begin: "begin"}
	if mode == txRead {
		tx.begin = "begin read only"
	}
	if err := fn(ctx, tx); err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tx.Rollback(rctx)
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		if mode == txWrite && commitOutcomeUnknown(err) {
			return &commitUnknownError{err: err}
		}
		return err
	}
	return nil
}

// backoff is the wait before retry attempt+1: 20 ms doubling, at most 1 s, with jitter.
func backoff(attempt int) time.Duration {
	d := 20 * time.Millisecond << min(attempt, 6)
	d = min(d, time.Second)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
