package nango

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/memory"
)

// A deleted connection leaves no HTTP state behind: its credentials, limiter and pause go with
// it, so that the engine's memory does not grow with connections that come and go.
func TestDeletedConnectionDropsItsHTTPState(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	e, err := NewEngine(memory.New(), nil)
	require.NoError(t, err)
	require.NoError(t, e.RegisterIntegration(Integration{
		Key: "api", BaseURL: srv.URL, Auth: APIKey{},
		Syncs: []SyncConfig{{Name: "s", Models: []Model{{Name: "M"}}, Sync: SyncFunc(func(ctx context.Context, n *Nango) error {
			_, err := n.Get(ctx, &Request{Path: "/items"})
			return err
		})}},
	}))
	ctx := t.Context()
	for _, id := range []string{"c1", "c2"} {
		require.NoError(t, e.AddConnection(ctx, Connection{Integration: "api", ID: id, Credentials: &Credentials{APIKey: "key-" + id}}))
		res, err := e.RunSync(ctx, "api", "s", id, nil)
		require.NoError(t, err)
		require.Equal(t, RunSucceeded, res.State, res.Err)
	}
	held := func() []connKey {
		e.http.mu.Lock()
		defer e.http.mu.Unlock()
		var out []connKey
		for k := range e.http.conns {
			out = append(out, k)
		}
		return out
	}
	require.ElementsMatch(t, []connKey{{"api", "c1"}, {"api", "c2"}}, held())
	require.NoError(t, e.DeleteConnection(ctx, "api", "c1"))
	require.Equal(t, []connKey{{"api", "c2"}}, held())
}

// The per-key locks of provider webhook runs exist only while held or waited for.
func TestProviderHookLocksDoNotAccumulate(t *testing.T) {
	h := newProviderHook(nil)
	count := func() int {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.locks)
	}
	ctx := t.Context()
	for i := range 100 {
		unlock, err := h.lock(ctx, store.SyncKey{Integration: "i", Sync: "s", Connection: string(rune('a' + i%26))})
		require.NoError(t, err)
		unlock()
	}
	require.Zero(t, count())

	key := store.SyncKey{Integration: "i", Sync: "s", Connection: "c"}
	unlock, err := h.lock(ctx, key)
	require.NoError(t, err)
	// A waiter that gives up releases its reference; the holder's lock stays.
	wctx, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	_, err = h.lock(wctx, key)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, 1, count())
	unlock()
	require.Zero(t, count())
}

// A token refresh and a metadata update of one connection at the same time never undo each
// other: each writes only its own field, read and written in one step by the store.
func TestCredentialsAndMetadataUpdatesDoNotOverwriteEachOther(t *testing.T) {
	const n = 40
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	e, err := NewEngine(memory.New(), nil)
	require.NoError(t, err)
	i := 0 // the sync sends its requests one at a time; the transport may be rebuilt meanwhile
	refresh := AuthFunc(func(conn *AuthConn, base http.RoundTripper) (http.RoundTripper, error) {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			i++
			if err := conn.SaveCredentials(r.Context(), Credentials{APIKey: fmt.Sprintf("token-%d", i)}); err != nil {
				return nil, err
			}
			return base.RoundTrip(r)
		}), nil
	})
	require.NoError(t, e.RegisterIntegration(Integration{
		Key: "api", BaseURL: srv.URL, Auth: refresh,
		Syncs: []SyncConfig{{Name: "s", Models: []Model{{Name: "M"}}, Sync: SyncFunc(func(ctx context.Context, h *Nango) error {
			for range n {
				if _, err := h.Get(ctx, &Request{Path: "/items"}); err != nil {
					return err
				}
			}
			return nil
		})}},
	}))
	ctx := t.Context()
	require.NoError(t, e.AddConnection(ctx, Connection{Integration: "api", ID: "c1", Metadata: map[string]int{}, Credentials: &Credentials{APIKey: "token-0"}}))
	done := make(chan error, 1)
	go func() {
		for i := range n {
			if err := e.UpdateConnectionMetadata(ctx, "api", "c1", map[string]int{fmt.Sprintf("k%02d", i): i}, true); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	res, err := e.RunSync(ctx, "api", "s", "c1", nil)
	require.NoError(t, err)
	require.Equal(t, RunSucceeded, res.State, res.Err)
	require.NoError(t, <-done)

	sc, err := e.store.ConnectionGet(ctx, "api", "c1")
	require.NoError(t, err)
	creds, err := e.openCredentials("api", "c1", sc.Credentials)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("token-%d", n), creds.APIKey, "the last refreshed token is kept")
	var meta map[string]int
	require.NoError(t, json.Unmarshal(sc.Metadata, &meta))
	require.Len(t, meta, n, "every metadata key is kept")
}
