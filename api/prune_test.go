package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// PATCH /records/prune empties the records up to and including the cursor, in batches, keeps
// their metadata and place in the feed, and answers bad input with clear errors.
func TestPruneRecords(t *testing.T) {
	f := newFixture(t, nil)
	var contacts []map[string]any
	for i := range 5 {
		contacts = append(contacts, contact(fmt.Sprintf("c%d", i), fmt.Sprintf("name %d", i)))
	}
	f.src.set(contacts)
	f.sync(t, "contacts", "conn-1")
	before := f.records(t, "conn-1", "model=Contact")
	recs := before.body["records"].([]any)
	require.Len(t, recs, 5)
	cursorOf := func(r any) string { return r.(map[string]any)["_nango_metadata"].(map[string]any)["cursor"].(string) }
	until := cursorOf(recs[2])

	prune := func(body any, conn string) answer {
		return f.do(t, req{method: http.MethodPatch, path: "/records/prune", body: body,
			header: map[string]string{"Connection-Id": conn, "Provider-Config-Key": integration}})
	}
	a := prune(map[string]any{"model": "Contact", "until_cursor": until, "limit": 2}, "conn-1")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.JSONEq(t, `{"count":2,"has_more":true}`, a.raw)
	a = prune(map[string]any{"model": "Contact", "until_cursor": until, "limit": 2}, "conn-1")
	require.JSONEq(t, `{"count":1,"has_more":false}`, a.raw)
	a = prune(map[string]any{"model": "Contact", "until_cursor": until}, "conn-1")
	require.JSONEq(t, `{"count":0,"has_more":false}`, a.raw)

	after := f.records(t, "conn-1", "model=Contact")
	got := after.body["records"].([]any)
	require.Len(t, got, 5, "pruned records stay in the feed")
	for i, r := range got {
		m := r.(map[string]any)
		meta := m["_nango_metadata"].(map[string]any)
		require.Equal(t, cursorOf(recs[i]), meta["cursor"], "cursors are unchanged")
		if i <= 2 {
			require.NotNil(t, meta["pruned_at"], "record %d pruned", i)
			require.NotContains(t, m, "name", "the payload is gone")
			require.Equal(t, fmt.Sprintf("c%d", i), m["id"])
		} else {
			require.Nil(t, meta["pruned_at"])
			require.Equal(t, recs[i], r)
		}
	}

	// A later run with the same payloads restores them without UPDATED.
	res := f.sync(t, "contacts", "conn-1")
	require.Equal(t, 0, res.Models["Contact"].Updated)
	require.Equal(t, before.raw, f.records(t, "conn-1", "model=Contact").raw, "the payloads are back, nothing else changed")

	// Bad input.
	requireError(t, prune(map[string]any{"model": "Contact", "until_cursor": "garbage"}, "conn-1"), http.StatusBadRequest, "invalid_cursor")
	requireError(t, prune(map[string]any{"model": "Contact", "until_cursor": until}, "nobody"), http.StatusBadRequest, "unknown_connection")
	requireError(t, prune(map[string]any{"model": "Nope", "until_cursor": until}, "conn-1"), http.StatusBadRequest, "unknown_model")
	requireError(t, prune(map[string]any{"model": "Contact"}, "conn-1"), http.StatusBadRequest, "invalid_body")
	requireError(t, prune(map[string]any{"model": "Contact", "until_cursor": until, "limit": 10001}, "conn-1"), http.StatusBadRequest, "invalid_body")
	requireError(t, prune(map[string]any{"model": "Contact", "until_cursor": until, "extra": 1}, "conn-1"), http.StatusBadRequest, "invalid_body")
	requireError(t, prune(map[string]any{"model": "Contact", "until_cursor": until}, ""), http.StatusBadRequest, "invalid_headers")
	a = f.do(t, req{method: http.MethodGet, path: "/records/prune", header: map[string]string{"Connection-Id": "conn-1", "Provider-Config-Key": integration}})
	require.Equal(t, http.StatusMethodNotAllowed, a.status, a.raw)
}
