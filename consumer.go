package nango

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gonango/nango/internal/backoff"
	"github.com/gonango/nango/store"
)

// ConsumerConfig configures a durable consumer (Engine.NewConsumer).
type ConsumerConfig struct {
	// Name identifies the consumer: its cursors are kept in the store under this name, so a
	// consumer that restarts with the same name resumes where it stood. Required.
	Name string
	// Integration whose records the consumer reads. Required.
	Integration string
	// Models are the models it reads; empty reads every model of the integration's syncs.
	Models []string
	// Connections are the connections it reads; empty reads every connection of the
	// integration, including those added later.
	Connections []string
	// BatchSize is the most records handed to Handle at once, 1 to 10,000. Defaults to 100.
	BatchSize int
	// Handle processes a batch of changes of one stream. The consumer's cursor in the stream
	// moves past the batch only once Handle returns nil; after an error, or a crash, the same
	// records come again. Handle must therefore be idempotent. Required.
	Handle func(ctx context.Context, b *ChangeBatch) error
	// PollInterval is how often Run looks for changes it was not told about (written by another
	// process on the same store). Defaults to 1 minute.
	PollInterval time.Duration
	// InitialBackoff and MaxBackoff bound how long Run waits after Handle (or the store)
	// failed before it tries again; the wait doubles with each failure in a row. Default to 1
	// second and 1 minute.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
}

// ChangeBatch is a batch of changes of one stream, in cursor order: each record at its latest
// change.
type ChangeBatch struct {
	Consumer    string
	Integration string
	Connection  string
	Model       string
	Records     []Record
	// Cursor is where the consumer stands once the batch is handled (the last record's).
	Cursor string
	// Reset is true on the first batch read after the stream was emptied (a reset with
	// EmptyCache, or its connection deleted and added again): the records handed before are
	// gone, and a copy built from them should be dropped before this batch is applied. A
	// stream that stays empty sends no batch, so no Reset either.
	Reset bool
}

// ConsumerCursor is where a durable consumer stands in one stream. Its fields:
//
//	Key       ConsumerKey  Consumer (its name) and Stream (Integration, Connection, Model)
//	Cursor    string       the cursor of the last record it processed
//	UpdatedAt time.Time    when it last moved
type ConsumerCursor = store.ConsumerCursor

// Consumer is a durable consumer of the change feed: the seed's "cursor synchronization loop"
// done for you. It reads every stream it covers from its stored cursor, hands the changes to
// its Handle function in batches, and moves the cursor only after Handle succeeded. Delivery
// is at least once: a batch whose handling failed, or was cut short by a crash, comes again,
// and no change is ever skipped. Consumers with the same name share their cursors, also
// across processes on the same store (concurrent instances may hand the same batch twice).
type Consumer struct {
	e       *Engine
	cfg     ConsumerConfig
	running atomic.Bool
}

// NewConsumer returns a durable consumer. Start it with Run, or drive it with Drain.
func (e *Engine) NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	if err := store.ValidateName("consumer name", cfg.Name); err != nil {
		return nil, configError("%v", err)
	}
	if _, err := e.integration(cfg.Integration); err != nil {
		return nil, err
	}
	if cfg.Handle == nil {
		return nil, configError("consumer %q has no Handle function", cfg.Name)
	}
	cfg.Models, cfg.Connections = slices.Clone(cfg.Models), slices.Clone(cfg.Connections)
	for _, m := range cfg.Models {
		if err := e.checkModel(cfg.Integration, m); err != nil {
			return nil, err
		}
	}
	switch {
	case cfg.BatchSize == 0:
		cfg.BatchSize = store.DefaultListLimit
	case cfg.BatchSize < 0 || cfg.BatchSize > store.MaxListLimit:
		return nil, configError("consumer %q: batch size %d is outside 1..%d", cfg.Name, cfg.BatchSize, store.MaxListLimit)
	}
	durs := []struct {
		v   *time.Duration
		def time.Duration
	}{{&cfg.PollInterval, time.Minute}, {&cfg.InitialBackoff, time.Second}, {&cfg.MaxBackoff, time.Minute}}
	for _, d := range durs {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < 0:
			return nil, configError("consumer %q: negative duration %s", cfg.Name, *d.v)
		}
	}
	if cfg.MaxBackoff < cfg.InitialBackoff {
		cfg.MaxBackoff = cfg.InitialBackoff
	}
	return &Consumer{e: e, cfg: cfg}, nil
}

// Name is the consumer's name.
func (c *Consumer) Name() string { return c.cfg.Name }

// streams returns the streams the consumer covers now.
func (c *Consumer) streams(ctx context.Context) ([]store.Stream, error) {
	models := c.cfg.Models
	if len(models) == 0 {
		in, err := c.e.integration(c.cfg.Integration)
		if err != nil {
			return nil, err
		}
		for i := range in.Syncs {
			models = append(models, in.Syncs[i].modelNames()...)
		}
		slices.Sort(models)
	}
	conns := c.cfg.Connections
	if len(conns) == 0 {
		all, err := c.e.store.ConnectionList(ctx, c.cfg.Integration)
		if err != nil {
			return nil, fmt.Errorf("nango: consumer %q: listing connections: %w", c.cfg.Name, err)
		}
		for _, cn := range all {
			conns = append(conns, cn.ID)
		}
	}
	out := make([]store.Stream, 0, len(conns)*len(models))
	for _, cn := range conns {
		for _, m := range models {
			out = append(out, store.Stream{Integration: c.cfg.Integration, Connection: cn, Model: m})
		}
	}
	return out, nil
}

