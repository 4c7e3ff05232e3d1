package nango

import (
	"bytes"
	"sync"
	"testing"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/memory"
	"github.com/stretchr/testify/require"
)

// Engines sharing a store that make a connection's data key at the same moment agree on one.
func TestDataKeyMadeOnce(t *testing.T) {
	t.Parallel()
	st := memory.New()
	t.Cleanup(func() { st.Close() })
	require.NoError(t, st.ConnectionPut(t.Context(), &store.Connection{Integration: "crm", ID: "acme"}))
	master := bytes.Repeat([]byte{9}, EncryptionKeySize)
	const engines = 8
	keys := make([]*dataKey, engines)
	var wg sync.WaitGroup
	for i := range engines {
		e, err := NewEngine(st, &Config{EncryptionKeys: [][]byte{master}})
		require.NoError(t, err)
		wg.Go(func() {
			dk, err := e.keys.dataKey(t.Context(), "crm", "acme", true)
			if err == nil {
				keys[i] = dk
			}
		})
	}
	wg.Wait()
	for i, dk := range keys {
		require.NotNil(t, dk, "engine %d", i)
		require.Equal(t, keys[0].s.keys[0].id, dk.s.keys[0].id, "engine %d has another key", i)
		require.Equal(t, keys[0].hash([]byte(`{"id":"1"}`)), dk.hash([]byte(`{"id":"1"}`)))
	}
	c, err := st.ConnectionGet(t.Context(), "crm", "acme")
	require.NoError(t, err)
	require.True(t, sealed(c.DataKey), "the stored data key is wrapped")
	require.NotContains(t, string(c.DataKey), "crm")

	_, err = keys[0].s.open(c.DataKey, dataKeyAAD("crm", "acme"))
	require.Error(t, err, "the master key wraps it, not itself")
	dk, err := NewEngine(st, &Config{EncryptionKeys: [][]byte{master}})
	require.NoError(t, err)
	got, err := dk.keys.dataKey(t.Context(), "crm", "other", true)
	require.ErrorIs(t, err, ErrUnknownConnection)
	require.Nil(t, got)
}

// The cost of sealing one record of about 400 bytes: its keyed hash and its seal, then its
// opening on a read.
func BenchmarkRecordCodec(b *testing.B) {
	dk, err := newDataKey(bytes.Repeat([]byte{3}, EncryptionKeySize))
	require.NoError(b, err)
	c := &recordCodec{dk: dk, stream: store.Stream{Integration: "crm", Connection: "acme-prod", Model: "Contact"}}
	payload := []byte(`{"id":"0123456789","email":"ada@example.com","name":"Ada Lovelace","company":"Analytical Engines Ltd","phone":"+44 20 7946 0000","address":{"street":"12 St James's Square","city":"London","zip":"SW1Y 4JH","country":"GB"},"tags":["vip","engineering","founder"],"owner":"u-42","created_at":"2025-01-01T10:30:00Z","updated_at":"2025-06-01T08:00:00Z","score":97}`)
	b.Run("hash", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			c.Hash(payload)
		}
	})
	b.Run("hash-xxhash", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			store.Hash(payload)
		}
	})
	b.Run("seal", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			if _, err := c.Seal("0123456789", payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	sealedPayload, err := c.Seal("0123456789", payload)
	require.NoError(b, err)
	b.Run("open", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			if _, err := c.Open("0123456789", sealedPayload); err != nil {
				b.Fatal(err)
			}
		}
	})
}
