package nango

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/postgres"
	"github.com/stretchr/testify/require"
)

// TestDataKeyMadeOnce on PostgreSQL, through real first writes: engines with their own pools on
// one schema each run a sync of theirs on a connection that has no data key yet, all at once.
// The connection ends with one data key, every payload and checkpoint is sealed with it, and
// every engine reads what the others wrote.
func TestDataKeyMadeOnceOnPostgres(t *testing.T) {
	url := os.Getenv("NANGO_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("NANGO_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against (e.g. postgres://postgres@127.0.0.1:5432/test)")
	}
	t.Parallel()
	schema := fmt.Sprintf("datakey_%d_%d", os.Getpid(), time.Now().UnixNano())
	const engines, rounds = 4, 3
	stores := make([]*postgres.Store, engines)
	for i := range stores {
		// One after the other: the first creates the schema.
		st, err := postgres.Open(t.Context(), url, &postgres.Options{Schema: schema})
		require.NoError(t, err)
		stores[i] = st
	}
	t.Cleanup(func() {
		_, _ = stores[0].Pool().Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		for _, st := range stores {
			st.Close()
		}
	})

	master := bytes.Repeat([]byte{9}, EncryptionKeySize)
	syncs := make([]SyncConfig, engines)
	for i := range syncs {
		model := fmt.Sprintf("Item%d", i)
		syncs[i] = SyncConfig{Name: fmt.Sprintf("items-%d", i), Frequency: "every day", ManualStart: true, Models: []Model{{Name: model}},
			Sync: SyncFunc(func(ctx context.Context, n *Nango) error {
				items := make([]map[string]string, 20)
				for j := range items {
					items[j] = map[string]string{"id": fmt.Sprintf("%d", j), "secret": fmt.Sprintf("secret %d of %s on %s", j, model, n.ConnectionID())}
				}
				return n.BatchSave(ctx, items, model, WithCheckpoint(map[string]string{"page": "secret page of " + model}))
			})}
	}
	engs := make([]*Engine, engines)
	for i, st := range stores {
		e, err := NewEngine(st, &Config{EncryptionKeys: [][]byte{master}, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		require.NoError(t, e.RegisterIntegration(Integration{Key: "crm", Syncs: syncs}))
		engs[i] = e
	}

	for round := range rounds {
		conn := fmt.Sprintf("acme-%d", round)
		require.NoError(t, engs[0].AddConnection(t.Context(), Connection{Integration: "crm", ID: conn}))
		c, err := stores[0].ConnectionGet(t.Context(), "crm", conn)
		require.NoError(t, err)
		require.Empty(t, c.DataKey, "no data key before the first write")

		start := make(chan struct{})
		errs := make([]error, engines)
		var wg sync.WaitGroup
		for i, e := range engs {
			wg.Go(func() {
				<-start
				_, errs[i] = e.RunSync(t.Context(), "crm", syncs[i].Name, conn, nil)
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "engine %d, %s", i, conn)
		}

		// One data key: the connection's, and it sealed every payload and checkpoint.
		c, err = stores[0].ConnectionGet(t.Context(), "crm", conn)
		require.NoError(t, err)
		require.True(t, sealed(c.DataKey), "the stored data key is wrapped")
		dk, err := engs[0].keys.unwrap("crm", conn, c.DataKey)
		require.NoError(t, err)
		for i := range engines {
			stream := store.Stream{Integration: "crm", Connection: conn, Model: fmt.Sprintf("Item%d", i)}
			res, err := stores[0].RecordsList(t.Context(), &store.RecordsListParams{Stream: stream, Limit: store.MaxListLimit})
			require.NoError(t, err)
			require.Len(t, res.Records, 20)
			for _, r := range res.Records {
				require.True(t, dk.owns(r.Data), "record %s of %s is sealed with another key than the connection's", r.ID, stream)
			}
			cp, err := stores[0].CheckpointGet(t.Context(), store.CheckpointKey{Integration: "crm", Sync: syncs[i].Name, Connection: conn})
			require.NoError(t, err)
			v, ok, err := checkpointSealed(cp.Data)
			require.NoError(t, err)
			require.True(t, ok, "the checkpoint of %s is sealed", syncs[i].Name)
			require.True(t, dk.owns(v), "the checkpoint of %s is sealed with another key than the connection's", syncs[i].Name)
		}

		// Each engine reads what every engine wrote.
		for j, e := range engs {
			for i := range engines {
				model := fmt.Sprintf("Item%d", i)
				page, err := e.ListRecords(t.Context(), ListRecordsParams{Integration: "crm", Connection: conn, Model: model, Limit: 100})
				require.NoError(t, err, "engine %d reading %s", j, model)
				require.Len(t, page.Records, 20)
				for _, r := range page.Records {
					require.JSONEq(t, fmt.Sprintf(`{"id":%q,"secret":"secret %s of %s on %s"}`, r.ID, r.ID, model, conn), string(r.Data))
				}
				var cp map[string]string
				found, err := e.GetCheckpoint(t.Context(), "crm", syncs[i].Name, conn, &cp)
				require.NoError(t, err, "engine %d reading the checkpoint of %s", j, syncs[i].Name)
				require.True(t, found)
				require.Equal(t, "secret page of "+model, cp["page"])
			}
		}
	}
}
