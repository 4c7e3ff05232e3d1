package nango_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/api"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
)

// The load test tails the change feed with many readers, through the Go API and over REST on
// loopback, while syncs write to it: no reader gets an error, each sees every id of every
// batch, once, in cursor order and batch after batch. It reports throughput and the latency
// percentiles of a page read.
//
// CI runs a small version; NANGO_LOAD_SCALE=N multiplies the readers and the records.

// loadRecord is a record of the load test: batch k of writer w.
type loadRecord struct {
	ID    string `json:"id"`
	Batch int    `json:"batch"`
}

// loadReader is what one reader saw.
type loadReader struct {
	name      string
	latencies []time.Duration
	pages     int
	records   int
}

func TestLoadConcurrentReaders(t *testing.T) {
	if testing.Short() {
		t.Skip("load")
	}
	scale := 1
	if v := os.Getenv("NANGO_LOAD_SCALE"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "NANGO_LOAD_SCALE")
		scale = n
	}
	var (
		writers   = 2
		batches   = 20 * scale
		batchSize = 50
		readers   = 4 * scale // of each kind
	)
	ctx := t.Context()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "load.db"), nil)
	require.NoError(t, err)
	defer st.Close()
	eng, err := nango.NewEngine(st, &nango.Config{Logger: quiet})
	require.NoError(t, err)
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
		Name: "contacts", ManualStart: true, Models: []nango.Model{nango.ModelOf[loadRecord]("Contact")},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			for k := range batches {
				page := make([]loadRecord, batchSize)
				for i := range page {
					page[i] = loadRecord{ID: fmt.Sprintf("%s-b%03d-%02d", n.ConnectionID(), k, i), Batch: k}
				}
				if err := n.BatchSave(ctx, page, "Contact"); err != nil {
					return err
				}
			}
			return nil
		}),
	}}}))
	conns := make([]string, writers)
	for w := range writers {
		conns[w] = fmt.Sprintf("w%d", w)
		require.NoError(t, eng.AddConnection(ctx, nango.Connection{Integration: "crm", ID: conns[w]}))
	}
	h, err := api.New(eng, &api.Config{SecretKeys: []string{"sk-load"}, Logger: quiet})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()

	// Each reader reads one writer's stream until it has every record.
	total := batches * batchSize
	var written atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 2*readers*writers+writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := eng.RunSync(ctx, "crm", "contacts", conns[w], nil); err != nil {
				errs <- err
			}
			written.Add(int64(total))
		}()
	}
	var results []*loadReader
	var rmu sync.Mutex
	var rwg sync.WaitGroup
	for r := range 2 * readers {
		rest := r%2 == 1
		conn := conns[r%writers]
		lr := &loadReader{name: fmt.Sprintf("go-%d", r)}
		if rest {
			lr.name = fmt.Sprintf("rest-%d", r)
		}
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			var err error
			if rest {
				err = loadTail(ctx, lr, conn, total, batchSize, func(ctx context.Context, cursor string) ([]store.Record, string, error) {
					return restPage(ctx, srv.URL, conn, cursor)
				})
			} else {
				err = loadTail(ctx, lr, conn, total, batchSize, func(ctx context.Context, cursor string) ([]store.Record, string, error) {
					page, err := eng.ListRecords(ctx, nango.ListRecordsParams{Integration: "crm", Connection: conn, Model: "Contact", Cursor: cursor, Limit: 100})
					if err != nil {
						return nil, "", err
					}
					out := make([]store.Record, len(page.Records))
					for i, r := range page.Records {
						out[i] = store.Record{ID: r.ID, Data: r.Data, Metadata: store.Metadata(r.Metadata)}
					}
					return out, page.NextCursor, nil
				})
			}
			if err != nil {
				errs <- fmt.Errorf("%s: %w", lr.name, err)
			}
			rmu.Lock()
			results = append(results, lr)
			rmu.Unlock()
		}()
	}
	wg.Wait()
	writeTime := time.Since(start)
	rwg.Wait()
	readTime := time.Since(start)
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	for _, kind := range []string{"go", "rest"} {
		var lat []time.Duration
		records := 0
		for _, r := range results {
			if r.name[:len(kind)] == kind {
				lat = append(lat, r.latencies...)
				records += r.records
			}
		}
		slices.Sort(lat)
		if len(lat) == 0 {
			continue
		}
		pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
		t.Logf("%s readers: %d, %d records read in %d pages, %.0f records/s; page latency p50 %v, p90 %v, p99 %v, max %v",
			kind, readers, records, len(lat), float64(records)/readTime.Seconds(), pct(0.5), pct(0.9), pct(0.99), lat[len(lat)-1])
	}
	t.Logf("writers: %d, %d records in %d commits of %d, %.0f records/s written while read",
		writers, written.Load(), writers*batches, batchSize, float64(written.Load())/writeTime.Seconds())
}

