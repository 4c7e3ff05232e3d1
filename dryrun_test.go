package nango_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/bolt"
)

// fakeAPI serves GET /contacts from a list the test changes between runs, and checks the API key.
type fakeAPI struct {
	mu       sync.Mutex
	contacts []contact
	requests int
}

func (a *fakeAPI) set(cs ...contact) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.contacts = cs
}

func (a *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests++
	if r.URL.Query().Get("api_key") != "sekret-key" {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"contacts": a.contacts})
}

// snapshot is everything a run could change in the store.
type snapshot struct {
	records    []store.Record
	checkpoint *store.Checkpoint
	runs       int
}

func takeSnapshot(t *testing.T, st store.Store) snapshot {
	t.Helper()
	ctx := context.Background()
	res, err := st.RecordsList(ctx, &store.RecordsListParams{Stream: store.Stream{Integration: "crm", Connection: "acme", Model: "Contact"}, Limit: 1000})
	require.NoError(t, err)
	cp, err := st.CheckpointGet(ctx, store.CheckpointKey{Integration: "crm", Sync: "contacts", Connection: "acme"})
	if err != nil {
		require.ErrorIs(t, err, store.ErrNotFound)
	}
	runs, err := st.RunList(ctx, &store.RunListParams{Key: store.SyncKey{Integration: "crm", Sync: "contacts", Connection: "acme"}})
	require.NoError(t, err)
	return snapshot{records: res.Records, checkpoint: cp, runs: len(runs)}
}

func TestDryRunOnBolt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	api := &fakeAPI{}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	st, err := bolt.Open(filepath.Join(t.TempDir(), "syncs.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	eng, err := nango.NewEngine(st, &nango.Config{Logger: quiet})
	require.NoError(t, err)

	var deleteIDs []string // the sync deletes these with BatchDelete when set
	require.NoError(t, eng.RegisterIntegration(nango.Integration{
		Key: "crm", BaseURL: srv.URL, Auth: nango.APIKey{Query: "api_key"},
		Syncs: []nango.SyncConfig{{
			Name: "contacts", TrackDeletes: true,
			Models: []nango.Model{nango.ModelOf[contact]("Contact")},
			Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
				var cp struct{ Runs int }
				if _, err := n.GetCheckpoint(ctx, &cp); err != nil {
					return err
				}
				resp, err := n.Get(ctx, &nango.Request{Path: "/contacts"})
				if err != nil {
					return err
				}
				var page struct{ Contacts []contact }
				if err := resp.Decode(&page); err != nil {
					return err
				}
				cp.Runs++
				if err := n.BatchSave(ctx, page.Contacts, "Contact", nango.WithCheckpoint(cp)); err != nil {
					return err
				}
				if len(deleteIDs) > 0 {
					return n.BatchDelete(ctx, deleteIDs, "Contact")
				}
				return nil
			}),
		}},
	}))
	require.NoError(t, eng.AddConnection(ctx, nango.Connection{Integration: "crm", ID: "acme", Credentials: &nango.Credentials{APIKey: "sekret-key"}}))

	api.set(contact{ID: "1", Name: "Ada"}, contact{ID: "2", Name: "Bob"}, contact{ID: "3", Name: "Cy"}, contact{ID: "4", Name: "Di"})
	_, err = eng.RunSync(ctx, "crm", "contacts", "acme", nil)
	require.NoError(t, err)

	// The provider changes: 1 same, 2 renamed, 3 gone, 4 deleted by the sync itself, 5 new.
	api.set(contact{ID: "1", Name: "Ada"}, contact{ID: "2", Name: "Bobby"}, contact{ID: "4", Name: "Di"}, contact{ID: "5", Name: "Eve"})
	deleteIDs = []string{"4"}
	before := takeSnapshot(t, st)

	var progress []nango.DryRunProgress
	rep, err := eng.DryRun(ctx, "crm", "contacts", "acme", &nango.DryRunOptions{
		Progress: func(p nango.DryRunProgress) { progress = append(progress, p) },
	})
	require.NoError(t, err)
	require.Equal(t, before, takeSnapshot(t, st), "a dry run writes nothing")

	require.Equal(t, nango.RunSucceeded, rep.Run.State)
	m := rep.Models["Contact"]
	require.Equal(t, 1, m.WouldAdd)
	require.Equal(t, 1, m.WouldUpdate)
	require.Equal(t, 2, m.WouldDelete) // 3 by TrackDeletes, 4 by BatchDelete
	require.Equal(t, 1, m.Unchanged)
	require.Equal(t, []nango.DryRunRecord{{ID: "5", Data: json.RawMessage(`{"id":"5","name":"Eve"}`)}}, m.Added)
	require.Equal(t, []nango.DryRunChange{{ID: "2", Before: json.RawMessage(`{"id":"2","name":"Bob"}`), After: json.RawMessage(`{"id":"2","name":"Bobby"}`)}}, m.Updated)
	deleted := []string{m.Deleted[0].ID, m.Deleted[1].ID}
	slices.Sort(deleted)
	require.Equal(t, []string{"3", "4"}, deleted)
	require.JSONEq(t, `{"Runs":1}`, string(rep.CheckpointBefore))
	require.JSONEq(t, `{"Runs":2}`, string(rep.Checkpoint))
	require.True(t, rep.CheckpointChanged)

	require.Equal(t, 1, rep.RequestCount)
	require.Len(t, rep.Requests, 1)
	require.Equal(t, http.MethodGet, rep.Requests[0].Method)
	require.Equal(t, 200, rep.Requests[0].Status)
	require.NotContains(t, rep.Requests[0].URL, "sekret-key", "the API key is redacted")
	require.Contains(t, rep.Requests[0].URL, "/contacts")

	require.NotEmpty(t, progress)
	require.Equal(t, 1, progress[0].Requests)
	last := progress[len(progress)-1]
	require.Equal(t, 1, last.Models["Contact"].Added)
	require.Equal(t, 1, last.Models["Contact"].Updated)

	// The real run does what the dry run said.
	res, err := eng.RunSync(ctx, "crm", "contacts", "acme", nil)
	require.NoError(t, err)
	require.Equal(t, 1, res.Models["Contact"].Added)
	require.Equal(t, 1, res.Models["Contact"].Updated)
	require.Equal(t, 2, res.Models["Contact"].Deleted)
	require.Equal(t, before.runs+1, takeSnapshot(t, st).runs)
}

