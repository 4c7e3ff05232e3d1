package nango

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"sync"
	"time"

	"github.com/gonango/nango/store"
)

// Per-connection data keys. With Config.EncryptionKeys, each connection gets a random 32-byte
// data key the first time the engine seals something of it. The key is kept with the
// connection in the store (store.Connection.DataKey), sealed by the first master key like
// credentials are, or in Config.DataKeyStore with only a reference in the store (keystore.go);
// record payloads and checkpoints are sealed with it. Deleting the connection deletes the key,
// so whatever of the connection is left in the store (free pages, dead tuples, a copy of a
// page) no longer decrypts; with a DataKeyStore, neither does a backup of the store. Rotating
// the master keys re-wraps data keys only (Engine.ReencryptCredentials): records and
// checkpoints stay as they are.
//
// The change-detection hash of a sealed record is HMAC-SHA256 under a key derived from the data
// key, cut to 64 bits, so the stored hash tells nothing about the payload and stays the same
// when the master key rotates.

// ErrNoEncryptionKey is matched by the errors of reads that meet a sealed value (a record
// payload, a checkpoint, credentials) when no key was configured to open it.
var ErrNoEncryptionKey = errors.New("nango: the value is encrypted but Config.EncryptionKeys is empty")

// ErrUnknownEncryptionKey is matched by the errors of reads that meet a value sealed with a key
// that is not among Config.EncryptionKeys (a key removed too early, or another service's).
var ErrUnknownEncryptionKey = errors.New("nango: the value is encrypted with a key that is not in Config.EncryptionKeys")

// dataKey is a connection's unwrapped data key.
type dataKey struct {
	s       *sealer // one key
	hashKey []byte
	macs    sync.Pool // of hash.Hash keyed with hashKey
}

func newDataKey(key []byte) (*dataKey, error) {
	s, err := newSealer([][]byte{key})
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("nango record hash key"))
	dk := &dataKey{s: s, hashKey: mac.Sum(nil)}
	dk.macs.New = func() any { return hmac.New(sha256.New, dk.hashKey) }
	return dk, nil
}

// hash is the keyed change-detection hash of a canonical payload.
func (dk *dataKey) hash(canonical []byte) uint64 {
	mac := dk.macs.Get().(hash.Hash)
	mac.Reset()
	mac.Write(canonical)
	var sum [sha256.Size]byte
	h := binary.BigEndian.Uint64(mac.Sum(sum[:0]))
	dk.macs.Put(mac)
	return h
}

// owns reports whether v is sealed with this key.
func (dk *dataKey) owns(v []byte) bool {
	return sealed(v) && len(v) >= sealedStart && hmac.Equal(v[4:4+keyIDLen], dk.s.keys[0].id)
}

func dataKeyAAD(integration, connection string) []byte {
	return []byte("data key\x00" + integration + "\x00" + connection)
}

func recordAAD(st store.Stream, id string) []byte {
	return []byte("record\x00" + st.Integration + "\x00" + st.Connection + "\x00" + st.Model + "\x00" + id)
}

// keyring finds the data keys of connections in a store and opens what they sealed. The
// engine has one; NewStoreOpener makes one for programs that read a store without an engine.
type keyring struct {
	master *sealer
	st     store.Store
	ks     store.Connections // Config.DataKeyStore, or nil (keystore.go)
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]*dataKey // by wrapped key, so that a connection created again misses
}

// maxCachedDataKeys bounds the keyring's cache; it starts over when full.
const maxCachedDataKeys = 4096

func newKeyring(master *sealer, st store.Store, ks store.Connections, now func() time.Time) *keyring {
	return &keyring{master: master, st: st, ks: ks, now: now, cache: map[string]*dataKey{}}
}

