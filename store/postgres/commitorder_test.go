package postgres_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// tailer follows a stream from its cursor as a consumer does, and remembers what it saw.
type tailer struct {
	cursor string
	seen   map[string]string // id -> payload of the last change seen
	// changes counts the changes seen; a change seen twice is an error.
	changes int
	last    map[string]string // id -> cursor of the last change seen
}

func newTailer() *tailer { return &tailer{seen: map[string]string{}, last: map[string]string{}} }

// poll reads every page after the tailer's cursor.
func (tl *tailer) poll(ctx context.Context, s store.Store) error {
	for pages := 0; pages < 100_000; pages++ {
		res, err := s.RecordsList(ctx, &store.RecordsListParams{Stream: orderStream, Cursor: tl.cursor, Limit: 37})
		if err != nil {
			return err
		}
		for _, r := range res.Records {
			if r.Cursor == tl.last[r.ID] {
				return fmt.Errorf("change of %s at %s seen twice", r.ID, r.Cursor)
			}
			tl.seen[r.ID] = string(r.Data)
			tl.last[r.ID] = r.Cursor
			tl.changes++
		}
		if len(res.Records) > 0 {
			tl.cursor = res.Records[len(res.Records)-1].Cursor
		}
		if res.NextCursor == "" {
			return nil
		}
	}
	return fmt.Errorf("tail does not end")
}

// requireSawEverything checks what a tailer saw against the stream as it ended: every record,
// each at its last version. A change committed after the tailer had read past its position
// (cursor order not commit order) would be missing or stale.
func requireSawEverything(t *testing.T, s store.Store, tl *tailer, writers []string, batches int) {
	t.Helper()
	final := newTailer()
	require.NoError(t, final.poll(t.Context(), s))
	for _, w := range writers {
		for b := range batches {
			for i := range orderBatch {
				id := orderID(w, b, i)
				require.Contains(t, tl.seen, id, "a tailing reader missed %s", id)
			}
		}
	}
	require.Len(t, final.seen, len(writers)*batches*orderBatch+5)
	for id, data := range final.seen {
		require.Equal(t, data, tl.seen[id], "a tailing reader holds an old version of %s", id)
	}
}

// tailWhile runs readers tailing the stream until done is closed, then once more.
func tailWhile(t *testing.T, s store.Store, readers int, done <-chan struct{}) []*tailer {
	t.Helper()
	tls := make([]*tailer, readers)
	var wg sync.WaitGroup
	for r := range readers {
		tls[r] = newTailer()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for last := false; !last; {
				select {
				case <-done:
					last = true
				default:
				}
				if err := tls[r].poll(t.Context(), s); err != nil {
					t.Errorf("reader %d: %v", r, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return tls
}

// TestCommitOrderConnections: writers on several connections of one pool append to one stream
// while readers tail it; no reader ever misses a change.
func TestCommitOrderConnections(t *testing.T) {
	s := newStore(t, nil)
	defer s.Close()
	const batches = 25
	writers := []string{"a", "b", "c", "d"}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := appendBatches(t.Context(), s, w, batches); err != nil {
				t.Error(err)
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	tls := tailWhile(t, s, 3, done)
	if t.Failed() {
		return
	}
	for _, tl := range tls {
		requireSawEverything(t, s, tl, writers, batches)
	}
}

// TestCommitOrderProcesses: the same with writers in separate processes (this test binary run
// again), each with its own pool.
func TestCommitOrderProcesses(t *testing.T) {
	url := testURL(t)
	s := newStore(t, nil)
	defer s.Close()
	const batches = 30
	writers := []string{"p1", "p2", "p3"}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, w := range writers {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+w, envURL+"="+url,
			"NANGO_POSTGRES_TEST_SCHEMA="+s.Schema(), "NANGO_POSTGRES_TEST_BATCHES="+strconv.Itoa(batches))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("writer process %s: %v\n%s", w, err, out)
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	tls := tailWhile(t, s, 2, done)
	if t.Failed() {
		return
	}
	for _, tl := range tls {
		requireSawEverything(t, s, tl, writers, batches)
	}
}
