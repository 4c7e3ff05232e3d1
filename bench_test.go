package nango_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	nango "github.com/gonango/nango"
	"github.com/gonango/nango/store/bolt"
)

// The benchmarks run syncs that save 10,000 CRM contacts (about 400 bytes of JSON, random ids)
// in BatchSave calls of 1,000, on a bolt store with NoSync so that they measure the engine and
// the store rather than the disk. BenchmarkRawBoltPut is the baseline: json.Marshal of the same
// structs put under their ids in a plain bbolt bucket. cmd bench measures with fsync.

const (
	benchRecords = 10000
	benchPage    = 1000
)

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

func benchContacts(rng *rand.Rand, n int) []benchContact {
	const chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	t := time.Date(2023, 5, 1, 12, 0, 0, 0, time.UTC)
	out := make([]benchContact, n)
	for i := range out {
		id := []byte("003")
		for range 15 {
			id = append(id, chars[rng.IntN(len(chars))])
		}
		out[i] = benchContact{
			ID: string(id), FirstName: "Charlotte", LastName: "Rodriguez", Email: fmt.Sprintf("charlotte.rodriguez%d@example.com", i),
			Phone: "+1-415-555-0199", Company: "Hooli Cloud Services", Title: "Director of Operations",
			Street: "4410 Market Street", City: "San Francisco", State: "CA", Postal: "94103", Country: "United States",
			OwnerID: "005Hx7Kp2QmZ9aB", CreatedAt: t, UpdatedAt: t,
		}
	}
	return out
}

type benchEnv struct {
	eng *nango.Engine
	// next is what the next run saves.
	next []benchContact
}

func newBenchEnv(b *testing.B, trackDeletes bool) *benchEnv {
	st, err := bolt.Open(filepath.Join(b.TempDir(), "store.db"), &bolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	eng, err := nango.NewEngine(st, &nango.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	env := &benchEnv{eng: eng}
	err = eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
		Name:         "contacts",
		Models:       []nango.Model{nango.ModelOf[benchContact]("Contact")},
		TrackDeletes: trackDeletes,
		DeleteGuard:  &nango.DeleteGuard{MaxShare: 1},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			for start := 0; start < len(env.next); start += benchPage {
				if err := n.BatchSave(ctx, env.next[start:min(start+benchPage, len(env.next))], "Contact"); err != nil {
					return err
				}
			}
			return nil
		}),
	}}})
	if err != nil {
		b.Fatal(err)
	}
	if err := eng.AddConnection(context.Background(), nango.Connection{Integration: "crm", ID: "acme"}); err != nil {
		b.Fatal(err)
	}
	return env
}

func (env *benchEnv) run(b *testing.B) *nango.RunResult {
	res, err := env.eng.RunSync(context.Background(), "crm", "contacts", "acme", nil)
	if err != nil {
		b.Fatal(err)
	}
	return res
}

func reportRecords(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkBatchSave measures RunSync of a sync that BatchSaves 10,000 records an op: "initial"
// adds new records each run to a growing stream; "resave" saves the same 10,000 with 10% changed;
// "full-sync" does that with TrackDeletes, 5% of the records absent each run and swept.
func BenchmarkBatchSave(b *testing.B) {
	b.Run("initial", func(b *testing.B) {
		env := newBenchEnv(b, false)
		rng := rand.New(rand.NewPCG(1, 1))
		for range b.N {
			b.StopTimer()
			env.next = benchContacts(rng, benchRecords)
			b.StartTimer()
			if res := env.run(b); res.Models["Contact"].Added != benchRecords {
				b.Fatal(res.Models)
			}
		}
		reportRecords(b, b.N*benchRecords)
	})
	resave := func(b *testing.B, trackDeletes bool) {
		env := newBenchEnv(b, trackDeletes)
		all := benchContacts(rand.New(rand.NewPCG(2, 2)), benchRecords)
		env.next = all
		env.run(b)
		b.ResetTimer()
		for i := range b.N {
			b.StopTimer()
			next := make([]benchContact, 0, len(all))
			for j, c := range all {
				switch {
				case trackDeletes && (j+i)%20 == 3:
					continue // absent this run, swept
				case (j+i)%10 == 0:
					c.Title += fmt.Sprintf(" %d", i)
				}
				next = append(next, c)
			}
			env.next = next
			b.StartTimer()
			env.run(b)
		}
		reportRecords(b, b.N*benchRecords)
	}
	b.Run("resave", func(b *testing.B) { resave(b, false) })
	b.Run("full-sync", func(b *testing.B) { resave(b, true) })
}

// BenchmarkRawBoltPut is the baseline of BenchmarkBatchSave/initial: json.Marshal of each struct
// put under its id in a plain bbolt bucket, 1,000 a transaction, with the options bolt.Open uses.
func BenchmarkRawBoltPut(b *testing.B) {
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, &bbolt.Options{
		NoSync: true, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	for range b.N {
		b.StopTimer()
		recs := benchContacts(rng, benchRecords)
		b.StartTimer()
		for start := 0; start < len(recs); start += benchPage {
			err := db.Update(func(tx *bbolt.Tx) error {
				bk, err := tx.CreateBucketIfNotExists([]byte("contacts"))
				if err != nil {
					return err
				}
				for i := start; i < start+benchPage; i++ {
					data, err := json.Marshal(&recs[i])
					if err != nil {
						return err
					}
					if err := bk.Put([]byte(recs[i].ID), data); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	reportRecords(b, b.N*benchRecords)
}

// BenchmarkListRecords reads a stream of 10,000 records through Engine.ListRecords in pages of
// 1,000, decoding each record into its struct; BenchmarkRawBoltScan is its baseline.
func BenchmarkListRecords(b *testing.B) {
	env := newBenchEnv(b, false)
	env.next = benchContacts(rand.New(rand.NewPCG(3, 3)), benchRecords)
	env.run(b)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		p := nango.ListRecordsParams{Integration: "crm", Connection: "acme", Model: "Contact", Limit: benchPage}
		got := 0
		for {
			page, err := env.eng.ListRecords(ctx, p)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range page.Records {
				var c benchContact
				if err := json.Unmarshal(r.Data, &c); err != nil {
					b.Fatal(err)
				}
				got++
			}
			if page.NextCursor == "" {
				break
			}
			p.Cursor = page.NextCursor
		}
		if got != benchRecords {
			b.Fatal(got)
		}
	}
	reportRecords(b, b.N*benchRecords)
}

func BenchmarkRawBoltScan(b *testing.B) {
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, &bbolt.Options{
		NoSync: true, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	recs := benchContacts(rand.New(rand.NewPCG(3, 3)), benchRecords)
	err = db.Update(func(tx *bbolt.Tx) error {
		bk, err := tx.CreateBucket([]byte("contacts"))
		if err != nil {
			return err
		}
		for i := range recs {
			data, _ := json.Marshal(&recs[i])
			if err := bk.Put([]byte(recs[i].ID), data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		got := 0
		err := db.View(func(tx *bbolt.Tx) error {
			c := tx.Bucket([]byte("contacts")).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				var c benchContact
				if err := json.Unmarshal(v, &c); err != nil {
					return err
				}
				got++
			}
			return nil
		})
		if err != nil || got != benchRecords {
			b.Fatal(err, got)
		}
	}
	reportRecords(b, b.N*benchRecords)
}
