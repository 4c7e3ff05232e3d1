// Package bolt is the embedded, default store.Store: one bbolt file in the user's process.
//
// # Layout
//
// Top-level buckets:
//
//	meta         "format" -> format version (1)
//	streams      one nested bucket per stream, named integration\x00connection\x00model, holding
//	               m  stream state: epoch(4) last change time(8) live(8) deleted(8)
//	               p  prune mark: seq(8); every log entry up to it has no payload (RecordsPrune)
//	               i  the id index: record id -> seq(8) hash(8) flags(1: deleted 1, pruned 2)
//	               l  the change log: seq(8) -> version(1) action(1) first_seen(8) last_modified(8)
//	                  deleted_at(8) pruned_at(8) id length(1) id payload
//	windows      one nested bucket per deletion-tracking window (stream key \x00 sync), holding
//	             sorted chunks of the ids written in the window under increasing sequence keys
//	checkpoints  integration\x00sync\x00connection -> version(8) updated_at(8) JSON
//	runs         one nested bucket per sync key: seq(8) -> run JSON
//	runids       run id -> sync key \x00 seq(8)
//	runlastok    sync key -> seq(8) of the newest successful run
//	connections  integration\x00id -> connection JSON
//	leases       sync key -> token(8) expires_at(8) active(1) owner
//	schedules    sync key -> schedule JSON
//	outbox       entry id -> entry JSON (webhooks to deliver, delivered or dead)
//	outboxdue    next attempt(8) entry id -> empty, one key per pending entry, in due order
//	outboxstats  "pending", "delivered", "dead" -> count(8)
//	consumers    consumer\x00integration\x00connection\x00model -> updated_at(8) cursor
//
// Times are microseconds since the Unix epoch, big-endian; zero means unset. The byte offsets of
// these values appear only in their encode and decode functions, in encoding.go.
//
// One record is one index entry and one log entry. The log is keyed by a per-stream sequence that
// bbolt hands out in commit order, so appending to it touches only the last page, and a listing is
// a sequential scan. A record whose payload did not change costs one index read and no write.
// Deletion tracking appends one sorted chunk of ids per write instead of touching every record,
// and the sweep merges the chunks against the index in key order, holding only a position per
// chunk in memory.
//
// # Damaged files
//
// Open reads the file's meta pages and every page reachable from them before bbolt maps it
// (verify.go): a file cut short or with a bad page is a *CorruptError, never a crash. Inside
// transactions, every nested bucket and entry the store reads is checked (structure.go); a
// fault on the mapped file (cut while open) or a panic on a bad page is recovered into a
// *CorruptError too. Listings skip a damaged entry and go on; Store.Damage and Options.Logger
// report what was skipped. The remedy for damage is a backup: tx.WriteTo through Store.DB makes
// one while the store is open.
//
// A file is open in one Store per process: a second Open of the same file fails at once with
// ErrOpenInProcess (several read-only Stores may share one); another process gets ErrLocked
// after Options.Timeout.
package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"github.com/gonango/nango/store"
	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

const formatVersion = 1

var (
	bucketMeta        = []byte("meta")
	bucketStreams     = []byte("streams")
	bucketWindows     = []byte("windows")
	bucketCheckpoints = []byte("checkpoints")
	bucketRuns        = []byte("runs")
	bucketRunIDs      = []byte("runids")
	bucketRunLastOK   = []byte("runlastok")
	bucketConns       = []byte("connections")
	bucketLeases      = []byte("leases")
	bucketSchedules   = []byte("schedules")
	bucketOutbox      = []byte("outbox")
	bucketOutboxDue   = []byte("outboxdue")
	bucketOutboxStats = []byte("outboxstats")
	bucketConsumers   = []byte("consumers")
	rootBuckets       = [][]byte{bucketMeta, bucketStreams, bucketWindows, bucketCheckpoints, bucketRuns, bucketRunIDs, bucketRunLastOK, bucketConns, bucketLeases, bucketSchedules,
		bucketOutbox, bucketOutboxDue, bucketOutboxStats, bucketConsumers}

	keyFormat    = []byte("format")
	keyState     = []byte("m")
	keyPruneMark = []byte("p")
	bucketIndex  = []byte("i")
	bucketLog    = []byte("l")
)

// Options configure Open. The zero value and nil mean the defaults.
type Options struct {
	// Timeout is how long Open waits for the file lock held by another process before it fails
	// with ErrLocked. Defaults to 5 seconds.
	Timeout time.Duration
	// NoSync skips fsync on commit: faster, but a machine crash can lose the latest commits or
	// corrupt the file. Defaults to false. Only for tests and throwaway data.
	NoSync bool
	// FileMode is the permission of a new file. Defaults to 0600.
	FileMode os.FileMode
	// ReadOnly opens an existing store for reading only, with a shared lock: several read-only
	// processes may open it at once, but not while a process has it open for writing (bbolt's
	// file lock). Writes fail with ErrReadOnly. Defaults to false.
	ReadOnly bool
	// Logger receives the damage the store meets in the file (see Store.Damage). Defaults to
	// slog.Default().
	Logger *slog.Logger
}

