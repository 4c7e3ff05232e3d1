package ui_test

import (
	"bytes"
	"context"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/gonango/nango/ui"
)

// sealedDashboard is the dashboard, at the returned URL, over an engine with cfg on st with
// the crm integration registered.
func sealedDashboard(t *testing.T, st store.Store, cfg *nango.Config, src *source, logger *slog.Logger) (*nango.Engine, string) {
	t.Helper()
	eng, err := nango.NewEngine(st, cfg)
	require.NoError(t, err)
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{
		{Name: "contacts", Frequency: "every hour", ManualStart: true, Models: []nango.Model{{Name: "Contact"}}, Sync: nango.SyncFunc(src.contactsSync)},
	}}))
	h, err := ui.New(eng, &ui.Config{SecretKeys: []string{secret}, Logger: logger})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/ui/", http.StripPrefix("/ui", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return eng, srv.URL + "/ui"
}

// With Config.EncryptionKeys, the records page and the record page show the payloads in the
// clear while the bbolt file holds them sealed; over an engine without the key the pages
// answer a 500 that says why, with nothing of the sealed bytes.
func TestRecordsEncrypted(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ui.db")
	st, err := bolt.Open(path, nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	key := bytes.Repeat([]byte{6}, nango.EncryptionKeySize)
	discard := slog.New(slog.DiscardHandler)
	src := &source{contacts: contacts(3, "Ada Lovelace")}
	eng, base := sealedDashboard(t, st, &nango.Config{Logger: discard, EncryptionKeys: [][]byte{key}}, src, discard)
	require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: "crm", ID: "acme"}))
	_, err = eng.RunSync(context.Background(), "crm", "contacts", "acme", nil)
	require.NoError(t, err)

	auth := []string{"Authorization", "Bearer " + secret}
	c := browser(t)
	resp, body := get(t, c, base+"/r/crm/acme/Contact", auth...)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Equal(t, []string{"001", "002", "003"}, ids(body))
	require.Contains(t, html.UnescapeString(body), "Ada Lovelace 2")
	resp, body = get(t, c, base+"/r/crm/acme/Contact/record?id=002", auth...)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, html.UnescapeString(body), `"name": "Ada Lovelace 2"`)
	require.Contains(t, html.UnescapeString(body), `"email": "c2@example.com"`)

	file, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, clear := range []string{"Ada Lovelace", "c2@example.com", `"email"`} {
		require.False(t, bytes.Contains(file, []byte(clear)), "%q is in the store file in the clear", clear)
	}

	// The same store through an engine without the key.
	var logs syncBuffer
	_, base = sealedDashboard(t, st, &nango.Config{Logger: discard}, &source{}, slog.New(slog.NewTextHandler(&logs, nil)))
	const why = "The stored data is encrypted and the service has no key to decrypt it: it must be started with its encryption key (Config.EncryptionKeys)."
	for _, page := range []string{"/r/crm/acme/Contact", "/r/crm/acme/Contact/record?id=002"} {
		resp, body = get(t, c, base+page, auth...)
		require.Equal(t, http.StatusInternalServerError, resp.StatusCode, page)
		require.Contains(t, html.UnescapeString(body), why, page)
		require.NotContains(t, body, "Ada", page)
		require.NotContains(t, body, "\x00NE1", page)
	}
	require.Contains(t, logs.String(), nango.ErrNoEncryptionKey.Error(), "the log says which value")
	require.Contains(t, logs.String(), "crm/acme/Contact")
	// The overview shows each sync's checkpoint, which is sealed too: it says the same.
	resp, body = get(t, c, base+"/", auth...)
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	require.Contains(t, html.UnescapeString(body), why)
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Clone(b.buf.String())
}
