package nango_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store/bolt"
	"github.com/gonango/nango/store/memory"
)

func TestConsumerKilledMidBatchResumesWithoutLoss(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "consumer.db")
	open := func() (*bolt.Store, *fixture) {
		st, err := bolt.Open(path, nil)
		require.NoError(t, err)
		return st, newFixture(t, st, nango.SyncConfig{}, nil)
	}
	st, f := open()
	_, err := f.run(t, saveAll(contacts(250, "a")), nil)
	require.NoError(t, err)

	var handled []string // acknowledged: Handle returned nil
	var batches [][]string
	killed := make(chan struct{})
	ctx, kill := context.WithCancel(context.Background())
	c, err := f.eng.NewConsumer(nango.ConsumerConfig{Name: "indexer", Integration: "crm", Models: []string{"Contact"}, BatchSize: 100,
		Handle: func(ctx context.Context, b *nango.ChangeBatch) error {
			batches = append(batches, recordIDs(b.Records))
			if len(batches) == 2 {
				// The process dies while it works on the second batch.
				close(killed)
				<-ctx.Done()
				return ctx.Err()
			}
			handled = append(handled, recordIDs(b.Records)...)
			return nil
		}})
	require.NoError(t, err)
	go func() { <-killed; kill() }()
	n, err := c.Drain(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 100, n)
	require.NoError(t, st.Close())

	// A new process, the same consumer.
	st, f = open()
	defer st.Close()
	c, err = f.eng.NewConsumer(nango.ConsumerConfig{Name: "indexer", Integration: "crm", Models: []string{"Contact"}, BatchSize: 100,
		Handle: func(ctx context.Context, b *nango.ChangeBatch) error {
			batches = append(batches, recordIDs(b.Records))
			handled = append(handled, recordIDs(b.Records)...)
			return nil
		}})
	require.NoError(t, err)
	n, err = c.Drain(t.Context())
	require.NoError(t, err)
	require.Equal(t, 150, n)
	require.Equal(t, batches[1], batches[2], "the batch cut short comes again, whole")
	require.Equal(t, recordIDs(f.list(t, "Contact")), handled, "every record once, in feed order: nothing skipped")

	// Later changes only.
	_, err = f.run(t, saveAll(append(contacts(2, "b"), contacts(252, "a")[250:]...)), nil)
	require.NoError(t, err)
	handled = nil
	n, err = c.Drain(t.Context())
	require.NoError(t, err)
	require.Equal(t, 4, n)
	require.Equal(t, []string{"c0000", "c0001", "c0250", "c0251"}, handled)
	cursors, err := c.Cursors(t.Context())
	require.NoError(t, err)
	require.Len(t, cursors, 1)
	require.Equal(t, "Contact", cursors[0].Key.Stream.Model)

	// Reset reads from the start.
	require.NoError(t, c.Reset(t.Context()))
	handled = nil
	n, err = c.Drain(t.Context())
	require.NoError(t, err)
	require.Equal(t, 252, n)
}

