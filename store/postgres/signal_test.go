package postgres_test

import (
	"testing"
	"time"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/postgres"
	"github.com/stretchr/testify/require"
)

// recv waits for one signal; the bound only keeps a broken store from hanging the test.
func recv(t *testing.T, ch <-chan store.Signal) store.Signal {
	t.Helper()
	select {
	case sig, ok := <-ch:
		require.True(t, ok, "signal channel closed")
		return sig
	case <-time.After(30 * time.Second):
		t.Fatal("no signal received")
		return store.Signal{}
	}
}

// TestSignalsAcrossReplicas: a signal sent on one replica's store (its own pool) reaches the
// receivers of another on the same schema, and not those of another schema.
func TestSignalsAcrossReplicas(t *testing.T) {
	a := newStore(t, nil)
	defer a.Close()
	b, err := postgres.Open(t.Context(), testURL(t), &postgres.Options{Schema: a.Schema()})
	require.NoError(t, err)
	defer b.Close()
	other := newStore(t, nil)
	defer other.Close()

	fromA, err := b.Signals(t.Context())
	require.NoError(t, err)
	deaf, err := other.Signals(t.Context())
	require.NoError(t, err)
	sig := store.Signal{Kind: store.SignalSchedule, Integration: "crm", Connection: "acme", Sync: "contacts", Origin: "replica-a"}
	require.NoError(t, a.Signal(t.Context(), sig))
	require.Equal(t, sig, recv(t, fromA))
	// other hears its own signal only: a's did not reach it before.
	own := store.Signal{Kind: store.SignalConnection, Integration: "crm", Connection: "x"}
	require.NoError(t, other.Signal(t.Context(), own))
	require.Equal(t, own, recv(t, deaf))
}

// TestSignalsReconnect: when the server drops the listening connection, the store connects
// again and signals flow again.
func TestSignalsReconnect(t *testing.T) {
	s := newStore(t, nil)
	defer s.Close()
	ch, err := s.Signals(t.Context())
	require.NoError(t, err)
	sig := store.Signal{Kind: store.SignalTrigger, Integration: "crm", Connection: "acme", Sync: "contacts"}
	require.NoError(t, s.Signal(t.Context(), sig))
	require.Equal(t, sig, recv(t, ch))

	var killed int
	require.NoError(t, pool(t).QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'nango-signals' AND query LIKE '%' || $1 || '%'`, s.SignalChannel()).Scan(&killed))
	require.GreaterOrEqual(t, killed, 1)
	// Signals sent while it reconnects may be lost: send until one arrives, a bounded number
	// of times.
	for i := 0; ; i++ {
		require.Less(t, i, 300, "no signal after the reconnection")
		require.NoError(t, s.Signal(t.Context(), sig))
		select {
		case got, ok := <-ch:
			require.True(t, ok, "the channel stays open across the reconnection")
			require.Equal(t, sig, got)
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestSignalsAfterClose: a closed store neither sends nor listens, and its receivers'
// channels are closed.
func TestSignalsAfterClose(t *testing.T) {
	s := newStore(t, nil)
	ch, err := s.Signals(t.Context())
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.ErrorIs(t, s.Signal(t.Context(), store.Signal{Kind: store.SignalConnection, Integration: "i"}), store.ErrClosed)
	_, err = s.Signals(t.Context())
	require.ErrorIs(t, err, store.ErrClosed)
	for range ch { // drained, then closed
	}
}
