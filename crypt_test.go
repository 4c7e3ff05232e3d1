package nango_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/stretchr/testify/require"
)

const apiKey = "sk-live-0123456789abcdef"

// storedPlain is how the bolt store keeps the credentials {"api_key": apiKey} in the clear (the
// connection's JSON holds them in base64).
var storedPlain = base64.StdEncoding.EncodeToString([]byte(`{"api_key":"` + apiKey + `"}`))

// cryptFix is an engine over a bolt file with one integration that authenticates with an API key
// and one sync that makes one request.
type cryptFix struct {
	path string
	srv  *httptest.Server
	got  chan string
}

func newCryptFix(t *testing.T) *cryptFix {
	f := &cryptFix{path: filepath.Join(t.TempDir(), "syncs.db"), got: make(chan string, 16)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.got <- r.Header.Get("Authorization")
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// engine opens the file with keys and registers the integration; the store closes at cleanup.
func (f *cryptFix) engine(t *testing.T, logger *slog.Logger, keys ...[]byte) (*nango.Engine, func()) {
	t.Helper()
	st, err := bolt.Open(f.path, nil)
	require.NoError(t, err)
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	eng, err := nango.NewEngine(st, &nango.Config{Logger: logger, EncryptionKeys: keys})
	require.NoError(t, err)
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "prov", BaseURL: f.srv.URL, Auth: nango.APIKey{},
		Syncs: []nango.SyncConfig{{Name: "s", Models: []nango.Model{nango.ModelOf[item]("Item")}, Frequency: "every day",
			Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
				_, err := n.Request(ctx, &nango.Request{Path: "/x"})
				return err
			})}}}))
	return eng, func() { require.NoError(t, st.Close()) }
}

// run runs the sync for c1 and returns what the provider saw, or the run's error.
func (f *cryptFix) run(t *testing.T, eng *nango.Engine, conn string) (string, error) {
	t.Helper()
	res, err := eng.RunSync(t.Context(), "prov", "s", conn, nil)
	if err != nil {
		return "", err
	}
	if res.State != nango.RunSucceeded {
		return "", nil
	}
	return <-f.got, nil
}

func key(b byte) []byte { return bytes.Repeat([]byte{b}, nango.EncryptionKeySize) }

func TestCredentialsEncryptedAtRest(t *testing.T) {
	t.Parallel()
	f := newCryptFix(t)
	keyA, keyB := key('A'), key('B')

	eng, done := f.engine(t, nil, keyA)
	require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: "prov", ID: "c1", Credentials: &nango.Credentials{APIKey: apiKey}}))
	require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: "prov", ID: "c2", Credentials: &nango.Credentials{APIKey: "other"}}))
	got, err := f.run(t, eng, "c1")
	require.NoError(t, err)
	require.Equal(t, "Bearer "+apiKey, got)
	done()
	data, err := os.ReadFile(f.path)
	require.NoError(t, err)
	require.False(t, bytes.Contains(data, []byte(apiKey)), "the file holds no credential in the clear")
	require.False(t, bytes.Contains(data, []byte(storedPlain)), "nor as the store encodes it")

	// Without the key, or with another one, the credentials cannot be read, and the run says so.
	for _, keys := range [][][]byte{nil, {keyB}} {
		eng, done := f.engine(t, nil, keys...)
		_, err := f.run(t, eng, "c1")
		require.Error(t, err)
		require.Contains(t, err.Error(), "Config.EncryptionKeys")
		require.NotContains(t, err.Error(), apiKey)
		done()
	}

	// A sealed value copied to another connection does not open there.
	st, err := bolt.Open(f.path, nil)
	require.NoError(t, err)
	c1, err := st.ConnectionGet(t.Context(), "prov", "c1")
	require.NoError(t, err)
	c2, err := st.ConnectionGet(t.Context(), "prov", "c2")
	require.NoError(t, err)
	c2.Credentials = c1.Credentials
	require.NoError(t, st.ConnectionPut(t.Context(), c2))
	require.NoError(t, st.Close())
	eng, done = f.engine(t, nil, keyA)
	_, err = f.run(t, eng, "c2")
	require.ErrorContains(t, err, "belongs to another connection")
	done()

	// Rotation: the new key first, the old one still opens; re-encrypting lets the old one go.
	eng, done = f.engine(t, nil, keyB, keyA)
	got, err = f.run(t, eng, "c1")
	require.NoError(t, err)
	require.Equal(t, "Bearer "+apiKey, got)
	n, err := eng.ReencryptCredentials(t.Context())
	require.ErrorContains(t, err, `connection "c2" of "prov"`, "the copied value is reported, without stopping the others")
	require.Equal(t, 1, n)
	require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: "prov", ID: "c2", Credentials: &nango.Credentials{APIKey: "other"}}))
	n, err = eng.ReencryptCredentials(t.Context())
	require.NoError(t, err)
	require.Equal(t, 0, n, "nothing left to re-encrypt")
	done()
	eng, done = f.engine(t, nil, keyB)
	got, err = f.run(t, eng, "c1")
	require.NoError(t, err)
	require.Equal(t, "Bearer "+apiKey, got)
	done()
}