// unwrap opens a connection's wrapped data key.
func (kr *keyring) unwrap(integration, connection string, wrapped []byte) (*dataKey, error) {
	kr.mu.Lock()
	dk := kr.cache[string(wrapped)]
	kr.mu.Unlock()
	if dk != nil {
		return dk, nil
	}
	if !sealed(wrapped) {
		return nil, fmt.Errorf("nango: the data key of connection %q of %q is stored unwrapped", connection, integration)
	}
	if !kr.master.enabled() {
		return nil, fmt.Errorf("%w (the data key of connection %q of %q)", ErrNoEncryptionKey, connection, integration)
	}
	key, err := kr.master.open(wrapped, dataKeyAAD(integration, connection))
	if err != nil {
		return nil, fmt.Errorf("nango: the data key of connection %q of %q: %w", connection, integration, err)
	}
	if dk, err = newDataKey(key); err != nil {
		return nil, fmt.Errorf("nango: the data key of connection %q of %q: %w", connection, integration, err)
	}
	kr.mu.Lock()
	if len(kr.cache) >= maxCachedDataKeys {
		clear(kr.cache)
	}
	kr.cache[string(wrapped)] = dk
	kr.mu.Unlock()
	return dk, nil
}

// forget drops a connection's data key from the cache.
func (kr *keyring) forget(wrapped []byte) {
	kr.mu.Lock()
	delete(kr.cache, string(wrapped))
	kr.mu.Unlock()
}

// dataKey returns the data key of a connection, or nil when it has none and create is false.
// With create, a connection without a key gets one, in one atomic update of the connection, so
// that engines sharing the store agree on it, and a key kept in the engine's store moves to
// Config.DataKeyStore when one is set (keystore.go). Without master keys it returns nil.
func (kr *keyring) dataKey(ctx context.Context, integration, connection string, create bool) (*dataKey, error) {
	c, err := kr.st.ConnectionGet(ctx, integration, connection)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w %q of integration %q", ErrUnknownConnection, connection, integration)
		}
		return nil, fmt.Errorf("nango: loading connection %q: %w", connection, err)
	}
	if len(c.DataKey) > 0 {
		dk, err := kr.open(ctx, integration, connection, c.DataKey)
		if err != nil {
			return nil, err
		}
		if create && kr.ks != nil && sealed(c.DataKey) {
			if _, err := kr.move(ctx, integration, connection, c.DataKey, dk); err != nil {
				return nil, err
			}
		}
		return dk, nil
	}
	if !create || !kr.master.enabled() {
		return nil, nil
	}
	key := make([]byte, EncryptionKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("nango: making a data key: %w", err)
	}
	wrapped, err := kr.master.seal(key, dataKeyAAD(integration, connection))
	if err != nil {
		return nil, err
	}
	if kr.ks != nil {
		dk, err := newDataKey(key)
		if err != nil {
			return nil, err
		}
		return kr.createInKeyStore(ctx, integration, connection, dk, wrapped)
	}
	c, err = kr.st.ConnectionUpdate(ctx, integration, connection, func(c *store.Connection) error {
		if len(c.DataKey) == 0 { // another engine may have made one meanwhile: keep it
			c.DataKey = wrapped
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w %q of integration %q", ErrUnknownConnection, connection, integration)
		}
		return nil, fmt.Errorf("nango: storing the data key of connection %q: %w", connection, err)
	}
	return kr.open(ctx, integration, connection, c.DataKey)
}

// openRecords decrypts in place the sealed payloads of records read from st. Payloads in the
// clear stay as they are.
func (kr *keyring) openRecords(ctx context.Context, st store.Stream, recs []store.Record) error {
	var dk *dataKey
	for i := range recs {
		r := &recs[i]
		if !sealed(r.Data) {
			continue
		}
		if dk == nil {
			if !kr.master.enabled() {
				return fmt.Errorf("%w (record %q of %s)", ErrNoEncryptionKey, r.ID, st)
			}
			var err error
			if dk, err = kr.dataKey(ctx, st.Integration, st.Connection, false); err != nil {
				return err
			}
			if dk == nil {
				return fmt.Errorf("nango: record %q of %s is encrypted but its connection has no data key", r.ID, st)
			}
		}
		plain, err := (&recordCodec{dk: dk, stream: st}).Open(r.ID, r.Data)
		if err != nil {
			return fmt.Errorf("nango: record %q of %s: %w", r.ID, st, err)
		}
		r.Data = plain
	}
	return nil
}

