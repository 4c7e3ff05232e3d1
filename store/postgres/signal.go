package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/gonango/nango/store"
	"github.com/jackc/pgx/v5"
)

var _ store.Signaler = (*Store)(nil)

// listenAppName is the application_name of the connection a store listens on.
const listenAppName = "nango-signals"

// SignalChannel is the NOTIFY channel of the store's schema, derived from its name: stores on
// other schemas of the same database do not hear each other.
func (s *Store) SignalChannel() string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s.name))
	return fmt.Sprintf("nango_signals_%016x", h.Sum64())
}

// listener is the store's one LISTEN connection, shared by every receiver in the process.
type listener struct {
	mu      sync.Mutex
	started bool
	ready   chan struct{} // closed once the first LISTEN is in place
	err     error         // why the first LISTEN failed, once ready is closed
	hub     store.SignalHub
	ctx     context.Context // ends when the store is closed
	cancel  context.CancelFunc
	done    chan struct{}
}

// Signal implements store.Signaler with NOTIFY: every store on the schema, in this process or
// another, that has receivers gets sig, once the transaction it runs in has committed (it runs
// alone, after the write it announces).
func (s *Store) Signal(ctx context.Context, sig store.Signal) error {
	payload, err := json.Marshal(sig)
	if err != nil {
		return err
	}
	return s.run(ctx, "signal", txWrite, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, s.SignalChannel(), string(payload))
		return err
	})
}

// Signals implements store.Signaler; the channel is closed when ctx is done or the store is
// closed. The first call opens a connection of its own (outside
// the pool) that LISTENs until the store is closed, and reconnects when it is lost; signals sent
// while it reconnects are lost, which the Signaler contract allows. It returns once the LISTEN is
// in place, so that the channel gets every signal sent after it returns.
func (s *Store) Signals(ctx context.Context) (<-chan store.Signal, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	l := &s.listen
	l.mu.Lock()
	if !l.started {
		l.started, l.err = true, nil
		l.ready = make(chan struct{})
		l.done = make(chan struct{})
		lctx, cancel := context.WithCancel(context.Background())
		l.ctx, l.cancel = lctx, cancel
		go s.listenLoop(lctx, l.ready, l.done)
	}
	ready, lctx := l.ready, l.ctx
	l.mu.Unlock()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-ready:
	}
	l.mu.Lock()
	err := l.err
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	// The receiver's channel also closes when the store does.
	rctx, cancel := context.WithCancel(ctx)
	context.AfterFunc(lctx, cancel)
	return l.hub.Signals(rctx)
}

// listenLoop keeps a LISTEN connection open until ctx ends, fanning what it hears out to the
// receivers in this process. It closes ready once the first LISTEN is in place, or with l.err
// set when it gives up before.
func (s *Store) listenLoop(ctx context.Context, ready, done chan struct{}) {
	l := &s.listen
	defer close(done)
	first := true
	fail := func(err error) {
		l.mu.Lock()
		l.err = err
		l.started = false // the next Signals tries again
		l.mu.Unlock()
		close(ready)
	}
	for attempt := 0; ; attempt++ {
		err := s.listenOnce(ctx, func() {
			attempt = 0
			if first {
				first = false
				close(ready)
			}
		})
		if ctx.Err() != nil {
			if first {
				fail(store.ErrClosed)
			}
			return
		}
		if first && attempt >= s.opts.MaxRetries {
			fail(fmt.Errorf("postgres: listening for signals: %w", err))
			return
		}
		s.log.DebugContext(ctx, "postgres: signal connection lost; reconnecting", "error", err.Error())
		if sleep(ctx, backoff(attempt)) != nil {
			if first {
				fail(store.ErrClosed)
			}
			return
		}
	}
}

// listenOnce connects, LISTENs (then calls listening) and relays notifications until the
// connection fails or ctx ends.
func (s *Store) listenOnce(ctx context.Context, listening func()) error {
	cfg := s.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = listenAppName
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.SignalChannel()}.Sanitize()); err != nil {
		return err
	}
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var sig store.Signal
		if err := json.Unmarshal([]byte(n.Payload), &sig); err != nil {
			s.log.WarnContext(ctx, "postgres: dropping a signal that is not one", "payload", n.Payload)
			continue
		}
		_ = s.listen.hub.Signal(ctx, sig)
	}
}

// stopListening ends the listener, if any, and waits for it.
func (s *Store) stopListening() {
	l := &s.listen
	l.mu.Lock()
	started, cancel, done := l.started, l.cancel, l.done
	l.mu.Unlock()
	if started && cancel != nil {
		cancel()
		<-done
	}
}