// Drain reads every stream the consumer covers up to its end, handing the changes to Handle,
// and returns how many records it handed over. A stream whose batch fails (Handle's error,
// wrapped, or the store's) keeps its cursor before that batch and is left for the next Drain;
// the other streams go on. The errors of every failed stream are joined.
func (c *Consumer) Drain(ctx context.Context) (int, error) {
	streams, err := c.streams(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	var errs []error
	for _, st := range streams {
		n, err := c.drainStream(ctx, st)
		total += n
		if err != nil {
			if ctx.Err() != nil {
				return total, err
			}
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

func (c *Consumer) drainStream(ctx context.Context, st store.Stream) (int, error) {
	key := store.ConsumerKey{Consumer: c.cfg.Name, Stream: st}
	total := 0
	for {
		cur := ""
		if cc, err := c.e.store.ConsumerCursorGet(ctx, key); err == nil {
			cur = cc.Cursor
		} else if !errors.Is(err, store.ErrNotFound) {
			return total, fmt.Errorf("nango: consumer %q: reading its cursor in %s: %w", c.cfg.Name, st, err)
		}
		from := cur
		stale := false
		page, err := c.e.store.RecordsList(ctx, &store.RecordsListParams{Stream: st, Cursor: from, Limit: c.cfg.BatchSize})
		if errors.Is(err, store.ErrCursorStale) {
			stale = true
			// The stream was emptied (a reset with EmptyCache): everything in it now is new.
			c.e.logger.Info("consumer's cursor is from before the stream was emptied; reading it from the start",
				"consumer", c.cfg.Name, "stream", st.String())
			from = ""
			page, err = c.e.store.RecordsList(ctx, &store.RecordsListParams{Stream: st, Limit: c.cfg.BatchSize})
		}
		if err != nil {
			return total, fmt.Errorf("nango: consumer %q: reading %s: %w", c.cfg.Name, st, err)
		}
		if len(page.Records) == 0 {
			return total, nil
		}
		if err := c.e.keys.openRecords(ctx, st, page.Records); err != nil {
			return total, fmt.Errorf("nango: consumer %q: reading %s: %w", c.cfg.Name, st, err)
		}
		b := &ChangeBatch{
			Consumer: c.cfg.Name, Integration: st.Integration, Connection: st.Connection, Model: st.Model,
			Records: make([]Record, len(page.Records)), Cursor: page.Records[len(page.Records)-1].Cursor,
			Reset: stale,
		}
		for i, r := range page.Records {
			b.Records[i] = fromStore(r)
		}
		if err := c.cfg.Handle(ctx, b); err != nil {
			return total, fmt.Errorf("nango: consumer %q: handling %d records of %s: %w", c.cfg.Name, len(b.Records), st, err)
		}
		_, err = c.e.store.ConsumerCursorPut(ctx, &store.ConsumerCursorPutParams{Key: key, Cursor: b.Cursor, Expected: cur, Now: c.e.now()})
		switch {
		case errors.Is(err, store.ErrConsumerConflict):
			// Another instance moved the cursor meanwhile: go on from where it is now.
			c.e.logger.Debug("consumer cursor moved by another instance", "consumer", c.cfg.Name, "stream", st.String())
			continue
		case err != nil:
			return total, fmt.Errorf("nango: consumer %q: saving its cursor in %s: %w", c.cfg.Name, st, err)
		}
		total += len(b.Records)
		if page.NextCursor == "" {
			return total, nil
		}
	}
}

// Run drains the consumer's streams until ctx is done, then returns nil: at once when a run of
// this engine commits changes to them, and every PollInterval for changes written by other
// processes. When Handle or the store fails, it logs the error and tries again after a backoff.
// A Consumer runs once at a time.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return fmt.Errorf("nango: consumer %q is already running", c.cfg.Name)
	}
	defer c.running.Store(false)
	wake := make(chan struct{}, 1)
	p := SubscribeParams{Integration: c.cfg.Integration, Models: c.cfg.Models}
	if len(c.cfg.Connections) == 1 {
		p.Connection = c.cfg.Connections[0]
	}
	unsub, err := c.e.Subscribe(p, func(ChangeEvent) {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return err
	}
	defer unsub()
	clk := c.e.cfg.Clock
	policy := backoff.Backoff{Initial: c.cfg.InitialBackoff, Max: c.cfg.MaxBackoff, NoJitter: true}
	var wait time.Duration // the first drain starts at once
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-clk.After(wait):
		case <-wake:
		}
		wait = c.cfg.PollInterval
		if _, err := c.Drain(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failures++
			wait = policy.Delay(failures)
			c.e.logger.Warn("consumer failed; trying again", "consumer", c.cfg.Name, "error", err, "backoff", wait.String())
		} else {
			failures = 0
		}
	}
}

// Cursors returns where the consumer stands in each stream it has read.
func (c *Consumer) Cursors(ctx context.Context) ([]*ConsumerCursor, error) {
	out, err := c.e.store.ConsumerCursorList(ctx, c.cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("nango: consumer %q: listing its cursors: %w", c.cfg.Name, err)
	}
	return out, nil
}

// Reset forgets the consumer's cursors: it reads every stream from the start again.
func (c *Consumer) Reset(ctx context.Context) error {
	if err := c.e.store.ConsumerDelete(ctx, c.cfg.Name); err != nil {
		return fmt.Errorf("nango: consumer %q: deleting its cursors: %w", c.cfg.Name, err)
	}
	return nil
}
