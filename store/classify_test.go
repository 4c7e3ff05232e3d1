package store_test

import (
	"testing"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// prepared returns the prepared write of one record {"id":"a",fields} in this mode.
func prepared(t *testing.T, mode store.WriteMode, fields string) (*store.PreparedWrite, store.PreparedRecord) {
	t.Helper()
	pw, err := store.PrepareWrite(&store.RecordsWriteParams{
		Stream:  store.Stream{Integration: "crm", Connection: "acme", Model: "contacts"},
		Mode:    mode,
		Records: []store.RecordInput{{Data: []byte(`{"id":"a"` + fields + `}`)}},
	})
	require.NoError(t, err)
	return pw, pw.Records[0]
}

func TestClassify(t *testing.T) {
	t.Parallel()
	stored := []byte(`{"id":"a","n":1,"o":{"x":1}}`)
	live := store.Held{Exists: true, Hash: store.Hash(stored), Data: stored}
	deleted := live
	deleted.Deleted = true
	newer := live
	newer.Newer = true
	newerDeleted := deleted
	newerDeleted.Newer = true
	tests := []struct {
		name    string
		mode    store.WriteMode
		fields  string
		held    store.Held
		verdict store.Verdict
		data    string // expected Data when the verdict writes
		seen    bool
	}{
		{"save new", store.WriteSave, `,"n":1`, store.Held{}, store.VerdictAdded, `{"id":"a","n":1}`, true},
		{"save deleted", store.WriteSave, `,"n":1`, deleted, store.VerdictReadded, `{"id":"a","n":1}`, true},
		{"save same", store.WriteSave, `,"o":{"x":1},"n":1`, live, store.VerdictUnchanged, "", true},
		{"save other", store.WriteSave, `,"n":2`, live, store.VerdictUpdated, `{"id":"a","n":2}`, true},
		{"save newer", store.WriteSave, `,"n":2`, newer, store.VerdictSkipped, "", true},
		{"save newer deleted", store.WriteSave, `,"n":2`, newerDeleted, store.VerdictSkipped, "", true},
		{"merge live", store.WriteMerge, `,"o":{"y":2}`, live, store.VerdictUpdated, `{"id":"a","n":1,"o":{"x":1,"y":2}}`, true},
		{"merge same", store.WriteMerge, `,"n":1`, live, store.VerdictUnchanged, "", true},
		{"merge new", store.WriteMerge, `,"n":1`, store.Held{}, store.VerdictIgnored, "", false},
		{"merge deleted", store.WriteMerge, `,"n":1`, deleted, store.VerdictIgnored, "", false},
		{"merge newer", store.WriteMerge, `,"n":2`, newer, store.VerdictSkipped, "", true},
		{"merge newer deleted", store.WriteMerge, `,"n":2`, newerDeleted, store.VerdictSkipped, "", false},
		{"delete live", store.WriteDelete, "", live, store.VerdictDeleted, string(stored), false},
		{"delete new", store.WriteDelete, "", store.Held{}, store.VerdictIgnored, "", false},
		{"delete deleted", store.WriteDelete, "", deleted, store.VerdictIgnored, "", false},
		{"delete newer", store.WriteDelete, "", newer, store.VerdictSkipped, "", false},
		// Newer means nothing for an id the stream does not hold: it is written as usual.
		{"save new, newer set", store.WriteSave, `,"n":1`, store.Held{Newer: true}, store.VerdictAdded, `{"id":"a","n":1}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pw, rec := prepared(t, tc.mode, tc.fields)
			held := tc.held
			if !held.NeedsData(tc.mode) {
				held.Data = nil // Classify must not read what it did not ask for
			}
			d, err := pw.Classify(held, rec)
			require.NoError(t, err)
			require.Equal(t, tc.verdict, d.Verdict, "verdict %s", d.Verdict)
			require.Equal(t, tc.seen, d.Seen, "joins the window")
			if tc.verdict.Writes() {
				require.Equal(t, tc.data, string(d.Data))
				require.Equal(t, store.Hash(d.Data), d.Hash)
			}
		})
	}
}

func TestClassifyMergeError(t *testing.T) {
	t.Parallel()
	pw, rec := prepared(t, store.WriteMerge, `,"n":1`)
	_, err := pw.Classify(store.Held{Exists: true, Data: []byte(`[1]`)}, rec)
	var re *store.RecordError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "a", re.ID)
	require.Equal(t, "contacts", re.Model)
}

func TestVerdicts(t *testing.T) {
	t.Parallel()
	type row struct {
		action         store.Action
		keepsFirstSeen bool
		live, deleted  int
	}
	want := map[store.Verdict]row{
		store.VerdictUnchanged: {},
		store.VerdictIgnored:   {},
		store.VerdictSkipped:   {},
		store.VerdictAdded:     {store.ActionAdded, false, 1, 0},
		store.VerdictReadded:   {store.ActionAdded, false, 1, -1},
		store.VerdictUpdated:   {store.ActionUpdated, true, 0, 0},
		store.VerdictDeleted:   {store.ActionDeleted, true, -1, 1},
	}
	res := &store.RecordsWriteResult{}
	for v, w := range want {
		live, deleted := v.StatsDelta()
		require.Equal(t, w, row{v.Action(), v.KeepsFirstSeen(), live, deleted}, v.String())
		require.Equal(t, w.action != "", v.Writes(), v.String())
		res.Tally("id-"+v.String(), store.Decision{Verdict: v})
	}
	require.Equal(t, store.RecordsWriteResult{Added: 2, Updated: 1, Deleted: 1, Unchanged: 1, Ignored: 1, Skipped: 1,
		SkippedIDs: []string{"id-skipped"}}, *res)
}