// openCheckpoint returns a stored checkpoint's JSON: decrypted with the connection's data key
// or, for a checkpoint sealed before data keys, with a master key; as it is if it was stored in
// the clear.
func (kr *keyring) openCheckpoint(ctx context.Context, k store.CheckpointKey, data []byte) ([]byte, error) {
	v, ok, err := checkpointSealed(data)
	if err != nil || !ok {
		return data, err
	}
	s := kr.master
	if !s.enabled() {
		return nil, fmt.Errorf("%w (the checkpoint of %s for %q)", ErrNoEncryptionKey, k.Sync, k.Connection)
	}
	if len(v) >= sealedStart && !kr.master.knows(v) {
		dk, err := kr.dataKey(ctx, k.Integration, k.Connection, false)
		if err != nil {
			return nil, err
		}
		if dk != nil {
			s = dk.s
		}
	}
	return s.open(v, checkpointAAD(k))
}

// recordCodec is the store.PayloadCodec of one stream: payloads sealed with the connection's
// data key, hashed with its hash key.
type recordCodec struct {
	dk     *dataKey
	stream store.Stream
}

var _ store.PayloadCodec = (*recordCodec)(nil)

func (c *recordCodec) Hash(canonical []byte) uint64 { return c.dk.hash(canonical) }

func (c *recordCodec) Seal(id string, canonical []byte) ([]byte, error) {
	return c.dk.s.seal(canonical, recordAAD(c.stream, id))
}

func (c *recordCodec) Open(id string, stored []byte) ([]byte, error) {
	if !sealed(stored) {
		return stored, nil
	}
	if !c.dk.owns(stored) {
		return nil, errors.New("its payload is sealed with another data key than its connection's (was the connection deleted and added again?)")
	}
	return c.dk.s.open(stored, recordAAD(c.stream, id))
}

// StoreOpener decrypts what a store holds, for programs that read a store directly instead of
// through an Engine (the nango command): record payloads and checkpoints, given the engine's
// Config.EncryptionKeys. Values stored in the clear pass as they are. It is safe for
// concurrent use.
type StoreOpener struct {
	kr *keyring
}

// StoreOpener returns an opener with the engine's keys, over its store.
func (e *Engine) StoreOpener() *StoreOpener { return &StoreOpener{kr: e.keys} }

// NewStoreOpener returns an opener of what st holds, with the keys of Config.EncryptionKeys
// (none: values in the clear only; an encrypted one is an error matching ErrNoEncryptionKey).
func NewStoreOpener(st store.Store, keys [][]byte) (*StoreOpener, error) {
	s, err := newSealer(keys)
	if err != nil {
		return nil, err
	}
	return &StoreOpener{kr: newKeyring(s, st, nil, time.Now)}, nil
}

// WithDataKeyStore returns an opener like o that reads the data keys kept in ks, the
// engine's Config.DataKeyStore. Without it, the values of a connection whose data key is in a
// key store do not open.
func (o *StoreOpener) WithDataKeyStore(ks store.Connections) *StoreOpener {
	return &StoreOpener{kr: newKeyring(o.kr.master, o.kr.st, ks, o.kr.now)}
}

// OpenRecords decrypts in place the payloads of records of stream st read from the store.
func (o *StoreOpener) OpenRecords(ctx context.Context, st store.Stream, recs []store.Record) error {
	return o.kr.openRecords(ctx, st, recs)
}

// OpenCheckpoint returns the JSON of a checkpoint read from the store.
func (o *StoreOpener) OpenCheckpoint(ctx context.Context, k store.CheckpointKey, data []byte) ([]byte, error) {
	return o.kr.openCheckpoint(ctx, k, data)
}
