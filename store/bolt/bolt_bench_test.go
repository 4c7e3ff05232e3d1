package bolt_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/gonango/nango/store/storetest"
	bbolt "go.etcd.io/bbolt"
)

// The benchmarks write batches of benchBatch records of about 400 bytes of JSON with random ids,
// like a CRM API page. They run with NoSync, on the store and on a plain bbolt bucket alike, so
// that they measure the store's own work rather than the disk; cmd bench measures with fsync.

const benchBatch = 1000

type benchContact struct {
	ID        string    `json:"id"`
	FirstName string    `json:"first_name"`
	LastName  string    `json:"last_name"`
	Email     string    `json:"email"`
	Phone     string    `json:"phone"`
	Company   string    `json:"company"`
	Title     string    `json:"title"`
	Street    string    `json:"street"`
	City      string    `json:"city"`
	State     string    `json:"state"`
	Postal    string    `json:"postal_code"`
	Country   string    `json:"country"`
	OwnerID   string    `json:"owner_id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

const idChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func benchIDs(rng *rand.Rand, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		b := []byte("003")
		for range 15 {
			b = append(b, idChars[rng.IntN(len(idChars))])
		}
		ids[i] = string(b)
	}
	return ids
}

func benchJSON(id string, version int) []byte {
	t := time.Date(2023, 5, 1, 12, 0, 0, 0, time.UTC)
	c := benchContact{
		ID: id, FirstName: "Charlotte", LastName: "Rodriguez", Email: "charlotte.rodriguez" + id[10:] + "@example.com",
		Phone: "+1-415-555-0199", Company: "Hooli Cloud Services", Title: fmt.Sprintf("Director of Operations %d", version),
		Street: "4410 Market Street", City: "San Francisco", State: "CA", Postal: "94103", Country: "United States",
		OwnerID: "005Hx7Kp2QmZ9aB", CreatedAt: t, UpdatedAt: t.Add(time.Duration(version) * time.Hour),
	}
	b, err := json.Marshal(&c)
	if err != nil {
		panic(err)
	}
	return b
}

var benchStream = store.Stream{Integration: "crm", Connection: "acme", Model: "Contact"}

func openBench(b *testing.B) *bolt.Store {
	s, err := bolt.Open(filepath.Join(b.TempDir(), "store.db"), &bolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func openRawBench(b *testing.B) *bbolt.DB {
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, &bbolt.Options{
		NoSync: true, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType, // as bolt.Open
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("r")); return err }); err != nil {
		b.Fatal(err)
	}
	return db
}

func batchInputs(ids []string, version func(i int) int) []store.RecordInput {
	in := make([]store.RecordInput, len(ids))
	for i, id := range ids {
		in[i] = store.RecordInput{Data: benchJSON(id, version(i))}
	}
	return in
}

func reportRecords(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkRecordsWrite measures RecordsWrite of batches of 1,000: "initial" adds new records
// to a growing stream, "resave" saves a stream of 20,000 again with 10% of the records changed,
// and "resave-trackseen" does the same inside a deletion-tracking window.
func BenchmarkRecordsWrite(b *testing.B) {
	ctx := context.Background()
	b.Run("initial", func(b *testing.B) {
		s := openBench(b)
		rng := rand.New(rand.NewPCG(1, 1))
		inputs := make([][]store.RecordInput, 0, b.N)
		for range b.N {
			inputs = append(inputs, batchInputs(benchIDs(rng, benchBatch), func(int) int { return 0 }))
		}
		b.ResetTimer()
		for i := range b.N {
			res, err := s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: benchStream, Records: inputs[i]})
			if err != nil || res.Added != benchBatch {
				b.Fatal(res, err)
			}
		}
		reportRecords(b, b.N*benchBatch)
	})
	for _, track := range []string{"", "full"} {
		name := "resave"
		if track != "" {
			name = "resave-trackseen"
		}
		b.Run(name, func(b *testing.B) {
			s := openBench(b)
			rng := rand.New(rand.NewPCG(2, 2))
			const batches = 20
			var pages [batches][]store.RecordInput
			var resave [batches][]store.RecordInput
			for p := range batches {
				ids := benchIDs(rng, benchBatch)
				pages[p] = batchInputs(ids, func(int) int { return 0 })
				resave[p] = batchInputs(ids, func(i int) int {
					if i%10 == 0 {
						return 1
					}
					return 0
				})
				if _, err := s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: benchStream, Records: pages[p]}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := range b.N {
				// Alternate between the two versions, so that every pass changes 10%.
				in := resave[i%batches]
				if (i/batches)%2 == 1 {
					in = pages[i%batches]
				}
				res, err := s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: benchStream, Records: in, TrackSeen: track})
				if err != nil || res.Updated != benchBatch/10 {
					b.Fatal(res, err)
				}
			}
			reportRecords(b, b.N*benchBatch)
		})
	}
}

// BenchmarkRawPut is the baseline of BenchmarkRecordsWrite/initial: the same JSON put under its
// id in a plain bbolt bucket, 1,000 a transaction.
func BenchmarkRawPut(b *testing.B) {
	db := openRawBench(b)
	rng := rand.New(rand.NewPCG(1, 1))
	inputs := make([][]store.RecordInput, 0, b.N)
	idss := make([][]string, 0, b.N)
	for range b.N {
		ids := benchIDs(rng, benchBatch)
		idss = append(idss, ids)
		inputs = append(inputs, batchInputs(ids, func(int) int { return 0 }))
	}
	b.ResetTimer()
	for i := range b.N {
		err := db.Update(func(tx *bbolt.Tx) error {
			bk := tx.Bucket([]byte("r"))
			for j, in := range inputs[i] {
				if err := bk.Put([]byte(idss[i][j]), in.Data); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	reportRecords(b, b.N*benchBatch)
}

// BenchmarkRecordsList reads a stream of 20,000 records in pages of 1,000 (one page an op).
func BenchmarkRecordsList(b *testing.B) {
	ctx := context.Background()
	s := openBench(b)
	rng := rand.New(rand.NewPCG(3, 3))
	const batches = 20
	for range batches {
		in := batchInputs(benchIDs(rng, benchBatch), func(int) int { return 0 })
		if _, err := s.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: benchStream, Records: in}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	cursor := ""
	for range b.N {
		res, err := s.RecordsList(ctx, &store.RecordsListParams{Stream: benchStream, Cursor: cursor, Limit: benchBatch})
		if err != nil || len(res.Records) != benchBatch {
			b.Fatal(err)
		}
		cursor = res.NextCursor
	}
	reportRecords(b, b.N*benchBatch)
}

// BenchmarkRawScan is the baseline of BenchmarkRecordsList: 1,000 values of a plain bucket an
// op, copied out as RecordsList copies them.
func BenchmarkRawScan(b *testing.B) {
	db := openRawBench(b)
	rng := rand.New(rand.NewPCG(3, 3))
	const batches = 20
	for range batches {
		err := db.Update(func(tx *bbolt.Tx) error {
			for _, id := range benchIDs(rng, benchBatch) {
				if err := tx.Bucket([]byte("r")).Put([]byte(id), benchJSON(id, 0)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var after []byte
	for range b.N {
		err := db.View(func(tx *bbolt.Tx) error {
			c := tx.Bucket([]byte("r")).Cursor()
			k, v := c.First()
			if after != nil {
				if k, v = c.Seek(after); k != nil {
					k, v = c.Next()
				}
			}
			out := make([][]byte, 0, benchBatch)
			var last []byte
			for ; k != nil && len(out) < benchBatch; k, v = c.Next() {
				out = append(out, append([]byte(nil), v...))
				last = k
			}
			if k == nil {
				after = nil
			} else {
				after = append(after[:0], last...)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	reportRecords(b, b.N*benchBatch)
}

// BenchmarkPrune100k prunes 100,000 records in transactions of 2,000 (the engine's default),
// with fsync, and compares it with writing them.
func BenchmarkPrune100k(b *testing.B) {
	storetest.BenchmarkPrune(b, func(b *testing.B) store.Store {
		s, err := bolt.Open(filepath.Join(b.TempDir(), "prune.db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}, 100_000, 2000)
}
