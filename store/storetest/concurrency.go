package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// concurrencyTests check that the store is safe for concurrent use and that readers racing
// writers see whole batches in commit order. They make no timing assumptions; run them with
// -race.
func concurrencyTests() []test {
	return []test{
		{"ReadersAndWriters", testReadersAndWriters},
		{"CheckpointCompareAndSwap", testCheckpointCompareAndSwap},
	}
}

const (
	appendBatches = 40 // batches of new records written by the appender
	appendBatch   = 25 // records per batch
	updateBatches = 60 // batches of updates to the u- records
	updatedIDs    = 10 // u-0 to u-9
	readers       = 4
)

// appendedBatch returns the batch of an appended id ("w-<batch>-<i>"), or -1 for another id.
func appendedBatch(id string) int {
	rest, ok := strings.CutPrefix(id, "w-")
	if !ok {
		return -1
	}
	b, _, _ := strings.Cut(rest, "-")
	n, err := strconv.Atoi(b)
	if err != nil {
		return -1
	}
	return n
}

// checkScan checks one complete scan of the stream taken while writers ran: every appended
// record once, in batch order, and whole batches only, from the first on.
func checkScan(recs []store.Record, fullPage bool) error {
	seen := map[string]bool{}
	perBatch := map[int]int{}
	last := 0
	for _, r := range recs {
		b := appendedBatch(r.ID)
		if b < 0 {
			if fullPage && seen[r.ID] {
				return fmt.Errorf("record %s listed twice in one page", r.ID)
			}
			seen[r.ID] = true
			continue
		}
		if seen[r.ID] {
			return fmt.Errorf("appended record %s listed twice", r.ID)
		}
		seen[r.ID] = true
		if b < last {
			return fmt.Errorf("record %s of batch %d listed after batch %d: cursors out of commit order", r.ID, b, last)
		}
		last = b
		perBatch[b]++
	}
	for b := range len(perBatch) {
		if perBatch[b] != appendBatch {
			return fmt.Errorf("batch %d seen with %d of its %d records (batches %v)", b, perBatch[b], appendBatch, perBatch)
		}
	}
	return nil
}

// scanErr pages through a stream like scan, returning errors instead of failing the test, for
// use off the test's goroutine.
func scanErr(ctx context.Context, s store.Store, p store.RecordsListParams) ([]store.Record, error) {
	var out []store.Record
	for pages := 0; ; pages++ {
		if pages > 100_000 {
			return nil, errors.New("listing does not end")
		}
		res, err := s.RecordsList(ctx, &p)
		if err != nil {
			return nil, err
		}
		if len(res.Records) > p.Limit {
			return nil, fmt.Errorf("page of %d records with limit %d", len(res.Records), p.Limit)
		}
		ids := map[string]bool{}
		for _, r := range res.Records {
			if ids[r.ID] {
				return nil, fmt.Errorf("record %s twice in one page", r.ID)
			}
			ids[r.ID] = true
		}
		out = append(out, res.Records...)
		if res.NextCursor == "" {
			return out, nil
		}
		p.Cursor = res.NextCursor
	}
}

