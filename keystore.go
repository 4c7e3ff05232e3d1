package nango

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gonango/nango/store"
)

// A separate home for data keys (Config.DataKeyStore). With a key store, the engine's store
// keeps in Connection.DataKey only a reference, keyRefMagic then the 8-byte id of the data key
// (the id that its sealed values carry anyway), and the key store keeps the wrapped key in a
// connection row of its own:
//
//	Integration: the connection's integration
//	ID:          the key id in hex
//	Metadata:    {"connection": the connection's id}
//	DataKey:     the data key wrapped by the master key, as without a key store
//
// A connection's key is made by writing its row to the key store first, then setting the
// reference in the engine's store with an atomic update if the connection has none: engines
// racing on the first write agree on the key whose reference won, and the others delete the
// rows of theirs, which sealed nothing. A reference is thus never set before its row exists.
// Deleting a connection first replaces whatever its DataKey holds (nothing, a reference, or a
// key wrapped in the engine's store) with keyRefDeleted followed by the key's id when it has one,
// so that no key is made or moved for it meanwhile; then it deletes the key's row from the key
// store, then the connection from the engine's store. A failure in between leaves data that no
// longer decrypts, never a key for deleted data, and the id in the mark lets a deletion called
// again drop a row that a move racing with the first one left in the key store. A row that no
// connection names (its engine stopped before naming it, or before it saw the deletion mark
// and dropped its copy) is deleted by the retention pass an hour after it was written, when
// RetentionConfig.SweepDataKeys is on (sweepKeyStore).

var (
	keyRefMagic   = []byte("\x00NKR1") // then the key id: the key is in the key store
	keyRefDeleted = []byte("\x00NKD1") // then the key id, if any: the connection is being deleted
)

// ErrDataKeyNotFound is matched by the errors of reads of a connection whose data key is not in
// Config.DataKeyStore: the connection was deleted, which destroyed its key (and these are
// its records or checkpoints in a backup of the store), or the key store is not the one the key
// was written to.
var ErrDataKeyNotFound = errors.New("nango: the connection's data key is not in the data key store")

// keyRowMeta is the metadata of a key store row.
type keyRowMeta struct {
	Connection string `json:"connection"`
}

func keyRowID(id []byte) string { return hex.EncodeToString(id) }

// id is the data key's id, the one its sealed values carry.
func (dk *dataKey) id() []byte { return dk.s.keys[0].id }

// inKeyStore reports whether a connection's stored DataKey is a reference to the key store.
func inKeyStore(v []byte) bool { return bytes.HasPrefix(v, keyRefMagic) }

// beingDeleted reports whether a connection's stored DataKey marks it as being deleted.
func beingDeleted(v []byte) bool { return bytes.HasPrefix(v, keyRefDeleted) }

// deletedKeyID returns the key id that a deletion mark carries, or nil.
func deletedKeyID(v []byte) []byte {
	if beingDeleted(v) && len(v) == len(keyRefDeleted)+keyIDLen {
		return v[len(keyRefDeleted):]
	}
	return nil
}

// errBeingDeleted is the error of a use of a connection whose deletion has begun.
func errBeingDeleted(integration, connection string) error {
	return fmt.Errorf("%w: connection %q of %q is being deleted (call DeleteConnection again to finish a deletion that failed)",
		ErrDataKeyNotFound, connection, integration)
}

// checkDataKeyStore validates Config.DataKeyStore against the engine's store.
func checkDataKeyStore(c *Config, st store.Store) error {
	ks := c.DataKeyStore
	if ks == nil {
		return nil
	}
	if len(c.EncryptionKeys) == 0 {
		return configError("DataKeyStore is set but EncryptionKeys is empty: there are data keys only with encryption keys")
	}
	if store.SameData(ks, st) {
		// Its key rows would be the engine's connections: phantoms that get runs, and whose
		// deletion destroys a real connection's key.
		return configError("DataKeyStore is the engine's store (the same value, or another handle on the same file, schema or memory store): give it a store of its own (another file, schema or database), or leave it nil")
	}
	return nil
}