func TestPlaintextCredentialsReencrypted(t *testing.T) {
	t.Parallel()
	f := newCryptFix(t)
	eng, done := f.engine(t, nil)
	require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: "prov", ID: "c1", Credentials: &nango.Credentials{APIKey: apiKey}}))
	done()
	data, err := os.ReadFile(f.path)
	require.NoError(t, err)
	require.True(t, bytes.Contains(data, []byte(storedPlain)), "without a key, in the clear")

	eng, done = f.engine(t, nil, key('A'))
	got, err := f.run(t, eng, "c1")
	require.NoError(t, err, "credentials stored before the key stay readable")
	require.Equal(t, "Bearer "+apiKey, got)
	n, err := eng.ReencryptCredentials(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, n)
	done()
	st, err := bolt.Open(f.path, nil)
	require.NoError(t, err)
	c, err := st.ConnectionGet(t.Context(), "prov", "c1")
	require.NoError(t, err)
	require.NotContains(t, string(c.Credentials), apiKey, "sealed now")
	require.NoError(t, st.Close())
}

// syncLog collects log lines and calls onLine with each.
type syncLog struct {
	syncBuffer
	onLine func(string)
}

func (l *syncLog) Write(p []byte) (int, error) {
	n, err := l.syncBuffer.Write(p)
	if l.onLine != nil {
		l.onLine(string(p))
	}
	return n, err
}

func TestEncryptionKeysValidated(t *testing.T) {
	t.Parallel()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "x.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	_, err = nango.NewEngine(st, &nango.Config{EncryptionKeys: [][]byte{[]byte("short")}})
	require.ErrorContains(t, err, "encryption key 0 is 5 bytes, want 32 (AES-256)")
	_, err = nango.NewEngine(st, &nango.Config{EncryptionKeys: [][]byte{key('A'), key('A')}})
	require.ErrorContains(t, err, "encryption keys 0 and 1 are the same key")
}

// TestUnencryptedWarning: without keys, Run logs once that credentials are stored in the clear.
func TestUnencryptedWarning(t *testing.T) {
	t.Parallel()
	for _, keys := range [][][]byte{nil, {key('A')}} {
		f := newCryptFix(t)
		var logs syncLog
		eng, done := f.engine(t, slog.New(slog.NewTextHandler(&logs, nil)), keys...)
		ctx, cancel := context.WithCancel(t.Context())
		started := make(chan struct{})
		logs.onLine = func(line string) {
			if strings.Contains(line, "engine started") {
				close(started)
			}
		}
		errc := make(chan error, 1)
		go func() { errc <- eng.Run(ctx) }()
		<-started
		cancel()
		require.NoError(t, <-errc)
		done()
		n := strings.Count(logs.String(), "connection credentials are stored unencrypted")
		if keys == nil {
			require.Equal(t, 1, n, logs.String())
		} else {
			require.Equal(t, 0, n, logs.String())
		}
	}
}

// TestCheckpointsEncryptedAtRest: with a key, checkpoints are sealed in the store and read back
// by the sync, the engine and the status; checkpoints stored before the key stay readable.
func TestCheckpointsEncryptedAtRest(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "syncs.db")
	const marker = "page-token-7f3a9c"
	type cursor struct{ Next string }
	var seen []string // the checkpoints each run found
	open := func(keys ...[]byte) (*nango.Engine, func()) {
		st, err := bolt.Open(path, nil)
		require.NoError(t, err)
		eng, err := nango.NewEngine(st, &nango.Config{Logger: slog.New(slog.DiscardHandler), EncryptionKeys: keys})
		require.NoError(t, err)
		require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "prov", Syncs: []nango.SyncConfig{{
			Name: "s", Models: []nango.Model{nango.ModelOf[item]("Item")}, Frequency: "every day",
			Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
				var c cursor
				if _, err := n.GetCheckpoint(ctx, &c); err != nil {
					return err
				}
				seen = append(seen, c.Next)
				if err := n.BatchSave(ctx, []item{{ID: "1"}}, "Item", nango.WithCheckpoint(cursor{Next: marker + "-batch"})); err != nil {
					return err
				}
				return n.SaveCheckpoint(ctx, cursor{Next: marker})
			}),
		}}}))
		require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: "prov", ID: "c1"}))
		return eng, func() { require.NoError(t, st.Close()) }
	}
	run := func(eng *nango.Engine) {
		res, err := eng.RunSync(t.Context(), "prov", "s", "c1", nil)
		require.NoError(t, err)
		require.Equal(t, nango.RunSucceeded, res.State)
	}

	// In the clear without a key; readable and then sealed once there is one.
	eng, done := open()
	run(eng)
	done()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, bytes.Contains(data, []byte(marker)))

	eng, done = open(key('A'))
	run(eng)
	var c cursor
	ok, err := eng.GetCheckpoint(t.Context(), "prov", "s", "c1", &c)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, marker, c.Next)
	st, err := eng.Status(t.Context(), nango.SyncSelector{Integration: "prov", Syncs: []string{"s"}})
	require.NoError(t, err)
	require.JSONEq(t, `{"Next":"`+marker+`"}`, string(st[0].Checkpoint))
	run(eng)
	require.Equal(t, []string{"", marker, marker}, seen, "each run read the checkpoint of the one before")
	raw, err := eng.Store().CheckpointGet(t.Context(), store.CheckpointKey{Integration: "prov", Sync: "s", Connection: "c1"})
	require.NoError(t, err)
	require.NotContains(t, string(raw.Data), marker)
	require.True(t, json.Valid(raw.Data), "stores keep checkpoints as JSON")
	done()

	// Without the key the sync cannot read it.
	eng, done = open()
	_, err = eng.GetCheckpoint(t.Context(), "prov", "s", "c1", &c)
	require.ErrorContains(t, err, "Config.EncryptionKeys is empty")
	done()
}