func testReadersAndWriters(t *testing.T, su *suite) {
	s := su.open(t)
	ctx := t.Context()
	other := store.Stream{Integration: stream.Integration, Connection: stream.Connection, Model: "pulls"}
	var seed []store.RecordInput
	for i := range updatedIDs {
		seed = append(seed, in(fmt.Sprintf("u-%d", i), `"v":-1`))
	}
	save(t, s, stream, at(0), seed...)

	var writers, readersWG sync.WaitGroup
	done := make(chan struct{})
	writers.Add(3)
	go func() { // the appender
		defer writers.Done()
		for b := range appendBatches {
			var recs []store.RecordInput
			for i := range appendBatch {
				recs = append(recs, in(fmt.Sprintf("w-%d-%d", b, i), ""))
			}
			if _, err := s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: stream, Records: recs, TrackSeen: "sync-a"}); err != nil {
				t.Errorf("appending batch %d: %v", b, err)
				return
			}
		}
	}()
	go func() { // the updater, in the same stream
		defer writers.Done()
		for v := range updateBatches {
			var recs []store.RecordInput
			for i := range updatedIDs {
				recs = append(recs, in(fmt.Sprintf("u-%d", (i+v)%updatedIDs), fmt.Sprintf(`"v":%d`, v)))
			}
			if _, err := s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: stream, Records: recs}); err != nil {
				t.Errorf("updating, batch %d: %v", v, err)
				return
			}
		}
	}()
	go func() { // a writer to another stream
		defer writers.Done()
		for b := range appendBatches {
			if _, err := s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: other,
				Records: []store.RecordInput{in(fmt.Sprintf("p-%d", b), ""), in("p-last", fmt.Sprintf(`"b":%d`, b))}}); err != nil {
				t.Errorf("writing to %s: %v", other, err)
				return
			}
		}
	}()
	for r := range readers {
		readersWG.Add(1)
		go func() {
			defer readersWG.Done()
			for last := false; !last; {
				select {
				case <-done:
					last = true // one more round after the writers finished
				default:
				}
				limit := []int{1, 7, 50, store.MaxListLimit}[r]
				recs, err := scanErr(ctx, s, store.RecordsListParams{Stream: stream, Limit: limit})
				if err == nil {
					err = checkScan(recs, limit == store.MaxListLimit)
				}
				if err != nil {
					t.Errorf("reader %d (limit %d): %v", r, limit, err)
					return
				}
				st, err := s.StreamStats(ctx, stream)
				if err != nil {
					t.Errorf("reader %d: stats: %v", r, err)
					return
				}
				if st.Deleted != 0 || (st.Live-updatedIDs)%appendBatch != 0 {
					t.Errorf("reader %d: stats %+v: not whole batches", r, *st)
					return
				}
			}
		}()
	}
	writers.Wait()
	close(done)
	readersWG.Wait()
	if t.Failed() {
		return
	}

	final := all(t, s, stream)
	require.NoError(t, checkScan(final, true))
	require.Len(t, final, updatedIDs+appendBatches*appendBatch)
	require.Equal(t, store.StreamStats{Live: updatedIDs + appendBatches*appendBatch}, stats(t, s, stream))
	for _, r := range final {
		if appendedBatch(r.ID) >= 0 {
			continue
		}
		var p struct{ V int }
		require.NoError(t, json.Unmarshal(r.Data, &p))
		require.Equal(t, updateBatches-1, p.V, "record %s holds the last update", r.ID)
	}
	require.Len(t, all(t, s, other), appendBatches+1)
	require.JSONEq(t, fmt.Sprintf(`{"id":"p-last","b":%d}`, appendBatches-1), string(get(t, s, other, "p-last").Data))
	// Every appended id joined the window; the u- records did not.
	require.Equal(t, store.RecordsSweepResult{Live: len(final), Unseen: updatedIDs, Deleted: updatedIDs}, sweep(t, s,
		store.RecordsSweepParams{Stream: stream, Sync: "sync-a", Guard: noGuard}))
}

func testCheckpointCompareAndSwap(t *testing.T, su *suite) {
	s := su.open(t)
	ctx := t.Context()
	const workers, increments = 4, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < increments; {
				var n int
				version := int64(0)
				cp, err := s.CheckpointGet(ctx, cpKey)
				switch {
				case errors.Is(err, store.ErrNotFound):
				case err != nil:
					t.Errorf("worker %d: get: %v", w, err)
					return
				default:
					version = cp.Version
					if err := json.Unmarshal(cp.Data, &n); err != nil {
						t.Errorf("worker %d: checkpoint %s: %v", w, cp.Data, err)
						return
					}
				}
				_, err = s.CheckpointPut(ctx, &store.CheckpointPutParams{Key: cpKey, Data: []byte(strconv.Itoa(n + 1)), ExpectedVersion: version})
				switch {
				case errors.Is(err, store.ErrVersionConflict):
					continue // another worker won; read again
				case err != nil:
					t.Errorf("worker %d: put: %v", w, err)
					return
				}
				i++
			}
		}()
	}
	wg.Wait()
	requireCP(t, s, cpKey, strconv.Itoa(workers*increments), workers*increments)
}