// loadTail reads a stream from the start until it has total records, checking the order.
func loadTail(ctx context.Context, lr *loadReader, conn string, total, batchSize int,
	page func(ctx context.Context, cursor string) ([]store.Record, string, error)) error {
	codec := store.NewCursorCodec(store.Stream{Integration: "crm", Connection: conn, Model: "Contact"})
	seen := map[string]bool{}
	var lastSeq uint64
	batch, inBatch := 0, 0
	cursor := ""
	deadline := time.Now().Add(2 * time.Minute)
	for len(seen) < total {
		if time.Now().After(deadline) {
			return fmt.Errorf("saw %d of %d records", len(seen), total)
		}
		t0 := time.Now()
		recs, next, err := page(ctx, cursor)
		lr.latencies = append(lr.latencies, time.Since(t0))
		lr.pages++
		if err != nil {
			return err
		}
		for _, r := range recs {
			seq, _, err := codec.Decode(r.Cursor)
			if err != nil {
				return err
			}
			if seq <= lastSeq {
				return fmt.Errorf("cursor of %s not after the previous one", r.ID)
			}
			if seen[r.ID] {
				return fmt.Errorf("%s twice", r.ID)
			}
			var d loadRecord
			if err := json.Unmarshal(r.Data, &d); err != nil {
				return err
			}
			// Batches come whole and in order: batch k+1 only after all of batch k.
			if d.Batch != batch {
				if d.Batch != batch+1 || inBatch != batchSize {
					return fmt.Errorf("%s of batch %d after %d records of batch %d", r.ID, d.Batch, inBatch, batch)
				}
				batch, inBatch = d.Batch, 0
			}
			inBatch++
			lastSeq, seen[r.ID] = seq, true
			lr.records++
			cursor = r.Cursor
		}
		if next != "" {
			cursor = next
		}
		if len(recs) == 0 {
			// Tailing: wait a moment for the writer.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
	}
	return nil
}

// restPage reads a page of the feed with GET /records on loopback.
func restPage(ctx context.Context, base, conn, cursor string) ([]store.Record, string, error) {
	q := url.Values{"model": {"Contact"}, "limit": {"100"}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/records?"+q.Encode(), nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Authorization", "Bearer sk-load")
	req.Header.Set("Connection-Id", conn)
	req.Header.Set("Provider-Config-Key", "crm")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("GET /records: %s", resp.Status)
	}
	var body struct {
		Records    []json.RawMessage `json:"records"`
		NextCursor *string           `json:"next_cursor"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, "", err
	}
	out := make([]store.Record, len(body.Records))
	for i, raw := range body.Records {
		var r struct {
			ID    string `json:"id"`
			Batch int    `json:"batch"`
			Meta  struct {
				Cursor string `json:"cursor"`
			} `json:"_nango_metadata"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, "", err
		}
		data, _ := json.Marshal(loadRecord{ID: r.ID, Batch: r.Batch})
		out[i] = store.Record{ID: r.ID, Data: data, Metadata: store.Metadata{Cursor: r.Meta.Cursor}}
	}
	next := ""
	if body.NextCursor != nil {
		next = *body.NextCursor
	}
	return out, next, nil
}
