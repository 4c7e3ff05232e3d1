package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
	"github.com/stretchr/testify/require"
)

// newStoreFile writes a store file as a service would leave it: one sync run with a
// checkpoint.
func newStoreFile(t *testing.T, keys ...[]byte) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "syncs.db")
	st, err := bolt.Open(path, nil)
	require.NoError(t, err)
	eng, err := nango.NewEngine(st, &nango.Config{EncryptionKeys: keys})
	require.NoError(t, err)
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
		Name: "contacts", Models: []nango.Model{{Name: "Contact"}},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			recs := []map[string]string{{"id": "1", "name": "Ada"}, {"id": "2", "name": "Bob"}}
			return n.BatchSave(ctx, recs, "Contact", nango.WithCheckpoint(map[string]string{"since": "2025-01-01"}))
		}),
	}}}))
	require.NoError(t, eng.AddConnection(ctx, nango.Connection{Integration: "crm", ID: "acme"}))
	_, err = eng.RunSync(ctx, "crm", "contacts", "acme", nil)
	require.NoError(t, err)
	require.NoError(t, st.Close())
	return path
}

func runCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestInspect(t *testing.T) {
	t.Parallel()
	path := newStoreFile(t)
	key := []string{"-integration", "crm", "-sync", "contacts", "-connection", "acme"}

	out, errOut, code := runCmd(t, "-store", path, "records", "-i", "crm", "-c", "acme", "-m", "Contact")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, `{"id":"1","name":"Ada"}`)
	require.Contains(t, out, "2 records; end of the feed")

	out, _, code = runCmd(t, append([]string{"-store", "bolt://" + path, "history"}, key...)...)
	require.Equal(t, 0, code)
	require.Regexp(t, `run_\S+\s+manual\s+success`, out)

	out, _, code = runCmd(t, append([]string{"-store", path, "status"}, key...)...)
	require.Equal(t, 0, code)
	require.Regexp(t, `contacts\s+acme\s+SUCCESS\s+-\s+-\s+\S+ \S+\s+success\s+Contact=2\s+\{"since":"2025-01-01"\}`, out)

	out, _, code = runCmd(t, append([]string{"-store", path, "checkpoint", "show"}, key...)...)
	require.Equal(t, 0, code)
	require.Contains(t, out, `"since": "2025-01-01"`)

	_, errOut, code = runCmd(t, append([]string{"-store", path, "checkpoint", "clear"}, key...)...)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "-yes")
	out, errOut, code = runCmd(t, append(append([]string{"-store", path, "checkpoint", "clear"}, key...), "-yes")...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "cleared the checkpoint")
	out, _, _ = runCmd(t, append([]string{"-store", path, "checkpoint", "show"}, key...)...)
	require.Contains(t, out, "no checkpoint")
}

// A store of a service with an encryption key: the command reads it with NANGO_ENCRYPTION_KEY,
// and says what to set without it.
func TestInspectEncrypted(t *testing.T) {
	key := bytes.Repeat([]byte{7}, nango.EncryptionKeySize)
	path := newStoreFile(t, key)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NotContains(t, string(raw), "Ada", "the payloads are encrypted")
	sync := []string{"-integration", "crm", "-sync", "contacts", "-connection", "acme"}

	t.Setenv("NANGO_ENCRYPTION_KEY", "")
	_, errOut, code := runCmd(t, "-store", path, "records", "-i", "crm", "-c", "acme", "-m", "Contact")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "NANGO_ENCRYPTION_KEY")
	_, errOut, code = runCmd(t, append([]string{"-store", path, "checkpoint", "show"}, sync...)...)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "NANGO_ENCRYPTION_KEY")

	t.Setenv("NANGO_ENCRYPTION_KEY", "not base64!")
	_, errOut, code = runCmd(t, "-store", path, "records", "-i", "crm", "-c", "acme", "-m", "Contact")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "32 bytes in base64")

	t.Setenv("NANGO_ENCRYPTION_KEY", base64.StdEncoding.EncodeToString(key))
	out, errOut, code := runCmd(t, "-store", path, "records", "-i", "crm", "-c", "acme", "-m", "Contact")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, `{"id":"1","name":"Ada"}`)
	out, errOut, code = runCmd(t, append([]string{"-store", path, "checkpoint", "show"}, sync...)...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, `"since": "2025-01-01"`)
	out, errOut, code = runCmd(t, append([]string{"-store", path, "status"}, sync...)...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, `{"since":"2025-01-01"}`)
}

