package api_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/api"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/gonango/nango/store/memory"
)

// sealedFixture is the API over an engine with cfg on st, with the test integration and its
// connections registered.
func sealedFixture(t *testing.T, st store.Store, cfg *nango.Config, logger *slog.Logger) *fixture {
	t.Helper()
	f := &fixture{src: &source{}}
	var err error
	f.eng, err = nango.NewEngine(st, cfg)
	require.NoError(t, err)
	require.NoError(t, f.eng.RegisterIntegration(nango.Integration{Key: integration, Syncs: []nango.SyncConfig{
		{Name: "contacts", Frequency: "every hour", ManualStart: true, Models: []nango.Model{{Name: "Contact"}}, Sync: nango.SyncFunc(f.src.contactsSync)},
	}}))
	h, err := api.New(f.eng, &api.Config{SecretKeys: []string{secret}, Logger: logger})
	require.NoError(t, err)
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

// With Config.EncryptionKeys, GET /records answers the payloads in the clear while the bbolt
// file holds them sealed; an engine without the key answers a 500 that says why, with nothing
// of the sealed bytes.
func TestRecordsEncrypted(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "api.db")
	st, err := bolt.Open(path, nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	key := bytes.Repeat([]byte{4}, nango.EncryptionKeySize)
	discard := slog.New(slog.DiscardHandler)

	f := sealedFixture(t, st, &nango.Config{Logger: discard, EncryptionKeys: [][]byte{key}}, discard)
	require.NoError(t, f.eng.AddConnection(t.Context(), nango.Connection{Integration: integration, ID: "conn-1"}))
	f.src.set([]map[string]any{contact("a", "Ada Lovelace"), contact("b", "Bob Babbage")})
	f.sync(t, "contacts", "conn-1")
	f.src.set(nil, "b")
	f.sync(t, "contacts", "conn-1")

	a := f.records(t, "conn-1", "model=Contact")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	recs := records(a)
	require.Len(t, recs, 2)
	require.Equal(t, map[string]any{"id": "a", "name": "Ada Lovelace", "email": "ada lovelace@example.com", "_nango_metadata": meta(recs[0])}, recs[0])
	require.Equal(t, "Bob Babbage", recs[1]["name"], "a deleted record's payload opens too")
	require.Equal(t, "DELETED", meta(recs[1])["last_action"])
	a = f.records(t, "conn-1", "model=Contact&ids=b")
	require.Equal(t, []string{"b"}, ids(a), a.raw)

	file, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, clear := range []string{"Ada Lovelace", "Bob Babbage", "lovelace@example.com", `"email"`} {
		require.False(t, bytes.Contains(file, []byte(clear)), "%q is in the store file in the clear", clear)
	}

	// The same store through an engine without the key.
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	g := sealedFixture(t, st, &nango.Config{Logger: discard, ShutdownTimeout: time.Second}, logger)
	a = g.records(t, "conn-1", "model=Contact")
	requireError(t, a, http.StatusInternalServerError, api.CodeServerError)
	require.Equal(t, "api: the stored data is encrypted and the service has no key to decrypt it: it must be started with its encryption key (Config.EncryptionKeys)", a.message())
	require.Nil(t, a.body["records"])
	require.Contains(t, logs.String(), nango.ErrNoEncryptionKey.Error(), "the log says which value")
	require.Contains(t, logs.String(), "crm/conn-1/Contact")
	// The status shows the checkpoint, which is sealed too: it says the same.
	a = g.do(t, req{method: http.MethodGet, path: "/sync/status?provider_config_key=crm&syncs=*&connection_id=conn-1"})
	requireError(t, a, http.StatusInternalServerError, api.CodeServerError)
	require.Contains(t, a.message(), "the stored data is encrypted")

	// And through an engine with another key, not the one that sealed the store.
	other := bytes.Repeat([]byte{5}, nango.EncryptionKeySize)
	var otherLogs syncBuffer
	h := sealedFixture(t, st, &nango.Config{Logger: discard, ShutdownTimeout: time.Second, EncryptionKeys: [][]byte{other}}, slog.New(slog.NewTextHandler(&otherLogs, nil)))
	a = h.records(t, "conn-1", "model=Contact")
	requireError(t, a, http.StatusInternalServerError, api.CodeServerError)
	require.Contains(t, a.message(), "the stored data is encrypted and the service has no key to decrypt it")
	require.Nil(t, a.body["records"])
	require.Contains(t, otherLogs.String(), "not in Config.EncryptionKeys", "the log says that the key is another one")
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

// Records whose data key is not in the engine's data key store (their connection was deleted,
// or the engine was started with another key store) get a 500 that says so.
func TestRecordsWithoutTheirDataKey(t *testing.T) {
	t.Parallel()
	st, keys := memory.New(), memory.New()
	key := bytes.Repeat([]byte{6}, nango.EncryptionKeySize)
	discard := slog.New(slog.DiscardHandler)
	f := sealedFixture(t, st, &nango.Config{Logger: discard, EncryptionKeys: [][]byte{key}, DataKeyStore: keys}, discard)
	require.NoError(t, f.eng.AddConnection(t.Context(), nango.Connection{Integration: integration, ID: "conn-1"}))
	f.src.set([]map[string]any{contact("a", "Ada Lovelace")})
	f.sync(t, "contacts", "conn-1")
	a := f.records(t, "conn-1", "model=Contact")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Len(t, records(a), 1)

	var logs syncBuffer
	g := sealedFixture(t, st, &nango.Config{Logger: discard, ShutdownTimeout: time.Second, EncryptionKeys: [][]byte{key}, DataKeyStore: memory.New()},
		slog.New(slog.NewTextHandler(&logs, nil)))
	a = g.records(t, "conn-1", "model=Contact")
	requireError(t, a, http.StatusInternalServerError, api.CodeServerError)
	require.Contains(t, a.message(), "data key that is not in the service's data key store")
	require.Nil(t, a.body["records"])
	require.Contains(t, logs.String(), nango.ErrDataKeyNotFound.Error())
}