// open returns the data key that a connection's stored DataKey holds or names.
func (kr *keyring) open(ctx context.Context, integration, connection string, v []byte) (*dataKey, error) {
	switch {
	case inKeyStore(v):
		return kr.fetch(ctx, integration, connection, v)
	case beingDeleted(v):
		return nil, errBeingDeleted(integration, connection)
	}
	return kr.unwrap(integration, connection, v)
}

// fetch reads from the key store the data key that ref names, and opens it.
func (kr *keyring) fetch(ctx context.Context, integration, connection string, ref []byte) (*dataKey, error) {
	if len(ref) != len(keyRefMagic)+keyIDLen {
		return nil, fmt.Errorf("nango: the data key reference of connection %q of %q is damaged", connection, integration)
	}
	if kr.ks == nil {
		return nil, fmt.Errorf("nango: connection %q of %q keeps its data key in a data key store, and Config.DataKeyStore is not set", connection, integration)
	}
	id := ref[len(keyRefMagic):]
	row, err := kr.ks.ConnectionGet(ctx, integration, keyRowID(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: connection %q of %q (key id %s) was deleted, or this is not the key store its key was written to",
			ErrDataKeyNotFound, connection, integration, keyRowID(id))
	}
	if err != nil {
		return nil, fmt.Errorf("nango: reading the data key of connection %q of %q from the data key store: %w", connection, integration, err)
	}
	dk, err := kr.unwrap(integration, connection, row.DataKey)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(dk.id(), id) {
		return nil, fmt.Errorf("nango: the data key store holds another key than the one connection %q of %q names (key id %s)", connection, integration, keyRowID(id))
	}
	return dk, nil
}

// putRow writes a wrapped data key to the key store.
func (kr *keyring) putRow(ctx context.Context, integration, connection string, id, wrapped []byte) error {
	meta, err := json.Marshal(keyRowMeta{Connection: connection})
	if err != nil {
		return err
	}
	now := store.Timestamp(kr.now())
	err = kr.ks.ConnectionPut(ctx, &store.Connection{Integration: integration, ID: keyRowID(id), Metadata: meta, DataKey: wrapped, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		return fmt.Errorf("nango: storing the data key of connection %q of %q in the data key store: %w", connection, integration, err)
	}
	return nil
}

// dropRow deletes a key store row; one that is not there is not an error.
func (kr *keyring) dropRow(ctx context.Context, integration, connection string, id []byte) error {
	err := kr.ks.ConnectionDelete(ctx, integration, keyRowID(id))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("nango: deleting the data key of connection %q of %q from the data key store: %w", connection, integration, err)
	}
	return nil
}

// createInKeyStore makes a connection's data key in the key store: its row first, then the
// reference to it, if the connection has no key yet.
func (kr *keyring) createInKeyStore(ctx context.Context, integration, connection string, dk *dataKey, wrapped []byte) (*dataKey, error) {
	if err := kr.putRow(ctx, integration, connection, dk.id(), wrapped); err != nil {
		return nil, err
	}
	ref := append(bytes.Clone(keyRefMagic), dk.id()...)
	c, err := kr.st.ConnectionUpdate(ctx, integration, connection, func(c *store.Connection) error {
		if len(c.DataKey) == 0 { // another engine may have made one meanwhile: keep it
			c.DataKey = ref
		}
		return nil
	})
	if err != nil || !bytes.Equal(c.DataKey, ref) {
		// This key sealed nothing: its row goes (if that fails, or this engine stops first, the
		// retention pass deletes the row that no connection names; see sweepKeyStore).
		_ = kr.dropRow(ctx, integration, connection, dk.id())
	}
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w %q of integration %q", ErrUnknownConnection, connection, integration)
		}
		return nil, fmt.Errorf("nango: storing the data key of connection %q: %w", connection, err)
	}
	dk2, err := kr.open(ctx, integration, connection, c.DataKey)
	if !bytes.Equal(c.DataKey, ref) || !errors.Is(err, ErrDataKeyNotFound) {
		return dk2, err
	}
	// This engine named its key, and the row is gone: it stalled between the two writes for
	// longer than orphanKeyGrace, and the retention pass deleted the row as unnamed. Nothing
	// was sealed with the key (reading it failed): the row is written again, unless the
	// connection's deletion began meanwhile (a row left then is again one that no connection
	// names).
	if err := kr.putRow(ctx, integration, connection, dk.id(), wrapped); err != nil {
		return nil, err
	}
	if c, err = kr.st.ConnectionGet(ctx, integration, connection); err != nil || !bytes.Equal(c.DataKey, ref) {
		_ = kr.dropRow(ctx, integration, connection, dk.id())
		if err == nil {
			err = errBeingDeleted(integration, connection)
		} else if errors.Is(err, store.ErrNotFound) {
			err = fmt.Errorf("%w %q of integration %q", ErrUnknownConnection, connection, integration)
		}
		return nil, err
	}
	return kr.open(ctx, integration, connection, ref)
}

