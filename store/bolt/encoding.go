package bolt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/gonango/nango/store"
	bbolt "go.etcd.io/bbolt"
)

// This file holds every value encoding of the store (see the layout in the package doc). The
// byte offsets of a value appear only in its encode and decode functions below; the rest of the
// package goes through them.

// streamState is the "m" value of a stream bucket: epoch(4) last change time(8) live(8)
// deleted(8).
type streamState struct {
	epoch    uint32
	lastTime uint64
	live     uint64
	deleted  uint64
}

const stateLen = 28

func readState(b *bbolt.Bucket) streamState {
	v := b.Get(keyState)
	if len(v) != stateLen {
		return streamState{}
	}
	return streamState{
		epoch:    binary.BigEndian.Uint32(v[0:4]),
		lastTime: binary.BigEndian.Uint64(v[4:12]),
		live:     binary.BigEndian.Uint64(v[12:20]),
		deleted:  binary.BigEndian.Uint64(v[20:28]),
	}
}

func (st streamState) put(b *bbolt.Bucket) error {
	v := make([]byte, stateLen)
	binary.BigEndian.PutUint32(v[0:4], st.epoch)
	binary.BigEndian.PutUint64(v[4:12], st.lastTime)
	binary.BigEndian.PutUint64(v[12:20], st.live)
	binary.BigEndian.PutUint64(v[20:28], st.deleted)
	return b.Put(keyState, v)
}

// Index entry: seq(8) hash(8) flags(1).
const (
	indexLen    = 17
	flagDeleted = 1
	flagPruned  = 2
)

type indexEntry struct {
	seq     uint64
	hash    uint64
	deleted bool
	// pruned is set when the record's log entry has no payload (RecordsPrune).
	pruned bool
}

// decodeIndex decodes an index value, which must be indexLen bytes long.
func decodeIndex(v []byte) indexEntry {
	return indexEntry{seq: binary.BigEndian.Uint64(v[0:8]), hash: binary.BigEndian.Uint64(v[8:16]),
		deleted: v[16]&flagDeleted != 0, pruned: v[16]&flagPruned != 0}
}

// isLiveIndex reports whether v is a well-formed index value of a live record.
func isLiveIndex(v []byte) bool { return len(v) == indexLen && v[16]&flagDeleted == 0 }

// put writes the entry to v, indexLen bytes long.
func (e indexEntry) put(v []byte) {
	binary.BigEndian.PutUint64(v[0:8], e.seq)
	binary.BigEndian.PutUint64(v[8:16], e.hash)
	v[16] = 0
	if e.deleted {
		v[16] |= flagDeleted
	}
	if e.pruned {
		v[16] |= flagPruned
	}
}

// pruneMark reads a stream's prune mark: every log entry up to this sequence has no payload.
func pruneMark(root *bbolt.Bucket) uint64 {
	v := root.Get(keyPruneMark)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// Log entry: version(1) action(1) first_seen(8) last_modified(8) deleted_at(8) pruned_at(8)
// id length(1) id payload.
const (
	logVersion   = 1
	logHeaderLen = 35
)

type logHeader struct {
	action       store.Action
	firstSeen    uint64
	lastModified uint64
	deletedAt    uint64
	prunedAt     uint64
}

var codeActions = [4]store.Action{"", store.ActionAdded, store.ActionUpdated, store.ActionDeleted}

// putLog writes a log entry to v, logHeaderLen+len(id)+len(payload) bytes long.
func putLog(v []byte, h logHeader, id string, payload []byte) {
	v[0] = logVersion
	v[1] = actionCode(h.action)
	binary.BigEndian.PutUint64(v[2:10], h.firstSeen)
	binary.BigEndian.PutUint64(v[10:18], h.lastModified)
	binary.BigEndian.PutUint64(v[18:26], h.deletedAt)
	binary.BigEndian.PutUint64(v[26:34], h.prunedAt)
	v[34] = byte(len(id))
	copy(v[logHeaderLen:], id)
	copy(v[logHeaderLen+len(id):], payload)
}

func actionCode(a store.Action) byte {
	switch a {
	case store.ActionAdded:
		return 1
	case store.ActionUpdated:
		return 2
	case store.ActionDeleted:
		return 3
	}
	return 0
}

// decodeLog splits a log value; id and payload alias v.
func decodeLog(v []byte) (h logHeader, id, payload []byte, err error) {
	if len(v) < logHeaderLen || v[0] != logVersion || v[1] == 0 || v[1] > 3 {
		return h, nil, nil, damaged("change log", "an entry of %d bytes does not decode", len(v))
	}
	n := int(v[34])
	if len(v) < logHeaderLen+n {
		return h, nil, nil, damaged("change log", "an entry of %d bytes holds an id of %d", len(v), n)
	}
	h = logHeader{
		action:       codeActions[v[1]],
		firstSeen:    binary.BigEndian.Uint64(v[2:10]),
		lastModified: binary.BigEndian.Uint64(v[10:18]),
		deletedAt:    binary.BigEndian.Uint64(v[18:26]),
		prunedAt:     binary.BigEndian.Uint64(v[26:34]),
	}
	return h, v[logHeaderLen : logHeaderLen+n], v[logHeaderLen+n:], nil
}

// logFirstSeen reads only the first_seen time of a log value; ok is false for a value too
// short to be one.
func logFirstSeen(v []byte) (t uint64, ok bool) {
	if len(v) < logHeaderLen {
		return 0, false
	}
	return binary.BigEndian.Uint64(v[2:10]), true
}

// logLastModified reads only the last_modified time of a log value; ok is false for a value
// too short to be one.
func logLastModified(v []byte) (t uint64, ok bool) {
	if len(v) < logHeaderLen {
		return 0, false
	}
	return binary.BigEndian.Uint64(v[10:18]), true
}

func (h logHeader) metadata() store.Metadata {
	return store.Metadata{
		FirstSeenAt:    fromMicros(h.firstSeen),
		LastModifiedAt: fromMicros(h.lastModified),
		DeletedAt:      fromMicros(h.deletedAt),
		PrunedAt:       fromMicros(h.prunedAt),
		LastAction:     h.action,
	}
}

// Checkpoint: version(8) updated_at(8) JSON.
const checkpointHeaderLen = 16

func encodeCheckpoint(cp *store.Checkpoint) []byte {
	v := make([]byte, checkpointHeaderLen+len(cp.Data))
	binary.BigEndian.PutUint64(v[0:8], uint64(cp.Version))
	binary.BigEndian.PutUint64(v[8:16], micros(cp.UpdatedAt))
	copy(v[16:], cp.Data)
	return v
}

// decodeCheckpoint decodes a checkpoint value, copying its data; ok is false for a corrupt one.
func decodeCheckpoint(v []byte) (cp *store.Checkpoint, ok bool) {
	if len(v) < checkpointHeaderLen {
		return nil, false
	}
	return &store.Checkpoint{
		Version:   int64(binary.BigEndian.Uint64(v[0:8])),
		UpdatedAt: fromMicros(binary.BigEndian.Uint64(v[8:16])),
		Data:      bytes.Clone(v[16:]),
	}, true
}

// checkpointVersion reads only the version of a checkpoint value: 0 for none (or corrupt).
func checkpointVersion(v []byte) int64 {
	if len(v) < checkpointHeaderLen {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v[0:8]))
}

