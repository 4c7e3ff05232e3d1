package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gonango/nango/store"
)

// BenchmarkPrune writes n records of about 300 bytes in batches of 1,000 to a fresh store, then
// prunes them all in batches of batch records, and reports the time of the prune per record
// and as a ratio to the time of the writes (prune/write).
func BenchmarkPrune(b *testing.B, newStore func(b *testing.B) store.Store, n, batch int) {
	recs := make([]store.RecordInput, 0, 1000)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		s := newStore(b)
		st := store.Stream{Integration: "bench", Connection: fmt.Sprintf("c%d", i), Model: "Contact"}
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		start := time.Now()
		for j := 0; j < n; j += cap(recs) {
			recs = recs[:0]
			for k := j; k < min(j+cap(recs), n); k++ {
				recs = append(recs, store.RecordInput{Data: fmt.Appendf(nil,
					`{"id":"contact-%08d","first_name":"Ada","last_name":"Lovelace %d","email":"ada%d@example.com","company":"Analytical Engines Ltd","title":"Engineer","city":"London","country":"GB","phone":"+44 20 7946 0%03d"}`,
					k, k, k, k%1000)})
			}
			if _, err := s.RecordsWrite(b.Context(), &store.RecordsWriteParams{Stream: st, Records: recs, Now: now}); err != nil {
				b.Fatal(err)
			}
		}
		write := time.Since(start)
		b.StartTimer()
		start = time.Now()
		total := 0
		for {
			res, err := s.RecordsPrune(b.Context(), &store.RecordsPruneParams{Stream: st, ModifiedBefore: now.Add(time.Hour), Limit: batch, Now: now.Add(2 * time.Hour)})
			if err != nil {
				b.Fatal(err)
			}
			total += res.Count
			if !res.HasMore {
				break
			}
		}
		prune := time.Since(start)
		if total != n {
			b.Fatalf("pruned %d of %d records", total, n)
		}
		b.ReportMetric(float64(prune.Nanoseconds())/float64(n), "ns/record")
		b.ReportMetric(float64(prune)/float64(write), "prune/write")
		b.StopTimer()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