// move copies a data key kept in the engine's store (made before Config.DataKeyStore was set)
// to the key store, and replaces it there with a reference. It reports whether it moved it.
func (kr *keyring) move(ctx context.Context, integration, connection string, wrapped []byte, dk *dataKey) (bool, error) {
	if err := kr.putRow(ctx, integration, connection, dk.id(), wrapped); err != nil {
		return false, err
	}
	ref := append(bytes.Clone(keyRefMagic), dk.id()...)
	c, err := kr.st.ConnectionUpdate(ctx, integration, connection, func(c *store.Connection) error {
		if bytes.Equal(c.DataKey, wrapped) {
			c.DataKey = ref
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		// Deleted meanwhile: the copy must not outlive it.
		return false, kr.dropRow(ctx, integration, connection, dk.id())
	}
	if err == nil && beingDeleted(c.DataKey) {
		// Its deletion began meanwhile and may have looked for the row before it was written:
		// the copy goes (if that fails, calling DeleteConnection again drops it, by the id
		// that the mark carries).
		if err := kr.dropRow(ctx, integration, connection, dk.id()); err != nil {
			return false, err
		}
		return false, errBeingDeleted(integration, connection)
	}
	if err != nil {
		// The row stays, a copy of a key the connection still holds: deleting the connection
		// deletes it too (see destroy), and the next write moves the key again.
		return false, fmt.Errorf("nango: moving the data key of connection %q of %q to the data key store: %w", connection, integration, err)
	}
	return bytes.Equal(c.DataKey, ref), nil
}

// destroy deletes a connection's data key before the connection is deleted. With a key store,
// it first marks the connection as being deleted, with the id of its key when it has one
// (whether the key is in the key store or still wrapped in the engine's store), so that no key
// is made or moved for it meanwhile; then it deletes that key's row from the key store (a copy
// left there by a move, for a key still in the engine's store). A key store that cannot be
// reached fails it before it marks anything. Without a key store it only forgets the key, which
// the connection's deletion deletes.
func (kr *keyring) destroy(ctx context.Context, integration, connection string) error {
	c, err := kr.st.ConnectionGet(ctx, integration, connection)
	if err != nil {
		return nil // ConnectionDelete reports it
	}
	if kr.ks == nil {
		if inKeyStore(c.DataKey) || deletedKeyID(c.DataKey) != nil {
			return fmt.Errorf("nango: deleting connection %q of %q: its data key is, or may be, in a data key store, and Config.DataKeyStore is not set: set it, so that the key is destroyed with the connection", connection, integration)
		}
		if len(c.DataKey) > 0 {
			kr.forget(c.DataKey)
		}
		return nil
	}
	// A key store that cannot be reached fails the deletion before anything changes.
	if id := deletedKeyID(kr.deletionMark(integration, connection, c.DataKey)); id != nil {
		row, err := kr.ks.ConnectionGet(ctx, integration, keyRowID(id))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("nango: deleting connection %q of %q: reading its data key in the data key store: %w", connection, integration, err)
		}
		if err == nil {
			kr.forget(row.DataKey)
		}
	}
	var held []byte
	c, err = kr.st.ConnectionUpdate(ctx, integration, connection, func(c *store.Connection) error {
		held = bytes.Clone(c.DataKey)
		c.DataKey = kr.deletionMark(integration, connection, c.DataKey)
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("nango: deleting connection %q: %w", connection, err)
	}
	if sealed(held) {
		kr.forget(held)
	}
	if id := deletedKeyID(c.DataKey); id != nil {
		return kr.dropRow(ctx, integration, connection, id)
	}
	return nil
}

// deletionMark is what destroy stores in place of a connection's DataKey v: keyRefDeleted, then
// the id of the key that v holds or names, when it can tell it.
func (kr *keyring) deletionMark(integration, connection string, v []byte) []byte {
	var id []byte
	switch {
	case beingDeleted(v):
		return v // a deletion called again
	case inKeyStore(v) && len(v) == len(keyRefMagic)+keyIDLen:
		id = v[len(keyRefMagic):]
	case sealed(v):
		// Kept in the engine's store; a move may have copied it to the key store.
		if dk, err := kr.unwrap(integration, connection, v); err == nil {
			id = dk.id()
		}
	}
	return append(bytes.Clone(keyRefDeleted), id...)
}

// orphanKeyGrace is how old a key store row must be before sweepKeyStore may delete it for
// being named by no connection. A row is written before the reference that names it (see
// createInKeyStore and move), so a row just written is unreferenced for the moment its engine
// takes to set the reference: deleting it then would leave a connection naming a key that is
// gone, and its data unreadable. An hour is far longer than that moment (one update of one
// connection), even on a loaded store, and short enough that a stray key does not live long; a
// row is only at risk if its engine stalls for longer between the two writes.
const orphanKeyGrace = time.Hour

// sweepKeyStore deletes from the key store at most limit rows, written (or last rewritten)
// before now minus orphanKeyGrace, that no connection of the engine's store holds: a key whose
// reference was never set (its engine stopped between writing the row and naming it, or lost a
// race and could not delete it), or a copy moved there for a connection whose deletion began
// meanwhile. A connection being deleted holds no key: its row is the one the deletion must
// delete, and nothing names it again (a reference is set only on a connection without a key,
// a move only over the key it copies). A row whose connection still keeps its key in the
// engine's store, wrapped, is that key's copy left by a move that failed: it is kept, since the
// key is readable anyway and the next move names the row. It reports how many rows it deleted
// and whether more may be left.
//
// It reads the key store's rows first and the connections after, so that a reference set in
// between is seen; each call reads both again, so callers loop over bounded batches with a
// fresh view of the references.
func (kr *keyring) sweepKeyStore(ctx context.Context, now time.Time, limit int) (int, bool, error) {
	rows, err := kr.ks.ConnectionList(ctx, "")
	if err != nil {
		return 0, false, fmt.Errorf("reading the data key store: %w", err)
	}
	cutoff := now.Add(-orphanKeyGrace)
	var old []*store.Connection
	for _, row := range rows {
		t := row.CreatedAt
		if row.UpdatedAt.After(t) {
			t = row.UpdatedAt
		}
		if t.Before(cutoff) {
			old = append(old, row)
		}
	}
	if len(old) == 0 {
		return 0, false, nil
	}
	conns, err := kr.st.ConnectionList(ctx, "")
	if err != nil {
		return 0, false, fmt.Errorf("reading the connections: %w", err)
	}
	held := map[[2]string]bool{}    // integration and key id of the keys the connections hold
	unknown := map[[2]string]bool{} // integration and connection whose key cannot be told
	for _, c := range conns {
		switch v := c.DataKey; {
		case inKeyStore(v) && len(v) == len(keyRefMagic)+keyIDLen:
			held[[2]string{c.Integration, keyRowID(v[len(keyRefMagic):])}] = true
		case inKeyStore(v):
			unknown[[2]string{c.Integration, c.ID}] = true // damaged: keep its rows
		case wrappedHere(v):
			dk, err := kr.unwrap(c.Integration, c.ID, v)
			if err != nil {
				unknown[[2]string{c.Integration, c.ID}] = true
				continue
			}
			held[[2]string{c.Integration, keyRowID(dk.id())}] = true
		}
	}
	n := 0
	for _, row := range old {
		if n == limit {
			return n, true, nil
		}
		if held[[2]string{row.Integration, row.ID}] {
			continue
		}
		var meta keyRowMeta
		if err := json.Unmarshal(row.Metadata, &meta); err == nil && unknown[[2]string{row.Integration, meta.Connection}] {
			continue
		}
		err := kr.ks.ConnectionDelete(ctx, row.Integration, row.ID)
		switch {
		case err == nil:
			n++
		case !errors.Is(err, store.ErrNotFound): // not when another engine deleted it meanwhile
			return n, true, fmt.Errorf("deleting data key %q of %q from the data key store: %w", row.ID, row.Integration, err)
		}
	}
	return n, false, nil
}

// rewrapKeyStore seals with the first master key the data keys of the key store that another
// key sealed, for Engine.ReencryptCredentials. It returns how many it rewrote and the keys it
// could not, by connection.
func (kr *keyring) rewrapKeyStore(ctx context.Context) (int, []error, error) {
	rows, err := kr.ks.ConnectionList(ctx, "")
	if err != nil {
		return 0, nil, fmt.Errorf("reading the data key store: %w", err)
	}
	n := 0
	var errs []error
	for _, row := range rows {
		if kr.master.sealedWithFirst(row.DataKey) {
			continue
		}
		var meta keyRowMeta
		if err := json.Unmarshal(row.Metadata, &meta); err != nil || meta.Connection == "" {
			errs = append(errs, fmt.Errorf("data key %q of %q in the data key store names no connection", row.ID, row.Integration))
			continue
		}
		aad := dataKeyAAD(row.Integration, meta.Connection)
		_, err := kr.ks.ConnectionUpdate(ctx, row.Integration, row.ID, func(c *store.Connection) error {
			if kr.master.sealedWithFirst(c.DataKey) {
				return nil
			}
			key, err := kr.master.open(c.DataKey, aad)
			if err != nil {
				return err
			}
			c.DataKey, err = kr.master.seal(key, aad)
			return err
		})
		if errors.Is(err, store.ErrNotFound) {
			continue // its connection was deleted meanwhile
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("connection %q of %q: its data key in the data key store: %w", meta.Connection, row.Integration, err))
			continue
		}
		n++
	}
	return n, errs, nil
}

// sandboxKeys is the key store of a dry run: it reads through to the engine's key store and
// keeps its own writes, so that a dry run writes no key.
type sandboxKeys struct {
	base store.Connections

	mu   sync.Mutex
	rows map[[2]string]*store.Connection // nil value: deleted in the sandbox
}

var _ store.Connections = (*sandboxKeys)(nil)

func newSandboxKeys(base store.Connections) store.Connections {
	if base == nil {
		return nil
	}
	return &sandboxKeys{base: base, rows: map[[2]string]*store.Connection{}}
}

func cloneConn(c *store.Connection) *store.Connection {
	cp := *c
	cp.Metadata, cp.Credentials, cp.DataKey = bytes.Clone(c.Metadata), bytes.Clone(c.Credentials), bytes.Clone(c.DataKey)
	cp.WebhookURLs = slices.Clone(c.WebhookURLs)
	return &cp
}

func (s *sandboxKeys) ConnectionGet(ctx context.Context, integration, id string) (*store.Connection, error) {
	s.mu.Lock()
	c, ok := s.rows[[2]string{integration, id}]
	s.mu.Unlock()
	switch {
	case ok && c == nil:
		return nil, store.ErrNotFound
	case ok:
		return cloneConn(c), nil
	}
	return s.base.ConnectionGet(ctx, integration, id)
}

func (s *sandboxKeys) ConnectionList(ctx context.Context, integration string) ([]*store.Connection, error) {
	return nil, errors.New("nango: a dry run does not list data keys")
}

func (s *sandboxKeys) ConnectionPut(ctx context.Context, c *store.Connection) error {
	s.mu.Lock()
	s.rows[[2]string{c.Integration, c.ID}] = cloneConn(c)
	s.mu.Unlock()
	return nil
}

func (s *sandboxKeys) ConnectionUpdate(ctx context.Context, integration, id string, update func(*store.Connection) error) (*store.Connection, error) {
	c, err := s.ConnectionGet(ctx, integration, id)
	if err != nil {
		return nil, err
	}
	if err := store.ApplyConnectionUpdate(c, update); err != nil {
		return nil, err
	}
	return c, s.ConnectionPut(ctx, c)
}

func (s *sandboxKeys) ConnectionDelete(ctx context.Context, integration, id string) error {
	if _, err := s.ConnectionGet(ctx, integration, id); err != nil {
		return err
	}
	s.mu.Lock()
	s.rows[[2]string{integration, id}] = nil
	s.mu.Unlock()
	return nil
}
