package bolt_test

import (
	"path/filepath"
	"testing"

	"github.com/gonango/nango/store/bolt"
	bbolt "go.etcd.io/bbolt"
)

// BenchmarkOpen opens a store of 30,000 records: Open (the page check, then bbolt.Open and a
// write transaction that checks the format), the page check alone, and bbolt.Open on the same
// file and options as the baseline.
func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), "store.db")
	writeStore(b, path, 30_000)
	b.Run("store", func(b *testing.B) {
		for b.Loop() {
			s, err := bolt.Open(path, nil)
			if err != nil {
				b.Fatal(err)
			}
			_ = s.Close()
		}
	})
	b.Run("check", func(b *testing.B) {
		for b.Loop() {
			if err := bolt.VerifyPath(path); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bbolt", func(b *testing.B) {
		for b.Loop() {
			db, err := bbolt.Open(path, 0o600, &bbolt.Options{NoFreelistSync: true, FreelistType: bbolt.FreelistMapType})
			if err != nil {
				b.Fatal(err)
			}
			_ = db.Close()
		}
	})
}