func TestDryRunReAddsDeletedAndRespectsGuard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	api := &fakeAPI{}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	st, err := bolt.Open(filepath.Join(t.TempDir(), "syncs.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	eng, err := nango.NewEngine(st, &nango.Config{Logger: quiet, DeleteGuard: &nango.DeleteGuard{MaxShare: 0.5, MinRecords: 2}})
	require.NoError(t, err)
	require.NoError(t, eng.RegisterIntegration(nango.Integration{
		Key: "crm", BaseURL: srv.URL, Auth: nango.APIKey{Query: "api_key"},
		Syncs: []nango.SyncConfig{{
			Name: "contacts", TrackDeletes: true,
			Models: []nango.Model{nango.ModelOf[contact]("Contact")},
			Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
				resp, err := n.Get(ctx, &nango.Request{Path: "/contacts"})
				if err != nil {
					return err
				}
				var page struct{ Contacts []contact }
				if err := resp.Decode(&page); err != nil {
					return err
				}
				return n.BatchSave(ctx, page.Contacts, "Contact")
			}),
		}},
	}))
	require.NoError(t, eng.AddConnection(ctx, nango.Connection{Integration: "crm", ID: "acme", Credentials: &nango.Credentials{APIKey: "sekret-key"}}))
	api.set(contact{ID: "1", Name: "Ada"}, contact{ID: "2", Name: "Bob"}, contact{ID: "3", Name: "Cy"})
	_, err = eng.RunSync(ctx, "crm", "contacts", "acme", nil)
	require.NoError(t, err)
	api.set(contact{ID: "1", Name: "Ada"}, contact{ID: "2", Name: "Bob"})
	_, err = eng.RunSync(ctx, "crm", "contacts", "acme", nil) // 3 is deleted
	require.NoError(t, err)

	// 3 comes back; 1 and 2 vanish: more than half of the stream, so the guard refuses.
	api.set(contact{ID: "3", Name: "Cy"})
	before := takeSnapshot(t, st)
	rep, err := eng.DryRun(ctx, "crm", "contacts", "acme", nil)
	require.NoError(t, err)
	require.Equal(t, before, takeSnapshot(t, st))
	m := rep.Models["Contact"]
	require.Equal(t, 1, m.WouldAdd, "saving a deleted id adds it again")
	require.Equal(t, 0, m.WouldDelete)
	require.Equal(t, 2, m.RefusedDeletes)
	require.Len(t, rep.Run.Warnings, 1)
	require.Nil(t, rep.Checkpoint)
	require.False(t, rep.CheckpointChanged)

	rep, err = eng.DryRun(ctx, "crm", "contacts", "acme", &nango.DryRunOptions{ConfirmDeletes: true, Samples: -1})
	require.NoError(t, err)
	require.Equal(t, 2, rep.Models["Contact"].WouldDelete)
	require.Empty(t, rep.Models["Contact"].Deleted)
	require.Equal(t, before, takeSnapshot(t, st))
}

func TestDryRunErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "syncs.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	eng, err := nango.NewEngine(st, &nango.Config{Logger: quiet})
	require.NoError(t, err)
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
		Name: "contacts", Models: []nango.Model{{Name: "Contact"}},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			if err := n.BatchSave(ctx, []contact{{ID: "1", Name: "Ada"}}, "Contact"); err != nil {
				return err
			}
			return context.DeadlineExceeded
		}),
	}}}))
	_, err = eng.DryRun(ctx, "crm", "nope", "acme", nil)
	require.ErrorIs(t, err, nango.ErrUnknownSync)
	_, err = eng.DryRun(ctx, "crm", "contacts", "acme", nil)
	require.ErrorIs(t, err, nango.ErrUnknownConnection)
	require.NoError(t, eng.AddConnection(ctx, nango.Connection{Integration: "crm", ID: "acme"}))
	rep, err := eng.DryRun(ctx, "crm", "contacts", "acme", nil)
	require.Error(t, err)
	require.NotNil(t, rep, "a failed run still reports what it wrote before it failed")
	require.Equal(t, 1, rep.Models["Contact"].WouldAdd)
	require.Empty(t, takeSnapshot(t, st).records)
}

func TestDryRunSeesItsOwnWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "syncs.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	eng, err := nango.NewEngine(st, &nango.Config{Logger: quiet})
	require.NoError(t, err)
	var seen map[string]nango.Record
	second := false
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
		Name: "contacts", Models: []nango.Model{{Name: "Contact"}},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			if !second {
				return n.BatchSave(ctx, []contact{{ID: "1", Name: "Ada"}, {ID: "2", Name: "Bob"}}, "Contact")
			}
			if err := n.BatchUpdate(ctx, []map[string]any{{"id": "1", "email": "ada@example.com"}, {"id": "9", "email": "x"}}, "Contact"); err != nil {
				return err
			}
			if err := n.BatchSave(ctx, []contact{{ID: "3", Name: "Cy"}}, "Contact"); err != nil {
				return err
			}
			var err error
			seen, err = n.GetRecords(ctx, []string{"1", "2", "3", "4"}, "Contact")
			return err
		}),
	}}}))
	require.NoError(t, eng.AddConnection(ctx, nango.Connection{Integration: "crm", ID: "acme"}))
	_, err = eng.RunSync(ctx, "crm", "contacts", "acme", nil)
	require.NoError(t, err)
	second = true
	before := takeSnapshot(t, st)
	rep, err := eng.DryRun(ctx, "crm", "contacts", "acme", nil)
	require.NoError(t, err)
	require.Equal(t, before, takeSnapshot(t, st))

	require.Len(t, seen, 3)
	require.JSONEq(t, `{"id":"1","name":"Ada","email":"ada@example.com"}`, string(seen["1"].Data), "the merge, as the sandbox holds it")
	require.Equal(t, nango.ActionUpdated, seen["1"].Metadata.LastAction)
	require.JSONEq(t, `{"id":"2","name":"Bob"}`, string(seen["2"].Data), "the stored record")
	require.Equal(t, before.records[1].Cursor, seen["2"].Metadata.Cursor, "with its stored metadata")
	require.JSONEq(t, `{"id":"3","name":"Cy"}`, string(seen["3"].Data))

	m := rep.Models["Contact"]
	require.Equal(t, 1, m.WouldAdd)
	require.Equal(t, 1, m.WouldUpdate)
	require.Equal(t, 0, m.Unchanged)
	require.Equal(t, 1, rep.Run.Models["Contact"].Ignored, "the merge of an unknown id")
	require.Nil(t, rep.Checkpoint)
	require.Equal(t, nango.TriggerDryRun, rep.Run.Trigger)
}