// ErrReadOnly is returned by writes to a store opened with Options.ReadOnly.
var ErrReadOnly = errors.New("bolt: the store was opened read-only")

// ErrLocked is returned by Open when another process holds the file.
var ErrLocked = errors.New("bolt: database file is locked by another process")

// ErrNotStore is returned by Open for a file that is not a valid store file.
var ErrNotStore = errors.New("bolt: not a valid store file")

// Store is a store.Store on one bbolt file.
type Store struct {
	db      *bbolt.DB
	path    string
	id      string // StoreID
	logger  *slog.Logger
	damage  damageLog
	release func() // forgets the file in openFiles
}

var (
	_ store.Store      = (*Store)(nil)
	_ store.Identifier = (*Store)(nil)
)

// Open opens or creates the store file at path. Before bbolt maps the file, Open checks its
// pages (see verify.go) and returns a *CorruptError for a damaged file.
func Open(path string, opts *Options) (*Store, error) {
	o := Options{Timeout: 5 * time.Second, FileMode: 0o600}
	if opts != nil {
		if opts.Timeout > 0 {
			o.Timeout = opts.Timeout
		}
		if opts.FileMode != 0 {
			o.FileMode = opts.FileMode
		}
		o.NoSync = opts.NoSync
		o.ReadOnly = opts.ReadOnly
		o.Logger = opts.Logger
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ReadOnly {
		// bbolt would create a missing file even read-only; a reader must not.
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("bolt: opening %s read-only: %w", path, err)
		}
	}
	f, release, err := openChecked(path, o)
	if err != nil {
		return nil, err
	}
	db, err := openBolt(path, &f, o)
	if f != nil {
		_ = f.Close()
	}
	if err != nil {
		release()
		switch {
		case errors.Is(err, bolterrors.ErrTimeout):
			return nil, fmt.Errorf("%w: %s (waited %s)", ErrLocked, path, o.Timeout)
		case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum),
			errors.Is(err, bolterrors.ErrVersionMismatch), errors.Is(err, bolterrors.ErrInvalidMapping):
			return nil, fmt.Errorf("%w: %s: %w", ErrNotStore, path, err)
		}
		return nil, fmt.Errorf("bolt: opening %s: %w", path, err)
	}
	if o.ReadOnly {
		err = db.View(func(tx *bbolt.Tx) error { return checkFormat(tx, path, true) })
	} else {
		err = db.Update(func(tx *bbolt.Tx) error {
			if err := checkFormat(tx, path, false); err != nil {
				return err
			}
			for _, name := range rootBuckets {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			return tx.Bucket(bucketMeta).Put(keyFormat, u64(formatVersion))
		})
	}
	if err != nil {
		_ = db.Close()
		release()
		return nil, err
	}
	return &Store{db: db, path: path, id: fileID(path), logger: o.Logger, release: release}, nil
}

// fileID names the store file by its absolute path, links resolved; "" when it cannot.
func fileID(path string) string {
	abs, err := filepath.Abs(path)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return ""
	}
	return "bolt:" + abs
}

// StoreID implements store.Identifier: "bolt:" and the file's absolute path, links resolved.
func (s *Store) StoreID() string { return s.id }

// openBolt is bbolt.Open on the verified, locked file f, with a panic of bbolt turned into an
// error.
func openBolt(path string, f **os.File, o Options) (db *bbolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &CorruptError{Path: path, Problem: fmt.Sprintf("bbolt failed to open it: %v", r), atOpen: true}
		}
	}()
	return bbolt.Open(path, o.FileMode, &bbolt.Options{
		Timeout:        o.Timeout,
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
		NoSync:         o.NoSync,
		ReadOnly:       o.ReadOnly,
		OpenFile:       handOver(f),
	})
}

// checkFormat verifies that the file is a store of this format (or, when writable, empty).
func checkFormat(tx *bbolt.Tx, path string, readOnly bool) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		empty := true
		_ = tx.ForEach(func([]byte, *bbolt.Bucket) error { empty = false; return nil })
		switch {
		case !empty:
			return fmt.Errorf("%w: %s is a bbolt file of another program", ErrNotStore, path)
		case readOnly:
			return fmt.Errorf("%w: %s is empty", ErrNotStore, path)
		}
		return nil
	}
	v := meta.Get(keyFormat)
	if len(v) != 8 {
		return fmt.Errorf("%w: %s has no format version", ErrNotStore, path)
	}
	if fv := binary.BigEndian.Uint64(v); fv != formatVersion {
		return fmt.Errorf("%w: %s has format version %d, this build reads %d", ErrNotStore, path, fv, formatVersion)
	}
	if readOnly {
		for _, name := range rootBuckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("bolt: %s was written by an older version: open it once for writing to upgrade it", path)
			}
		}
	}
	return nil
}