func recordIDs(recs []nango.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func TestConsumerErrorsAndStreams(t *testing.T) {
	t.Parallel()
	f := newFixture(t, memory.New(), nango.SyncConfig{}, nil)
	require.NoError(t, f.eng.AddConnection(t.Context(), nango.Connection{Integration: "crm", ID: "conn-2"}))
	_, err := f.run(t, func(ctx context.Context, n *nango.Nango) error {
		if err := n.BatchSave(ctx, contacts(3, "a"), "Contact"); err != nil {
			return err
		}
		return n.BatchSave(ctx, []map[string]any{{"id": "n1"}}, "Note")
	}, nil)
	require.NoError(t, err)
	_, err = f.eng.RunSync(t.Context(), "crm", "contacts", "conn-2", nil)
	require.NoError(t, err)

	var mu sync.Mutex
	var seen []string
	failOnce := true
	c, err := f.eng.NewConsumer(nango.ConsumerConfig{Name: "all", Integration: "crm", BatchSize: 2,
		Handle: func(_ context.Context, b *nango.ChangeBatch) error {
			mu.Lock()
			defer mu.Unlock()
			if failOnce && b.Model == "Note" {
				failOnce = false
				return errors.New("index unavailable")
			}
			if b.Reset {
				seen = append(seen, "reset "+b.Connection+"/"+b.Model)
			}
			for _, r := range b.Records {
				seen = append(seen, fmt.Sprintf("%s/%s/%s", b.Connection, b.Model, r.ID))
			}
			require.Equal(t, b.Records[len(b.Records)-1].Metadata.Cursor, b.Cursor)
			return nil
		}})
	require.NoError(t, err)
	_, err = c.Drain(t.Context())
	require.ErrorContains(t, err, `nango: consumer "all": handling 1 records of crm/conn-1/Note: index unavailable`)
	_, err = c.Drain(t.Context())
	require.NoError(t, err)
	// Every model of every connection (conn-2's run saved the same records: the fixture's
	// exec is shared). The stream that failed does not hold the others up: conn-2 went on in
	// the first Drain, and conn-1's notes came in the second.
	require.Equal(t, []string{
		"conn-1/Contact/c0000", "conn-1/Contact/c0001", "conn-1/Contact/c0002",
		"conn-2/Contact/c0000", "conn-2/Contact/c0001", "conn-2/Contact/c0002", "conn-2/Note/n1",
		"conn-1/Note/n1",
	}, seen)

	// A reset that empties the stream: the consumer reads it again from the start.
	_, err = f.eng.RunSync(t.Context(), "crm", "contacts", "conn-1", &nango.RunOptions{Reset: true, EmptyCache: true})
	require.NoError(t, err)
	seen = nil
	_, err = c.Drain(t.Context())
	require.NoError(t, err)
	require.Equal(t, []string{
		"reset conn-1/Contact", "conn-1/Contact/c0000", "conn-1/Contact/c0001", "conn-1/Contact/c0002",
		"reset conn-1/Note", "conn-1/Note/n1",
	}, seen, "the first batch after the stream was emptied says so")

	for _, cfg := range []nango.ConsumerConfig{
		{Integration: "crm", Handle: func(context.Context, *nango.ChangeBatch) error { return nil }},
		{Name: "x", Integration: "crm"},
		{Name: "x", Integration: "nope", Handle: func(context.Context, *nango.ChangeBatch) error { return nil }},
		{Name: "x", Integration: "crm", Models: []string{"Nope"}, Handle: func(context.Context, *nango.ChangeBatch) error { return nil }},
		{Name: "x", Integration: "crm", BatchSize: 20000, Handle: func(context.Context, *nango.ChangeBatch) error { return nil }},
	} {
		_, err := f.eng.NewConsumer(cfg)
		require.Error(t, err, "%+v", cfg)
	}
}

func TestConsumerRunIsWokenByRuns(t *testing.T) {
	t.Parallel()
	f := newFixture(t, memory.New(), nango.SyncConfig{}, nil)
	got := make(chan []string, 16)
	c, err := f.eng.NewConsumer(nango.ConsumerConfig{Name: "live", Integration: "crm", Models: []string{"Contact"}, PollInterval: time.Hour,
		Handle: func(_ context.Context, b *nango.ChangeBatch) error {
			got <- recordIDs(b.Records)
			return nil
		}})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	for i := range 3 {
		_, err := f.run(t, saveAll([]contact{{ID: fmt.Sprintf("x%d", i), Name: "n"}}), nil)
		require.NoError(t, err)
		var ids []string
		for !slices.Contains(ids, fmt.Sprintf("x%d", i)) {
			select {
			case b := <-got:
				ids = append(ids, b...)
			case <-time.After(10 * time.Second):
				t.Fatalf("the consumer did not get x%d", i)
			}
		}
	}
	require.ErrorContains(t, c.Run(context.Background()), "already running")
}

func TestSubscribe(t *testing.T) {
	t.Parallel()
	f := newFixture(t, memory.New(), nango.SyncConfig{TrackDeletes: true, DeleteGuard: &nango.DeleteGuard{MaxShare: 1}}, nil)
	var mu sync.Mutex
	var calls []nango.ChangeEvent
	called := make(chan struct{}, 16)
	unsub, err := f.eng.Subscribe(nango.SubscribeParams{Integration: "crm", Models: []string{"Contact"}}, func(ev nango.ChangeEvent) {
		mu.Lock()
		calls = append(calls, ev)
		mu.Unlock()
		called <- struct{}{}
	})
	require.NoError(t, err)
	events, stop, err := f.eng.SubscribeChan(nango.SubscribeParams{Integration: "crm", Connection: "conn-1"})
	require.NoError(t, err)

	res, err := f.run(t, func(ctx context.Context, n *nango.Nango) error {
		if err := n.BatchSave(ctx, contacts(3, "a"), "Contact"); err != nil {
			return err
		}
		if err := n.BatchSave(ctx, contacts(3, "a"), "Contact"); err != nil { // unchanged: no event
			return err
		}
		return n.BatchSave(ctx, []map[string]any{{"id": "n1"}}, "Note")
	}, nil)
	require.NoError(t, err)
	ev := <-events
	require.Equal(t, nango.ChangeEvent{Integration: "crm", Connection: "conn-1", Model: "Contact", Sync: "contacts", RunID: res.RunID,
		Trigger: nango.TriggerManual, Added: 3, At: ev.At}, ev)
	ev = <-events
	require.Equal(t, "Note", ev.Model)
	<-called

	// The TrackDeletes sweep is a change too.
	_, err = f.run(t, saveAll(contacts(1, "a")), nil)
	require.NoError(t, err)
	ev = <-events
	require.Equal(t, 2, ev.Deleted)
	<-called
	mu.Lock()
	require.Len(t, calls, 2, "only the Contact events")
	require.Equal(t, 3, calls[0].Added)
	require.Equal(t, 2, calls[1].Deleted)
	mu.Unlock()

	unsub()
	unsub()
	stop()
	for range events { // closed once the subscription has stopped
	}
	_, err = f.run(t, saveAll(contacts(2, "b")), nil)
	require.NoError(t, err)

	_, err = f.eng.Subscribe(nango.SubscribeParams{Integration: "nope"}, func(nango.ChangeEvent) {})
	require.ErrorIs(t, err, nango.ErrUnknownIntegration)
	_, err = f.eng.Subscribe(nango.SubscribeParams{Integration: "crm", Models: []string{"Nope"}}, func(nango.ChangeEvent) {})
	require.ErrorIs(t, err, nango.ErrUnknownModel)
}

func TestSubscriberPanicIsContained(t *testing.T) {
	t.Parallel()
	f := newFixture(t, memory.New(), nango.SyncConfig{}, nil)
	got := make(chan int, 4)
	unsub, err := f.eng.Subscribe(nango.SubscribeParams{Integration: "crm", Models: []string{"Contact"}}, func(ev nango.ChangeEvent) {
		got <- ev.Added
		if ev.Added == 3 {
			panic("subscriber bug")
		}
	})
	require.NoError(t, err)
	defer unsub()
	_, err = f.run(t, saveAll(contacts(3, "a")), nil)
	require.NoError(t, err)
	require.Equal(t, 3, <-got)
	_, err = f.run(t, saveAll(contacts(4, "a")), nil)
	require.NoError(t, err)
	require.Equal(t, 1, <-got, "the subscription goes on after its function panicked")
}
