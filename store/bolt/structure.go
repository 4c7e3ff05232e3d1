package bolt

import (
	"errors"
	"fmt"

	"github.com/gonango/nango/store"
	bbolt "go.etcd.io/bbolt"
)

// The checks here stand between the store's code and what it finds in the file: a nested bucket
// that is missing or is a plain value, an entry that does not decode. Each answers with a
// *CorruptError naming what is wrong; the transaction's guard fills in the file's path and
// records it (Store.Damage). Listings skip a damaged entry instead (Store.skip), so that one bad
// entry does not hide the rest.

// damaged is a *CorruptError met inside a transaction; guard sets its path.
func damaged(where, format string, args ...any) *CorruptError {
	return &CorruptError{Where: where, Problem: fmt.Sprintf(format, args...)}
}

// asDamage turns a decoding error into a *CorruptError about where.
func asDamage(where string, err error) error {
	var ce *CorruptError
	if err == nil || errors.As(err, &ce) {
		return err
	}
	return damaged(where, "%v", err)
}

// nestedBucket returns parent's bucket key, nil if there is none, or a *CorruptError if key holds
// a plain value where a bucket belongs.
func nestedBucket(parent *bbolt.Bucket, key []byte, what string) (*bbolt.Bucket, error) {
	if b := parent.Bucket(key); b != nil {
		return b, nil
	}
	if parent.Get(key) != nil {
		return nil, damaged(what, "a plain value stands where its bucket belongs")
	}
	return nil, nil
}

// runBucket returns the bucket of a sync's runs, which a run id in runids promises.
func runBucket(tx *bbolt.Tx, sk []byte, runID string) (*bbolt.Bucket, error) {
	b, err := nestedBucket(tx.Bucket(bucketRuns), sk, "runs of "+keyName(sk))
	if err == nil && b == nil {
		err = damaged("run "+runID, "indexed, but the runs of %s are missing", keyName(sk))
	}
	return b, err
}

// keyName shows a key made with join, its parts separated by "/".
func keyName(k []byte) string {
	b := make([]byte, len(k))
	for i, c := range k {
		if c == 0 {
			c = '/'
		}
		b[i] = c
	}
	return string(truncate(b, 300))
}

// checkStream checks a stream's bucket: its index and log buckets, and its state when its log
// holds anything. openStream calls it; its *CorruptError reaches the transaction's guard as a
// panic, since openStream's callers take no error from it.
func checkStream(root *bbolt.Bucket, s store.Stream) (index, log *bbolt.Bucket, state streamState) {
	where := "stream " + s.String()
	index, log = root.Bucket(bucketIndex), root.Bucket(bucketLog)
	if index == nil || log == nil {
		panic(damaged(where, "its index or change log bucket is missing"))
	}
	v := root.Get(keyState)
	switch {
	case len(v) == 28:
	case v == nil && log.Sequence() == 0:
	default:
		panic(damaged(where, "its state is %d bytes, expected 28", len(v)))
	}
	return index, log, readState(root)
}

// readStats reads only a stream's state: the counts of live and deleted records.
func readStats(tx *bbolt.Tx, s store.Stream) (streamState, error) {
	root, err := nestedBucket(tx.Bucket(bucketStreams), streamKey(s), "stream "+s.String())
	if err != nil || root == nil {
		return streamState{}, err
	}
	if v := root.Get(keyState); v != nil && len(v) != 28 {
		return streamState{}, damaged("stream "+s.String(), "its state is %d bytes, expected 28", len(v))
	}
	return readState(root), nil
}

// dueEntry returns the outbox entry a due index key names.
func dueEntry(tx *bbolt.Tx, k []byte) (*store.OutboxEntry, error) {
	if len(k) < 8 {
		return nil, damaged("outbox due index", "a key of %d bytes, shorter than its time; removed", len(k))
	}
	v := tx.Bucket(bucketOutbox).Get(k[8:])
	if v == nil {
		return nil, damaged("outbox due index", "names no outbox entry; removed")
	}
	e, err := decodeEntry(v)
	if err != nil {
		return nil, damaged("outbox entry "+string(truncate(k[8:], 255)), "%s; removed from the due index", problemOf(err))
	}
	return e, nil
}

// problemOf is what a *CorruptError says is wrong, or the error's text.
func problemOf(err error) string {
	var ce *CorruptError
	if errors.As(err, &ce) {
		return ce.Problem
	}
	return err.Error()
}
