package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	bbolt "go.etcd.io/bbolt"
)

// backend is one kind of store under test with its raw-database baseline: bolt here, postgres
// in postgres.go.
type backend struct {
	name string
	// rawPut names the raw put workload in the output ("raw-put" when empty).
	rawPut string
	// targets replace the default targets (targetOf) of some workloads.
	targets map[string]float64
	// note says how the baselines are set up, for the output.
	note string
	// open creates a fresh, empty store in dir.
	open func(ctx context.Context, dir string) (store.Store, error)
	// openRaw creates a fresh, empty plain database in dir for the raw baselines.
	openRaw func(ctx context.Context, dir string) (rawDB, error)
}

// rawDB is the baseline: the same database with no logic of ours on top.
type rawDB interface {
	// put stores each record's JSON under its id in one committed transaction.
	put(ctx context.Context, recs []Contact) error
	// scan reads every record in key order and hands its JSON to fn.
	scan(ctx context.Context, fn func(data []byte) error) error
	close() error
}

var backends = map[string]backend{
	"bolt": {
		name: "bolt",
		note: "raw baselines: plain bbolt bucket, default FillPercent, fsync on, same bbolt.Options as bolt.Open (NoFreelistSync, FreelistMapType)",
		open: func(_ context.Context, dir string) (store.Store, error) {
			return bolt.Open(filepath.Join(dir, "store.db"), nil)
		},
		openRaw: func(_ context.Context, dir string) (rawDB, error) {
			// The options bolt.Open uses, so that the comparison is fair.
			db, err := bbolt.Open(filepath.Join(dir, "raw.db"), 0o600, &bbolt.Options{
				NoFreelistSync: true,
				FreelistType:   bbolt.FreelistMapType,
			})
			if err != nil {
				return nil, err
			}
			if err := db.Update(func(tx *bbolt.Tx) error {
				_, err := tx.CreateBucket(rawBucket)
				return err
			}); err != nil {
				_ = db.Close()
				return nil, err
			}
			return &rawBolt{db: db}, nil
		},
	},
}

var rawBucket = []byte("contacts")

type rawBolt struct{ db *bbolt.DB }

func (r *rawBolt) put(_ context.Context, recs []Contact) error {
	return r.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(rawBucket)
		for i := range recs {
			data, err := json.Marshal(&recs[i])
			if err != nil {
				return err
			}
			if err := b.Put([]byte(recs[i].ID), data); err != nil {
				return err
			}
		}
		return nil
	})
}

func (r *rawBolt) scan(_ context.Context, fn func([]byte) error) error {
	return r.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(rawBucket).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if err := fn(v); err != nil {
				return err
			}
		}
		return nil
	})
}

func (r *rawBolt) close() error { return r.db.Close() }

func backendNames() []string {
	var names []string
	for n := range backends {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// target is the minimum ratio of a workload to its baseline; 0 for none.
func (be backend) target(w string) float64 {
	if t, ok := be.targets[w]; ok {
		return t
	}
	return targetOf[w]
}

// display is the name of a workload in the output: the raw put is "raw-copy" on PostgreSQL.
func (be backend) display(w string) string {
	if w == "raw-put" && be.rawPut != "" {
		return be.rawPut
	}
	return w
}

func lookupBackend(name string) (backend, error) {
	b, ok := backends[name]
	if !ok {
		return backend{}, fmt.Errorf("unknown store %q (have %v)", name, backendNames())
	}
	return b, nil
}