func TestStoreOpening(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "typo.db")
	_, errOut, code := runCmd(t, "-store", missing, "records", "-i", "crm", "-c", "acme", "-m", "Contact")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "no store file at "+missing)
	_, err := os.Stat(missing)
	require.ErrorIs(t, err, os.ErrNotExist, "a missing file is not created")

	_, errOut, code = runCmd(t, "-timeout", "2s", "-db", "postgres://nobody@127.0.0.1:1/test", "status", "-i", "crm")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "postgres: connecting")
	_, errOut, code = runCmd(t, "-db", missing, "status", "-i", "crm")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "want a postgres:// URL")
	_, errOut, code = runCmd(t, "-store", missing, "-db", "postgres://127.0.0.1/test", "status", "-i", "crm")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "both name the store")
	_, errOut, code = runCmd(t, "-store", "mysql://x", "status", "-i", "crm")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, `unknown store "mysql://"`)

	_, errOut, code = runCmd(t, "status", "-i", "crm")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "name the store with -store, -db or NANGO_STORE")
	_, errOut, code = runCmd(t, "-store", "x.db", "trigger", "-i", "crm")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "mount package cli in your service's binary")
	_, errOut, code = runCmd(t)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "usage: nango [-store PATH | -db URL")
	require.Contains(t, errOut, "records     list records")
	_, _, code = runCmd(t, "help")
	require.Equal(t, 0, code)

	// A store held by another process: its lock on a descriptor of its own.
	path := newStoreFile(t)
	held, err := os.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = held.Close() })
	require.NoError(t, syscall.Flock(int(held.Fd()), syscall.LOCK_EX|syscall.LOCK_NB))
	_, errOut, code = runCmd(t, "-store", path, "-timeout", "1ms", "status", "-i", "crm")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "the service has it open")
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	path := newStoreFile(t)
	st, err := openStore(path, &openOptions{})
	require.NoError(t, err)
	defer st.Close()
	ctx := t.Context()
	key := store.CheckpointKey{Integration: "crm", Sync: "contacts", Connection: "acme"}
	_, err = st.CheckpointGet(ctx, key)
	require.NoError(t, err, "reads work")
	require.ErrorIs(t, st.CheckpointDelete(ctx, &store.CheckpointDeleteParams{Key: key, ExpectedVersion: store.AnyVersion}), errReadOnly)
	_, err = st.RecordsWrite(ctx, &store.RecordsWriteParams{})
	require.ErrorIs(t, err, errReadOnly)
	require.ErrorIs(t, st.RunInsert(ctx, &store.Run{}), errReadOnly)
	_, err = st.LeaseAcquire(ctx, &store.LeaseAcquireParams{})
	require.ErrorIs(t, err, errReadOnly)
	_, err = st.CheckpointGet(ctx, key)
	require.NoError(t, err, "nothing was deleted")
}

// A service that keeps its data keys in a store of their own (Config.DataKeyStore): the
// command reads its records with -key-store, and says what is missing without it.
func TestInspectWithKeyStore(t *testing.T) {
	ctx := context.Background()
	key := bytes.Repeat([]byte{8}, nango.EncryptionKeySize)
	dir := t.TempDir()
	path, keysPath := filepath.Join(dir, "syncs.db"), filepath.Join(dir, "keys.db")
	st, err := bolt.Open(path, nil)
	require.NoError(t, err)
	ks, err := bolt.Open(keysPath, nil)
	require.NoError(t, err)
	eng, err := nango.NewEngine(st, &nango.Config{EncryptionKeys: [][]byte{key}, DataKeyStore: ks})
	require.NoError(t, err)
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
		Name: "contacts", Models: []nango.Model{{Name: "Contact"}},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			return n.BatchSave(ctx, []map[string]string{{"id": "1", "name": "Ada"}}, "Contact")
		}),
	}}}))
	require.NoError(t, eng.AddConnection(ctx, nango.Connection{Integration: "crm", ID: "acme"}))
	_, err = eng.RunSync(ctx, "crm", "contacts", "acme", nil)
	require.NoError(t, err)
	require.NoError(t, st.Close())
	require.NoError(t, ks.Close())

	records := []string{"-store", path, "records", "-i", "crm", "-c", "acme", "-m", "Contact"}
	t.Setenv("NANGO_ENCRYPTION_KEY", base64.StdEncoding.EncodeToString(key))
	t.Setenv("NANGO_KEY_STORE", "")
	_, errOut, code := runCmd(t, records...)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "key store", "without the key store, the error names it")

	out, errOut, code := runCmd(t, append([]string{"-key-store", keysPath}, records...)...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, `{"id":"1","name":"Ada"}`)
	t.Setenv("NANGO_KEY_STORE", keysPath)
	out, errOut, code = runCmd(t, records...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, `{"id":"1","name":"Ada"}`)

	_, errOut, code = runCmd(t, append([]string{"-key-store", path}, records...)...)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "-key-store names the store itself")
	_, errOut, code = runCmd(t, append([]string{"-key-store", filepath.Join(dir, "typo.db")}, records...)...)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "the data key store: no store file at")
	t.Setenv("NANGO_ENCRYPTION_KEY", "")
	_, errOut, code = runCmd(t, records...)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "set NANGO_ENCRYPTION_KEY too")
}