// DB returns the underlying bbolt database, for backups (tx.WriteTo) and diagnostics. Writing
// to the store's buckets directly breaks its guarantees.
func (s *Store) DB() *bbolt.DB { return s.db }

// Close implements store.Store.
func (s *Store) Close() error {
	err := s.db.Close()
	s.release()
	return err
}

func (s *Store) view(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.guard(func() error { return mapClosed(s.db.View(fn)) })
}

func (s *Store) update(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.guard(func() error { return mapClosed(s.db.Update(fn)) })
}

func mapClosed(err error) error {
	switch {
	case errors.Is(err, bolterrors.ErrDatabaseNotOpen):
		return fmt.Errorf("%w: %w", store.ErrClosed, err)
	case errors.Is(err, bolterrors.ErrDatabaseReadOnly), errors.Is(err, bolterrors.ErrTxNotWritable):
		return fmt.Errorf("%w: %w", ErrReadOnly, err)
	}
	return err
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

// arena hands out the keys and values of one write transaction from a few large blocks rather
// than one allocation each. bbolt keeps the value slices given to Put until the transaction
// commits, so the arena never reuses what it handed out; it is dropped with the transaction.
type arena struct{ block []byte }

const arenaBlock = 64 << 10

func (a *arena) alloc(n int) []byte {
	if n > cap(a.block)-len(a.block) {
		if n > arenaBlock/8 {
			return make([]byte, n)
		}
		a.block = make([]byte, 0, arenaBlock)
	}
	l := len(a.block)
	a.block = a.block[:l+n]
	return a.block[l : l+n : l+n]
}

func (a *arena) u64(v uint64) []byte {
	b := a.alloc(8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func (a *arena) index(e indexEntry) []byte {
	b := a.alloc(indexLen)
	e.put(b)
	return b
}

func (a *arena) log(h logHeader, id string, payload []byte) []byte {
	b := a.alloc(logHeaderLen + len(id) + len(payload))
	putLog(b, h, id, payload)
	return b
}

// idBytes returns the bytes of a record id without copying them, for bbolt calls that only read
// their key (Get, Delete, and Put, which copies it).
func idBytes(id string) []byte { return unsafe.Slice(unsafe.StringData(id), len(id)) }

func micros(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixMicro())
}

func fromMicros(v uint64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(int64(v)).UTC()
}

func join(parts ...string) []byte {
	n := len(parts) - 1
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}

func streamKey(s store.Stream) []byte { return join(s.Integration, s.Connection, s.Model) }

func syncKey(k store.SyncKey) []byte { return join(k.Integration, k.Sync, k.Connection) }

func newEpoch() uint32 {
	for {
		if e := rand.Uint32(); e != 0 {
			return e
		}
	}
}

// streamBuckets are the buckets of one stream inside one transaction.
type streamBuckets struct {
	root  *bbolt.Bucket
	index *bbolt.Bucket
	log   *bbolt.Bucket
	state streamState
}

// openStream returns the buckets of stream s, or nil if it has none. A damaged stream bucket
// (see checkStream) panics with a *CorruptError, which the transaction's guard returns.
func openStream(tx *bbolt.Tx, s store.Stream) *streamBuckets {
	root, err := nestedBucket(tx.Bucket(bucketStreams), streamKey(s), "stream "+s.String())
	if err != nil {
		panic(err)
	}
	if root == nil {
		return nil
	}
	sb := &streamBuckets{root: root}
	sb.index, sb.log, sb.state = checkStream(root, s)
	sb.log.FillPercent = 1.0
	return sb
}

func createStream(tx *bbolt.Tx, s store.Stream) (*streamBuckets, error) {
	if sb := openStream(tx, s); sb != nil {
		return sb, nil
	}
	root, err := tx.Bucket(bucketStreams).CreateBucket(streamKey(s))
	if err != nil {
		return nil, fmt.Errorf("bolt: creating stream %s: %w", s, err)
	}
	index, err := root.CreateBucket(bucketIndex)
	if err != nil {
		return nil, err
	}
	log, err := root.CreateBucket(bucketLog)
	if err != nil {
		return nil, err
	}
	log.FillPercent = 1.0
	return &streamBuckets{root: root, index: index, log: log, state: streamState{epoch: newEpoch()}}, nil
}