// Lease: token(8) expires_at(8) active(1) owner. The value stays after a release (not active)
// so that tokens keep growing.
const leaseHeaderLen = 17

func decodeLease(key store.SyncKey, v []byte) (store.Lease, bool, error) {
	if len(v) < leaseHeaderLen {
		return store.Lease{}, false, damaged(fmt.Sprintf("lease of %s/%s/%s", key.Integration, key.Sync, key.Connection), "%d bytes, shorter than its header", len(v))
	}
	return store.Lease{
		Key:       key,
		Token:     binary.BigEndian.Uint64(v[0:8]),
		ExpiresAt: fromMicros(binary.BigEndian.Uint64(v[8:16])),
		Owner:     string(v[17:]),
	}, v[16] == 1, nil
}

func encodeLease(l store.Lease, active bool) []byte {
	v := make([]byte, leaseHeaderLen+len(l.Owner))
	binary.BigEndian.PutUint64(v[0:8], l.Token)
	binary.BigEndian.PutUint64(v[8:16], micros(l.ExpiresAt))
	if active {
		v[16] = 1
	}
	copy(v[17:], l.Owner)
	return v
}

// deactivatedLease returns a copy of an active lease value marked inactive, or nil when v is
// not an active lease.
func deactivatedLease(v []byte) []byte {
	if len(v) < leaseHeaderLen || v[16] != 1 {
		return nil
	}
	nv := bytes.Clone(v)
	nv[16] = 0
	return nv
}

// Consumer cursor: updated_at(8) cursor.
const consumerHeaderLen = 8

func encodeConsumer(updatedAt time.Time, cursor string) []byte {
	v := make([]byte, consumerHeaderLen+len(cursor))
	binary.BigEndian.PutUint64(v[0:8], micros(updatedAt))
	copy(v[8:], cursor)
	return v
}

// consumerCursor reads only the cursor of a consumer value: "" for none (or corrupt).
func consumerCursor(v []byte) string {
	if len(v) < consumerHeaderLen {
		return ""
	}
	return string(v[8:])
}

func decodeConsumer(k, v []byte) (*store.ConsumerCursor, error) {
	parts := bytes.Split(k, []byte{0})
	if len(parts) != 4 || len(v) < consumerHeaderLen {
		return nil, damaged("consumer cursors", "the cursor at %q does not decode", k)
	}
	return &store.ConsumerCursor{
		Key: store.ConsumerKey{Consumer: string(parts[0]), Stream: store.Stream{
			Integration: string(parts[1]), Connection: string(parts[2]), Model: string(parts[3]),
		}},
		UpdatedAt: fromMicros(binary.BigEndian.Uint64(v[0:8])),
		Cursor:    string(v[8:]),
	}, nil
}

// Outbox due key: next attempt(8) entry id.
const dueKeyHeaderLen = 8

func dueKey(e *store.OutboxEntry) []byte {
	k := make([]byte, dueKeyHeaderLen+len(e.ID))
	binary.BigEndian.PutUint64(k[0:8], micros(e.NextAttemptAt))
	copy(k[8:], e.ID)
	return k
}

// decodeDueKey splits a due key; ok is false for a corrupt one.
func decodeDueKey(k []byte) (due uint64, id string, ok bool) {
	if len(k) < dueKeyHeaderLen {
		return 0, "", false
	}
	return binary.BigEndian.Uint64(k[0:8]), string(k[8:]), true
}
