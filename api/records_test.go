package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
)

// nangoTime is the form of Nango's record times: microseconds and a numeric offset.
var nangoTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$`)

// seed saves five contacts on conn-1 (one with a numeric id), then updates one and deletes
// another; conn-2 gets one contact.
func seed(t *testing.T, f *fixture) {
	t.Helper()
	f.src.set([]map[string]any{contact("a", "Ada"), contact("b", "Bob"), contact("c", "Cy"), contact(7, "Seven"), contact("e", "Eve")})
	f.sync(t, "contacts", "conn-1")
	f.src.set([]map[string]any{contact("b", "Bobby")}, "c")
	f.sync(t, "contacts", "conn-1")
	f.src.set([]map[string]any{contact("z", "Zed")})
	f.sync(t, "contacts", "conn-2")
}

func records(a answer) []map[string]any {
	l, _ := a.body["records"].([]any)
	out := make([]map[string]any, len(l))
	for i, r := range l {
		out[i] = r.(map[string]any)
	}
	return out
}

func ids(a answer) []string {
	var out []string
	for _, r := range records(a) {
		out = append(out, r["id"].(string))
	}
	return out
}

func meta(r map[string]any) map[string]any { return r["_nango_metadata"].(map[string]any) }

func TestRecordsShape(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	seed(t, f)
	a := f.records(t, "conn-1", "model=Contact")
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Nil(t, a.body["next_cursor"], "null on the last page")
	require.Contains(t, a.raw, `"next_cursor":null`)
	// Cursor order: the unchanged first, then the update and the delete of the second run.
	require.Equal(t, []string{"a", "7", "e", "b", "c"}, ids(a))
	for _, r := range records(a) {
		m := meta(r)
		require.ElementsMatch(t, []string{"first_seen_at", "last_modified_at", "last_action", "deleted_at", "pruned_at", "cursor"}, keys(m))
		require.Regexp(t, nangoTime, m["first_seen_at"])
		require.Regexp(t, nangoTime, m["last_modified_at"])
		require.Nil(t, m["pruned_at"])
		require.NotEmpty(t, m["cursor"])
	}
	recs := records(a)
	// The numeric id is a string, and so is the payload's id.
	require.Equal(t, map[string]any{"id": "7", "name": "Seven", "email": "seven@example.com", "_nango_metadata": meta(recs[1])}, recs[1])
	require.Equal(t, "ADDED", meta(recs[0])["last_action"])
	require.Nil(t, meta(recs[0])["deleted_at"])
	require.Equal(t, "UPDATED", meta(recs[3])["last_action"])
	require.Equal(t, "Bobby", recs[3]["name"])
	require.Equal(t, "DELETED", meta(recs[4])["last_action"])
	require.Regexp(t, nangoTime, meta(recs[4])["deleted_at"])
	require.Equal(t, "Cy", recs[4]["name"], "a deleted record keeps its payload")

	// The same as the engine says.
	page, err := f.eng.ListRecords(t.Context(), nango.ListRecordsParams{Integration: integration, Connection: "conn-1", Model: "Contact"})
	require.NoError(t, err)
	for i, r := range page.Records {
		m := meta(recs[i])
		require.Equal(t, r.Metadata.Cursor, m["cursor"])
		require.Equal(t, r.Metadata.LastModifiedAt.UTC().Format("2006-01-02T15:04:05.000000")+"+00:00", m["last_modified_at"])
	}

	// /records/ as the Node client writes it.
	b := f.do(t, req{method: http.MethodGet, path: "/records/?model=Contact",
		header: map[string]string{"Connection-Id": "conn-2", "Provider-Config-Key": integration}})
	require.Equal(t, http.StatusOK, b.status, b.raw)
	require.Equal(t, []string{"z"}, ids(b))

	// An empty stream.
	c := f.records(t, "conn-2", "model=Contact&filter=deleted")
	require.Equal(t, `{"records":[],"next_cursor":null}`, c.raw)
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestRecordsPagination(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	seed(t, f)
	var got []string
	cursor := ""
	pages := 0
	for {
		q := "model=Contact&limit=2"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		a := f.records(t, "conn-1", q)
		require.Equal(t, http.StatusOK, a.status, a.raw)
		pages++
		got = append(got, ids(a)...)
		next, _ := a.body["next_cursor"].(string)
		if next == "" {
			require.Nil(t, a.body["next_cursor"])
			break
		}
		require.Len(t, records(a), 2)
		cursor = next
	}
	require.Equal(t, 3, pages)
	require.Equal(t, []string{"a", "7", "e", "b", "c"}, got)

	// A record's cursor continues after it.
	all := records(f.records(t, "conn-1", "model=Contact"))
	a := f.records(t, "conn-1", "model=Contact&cursor="+url.QueryEscape(meta(all[2])["cursor"].(string)))
	require.Equal(t, []string{"b", "c"}, ids(a))

	// limit bounds.
	require.Len(t, records(f.records(t, "conn-1", "model=Contact&limit=10000")), 5)
	require.Len(t, records(f.records(t, "conn-1", "model=Contact&limit=1")), 1)
	for _, bad := range []string{"0", "10001", "-1", "abc", "2.5", ""} {
		a := f.records(t, "conn-1", "model=Contact&limit="+bad)
		requireError(t, a, http.StatusBadRequest, "invalid_query_params")
		require.Contains(t, a.message(), "limit", bad)
	}
}

func TestRecordsModifiedAfter(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	seed(t, f)
	all := records(f.records(t, "conn-1", "model=Contact"))
	at := meta(all[3])["last_modified_at"].(string) // the update of the second run
	// Inclusive, in Nango's own time format.
	a := f.records(t, "conn-1", "model=Contact&modified_after="+url.QueryEscape(at))
	require.Equal(t, http.StatusOK, a.status, a.raw)
	require.Equal(t, []string{"b", "c"}, ids(a))
	// In JavaScript's form (milliseconds, Z), as toISOString writes it.
	ts, err := time.Parse(time.RFC3339Nano, at)
	require.NoError(t, err)
	js := ts.Truncate(time.Millisecond).UTC().Format("2006-01-02T15:04:05.000Z")
	require.Subset(t, ids(f.records(t, "conn-1", "model=Contact&modified_after="+js)), []string{"b", "c"})
	// delta is the deprecated name; it wins over modified_after, as in Nango.
	require.Equal(t, []string{"b", "c"}, ids(f.records(t, "conn-1", "model=Contact&delta="+url.QueryEscape(at))))
	require.Equal(t, []string{"b", "c"}, ids(f.records(t, "conn-1", "model=Contact&modified_after=2000-01-01T00:00:00Z&delta="+url.QueryEscape(at))))
	// In the future: nothing.
	require.Empty(t, ids(f.records(t, "conn-1", "model=Contact&modified_after=2999-01-01T00:00:00Z")))
	for _, bad := range []string{"yesterday", "2024-01-01", "2024-01-01 10:00:00", "", "1700000000"} {
		a := f.records(t, "conn-1", "model=Contact&modified_after="+url.QueryEscape(bad))
		requireError(t, a, http.StatusBadRequest, "invalid_query_params")
		require.Contains(t, a.message(), "modified_after", bad)
	}
}

func TestRecordsFilter(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	seed(t, f)
	cases := map[string][]string{
		"added":           {"a", "7", "e"},
		"updated":         {"b"},
		"deleted":         {"c"},
		"UPDATED":         {"b"},
		"added,UPDATED":   {"a", "7", "e", "b"},
		"updated,deleted": {"b", "c"},
		"added,deleted":   {"a", "7", "e", "c"},
	}
	for filter, want := range cases {
		a := f.records(t, "conn-1", "model=Contact&filter="+filter)
		require.Equal(t, http.StatusOK, a.status, a.raw)
		require.Equal(t, want, ids(a), filter)
	}
	for _, bad := range []string{"removed", "added,", "", "added;deleted"} {
		a := f.records(t, "conn-1", "model=Contact&filter="+url.QueryEscape(bad))
		requireError(t, a, http.StatusBadRequest, "invalid_query_params")
		require.Contains(t, a.message(), "filter", bad)
	}
}

func TestRecordsIDs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	seed(t, f)
	require.Equal(t, []string{"b"}, ids(f.records(t, "conn-1", "model=Contact&ids=b")))
	require.Equal(t, []string{"7", "b", "c"}, ids(f.records(t, "conn-1", "model=Contact&ids=c&ids=7&ids=b&ids=nope")))
	// Ids no record can have (longer than the store's 255 bytes) match nothing.
	long := strings.Repeat("x", 256)
	a := f.records(t, "conn-1", "model=Contact&ids="+long)
	require.Equal(t, `{"records":[],"next_cursor":null}`, a.raw)
	require.Equal(t, []string{"a"}, ids(f.records(t, "conn-1", "model=Contact&ids="+long+"&ids=a")))
	// 256 characters counted as JavaScript does: é is one.
	require.Equal(t, http.StatusOK, f.records(t, "conn-1", "model=Contact&ids="+url.QueryEscape(strings.Repeat("é", 256))).status)

	var many []string
	for i := range 101 {
		many = append(many, fmt.Sprintf("ids=%d", i))
	}
	bad := map[string]string{
		strings.Join(many, "&"):           "101 ids, more than 100",
		"ids=":                            "ids.0: must not be empty",
		"ids=a&ids=" + long + "x":         "ids.1: is 257 characters long, more than 256",
		"ids=" + strings.Repeat("é", 257): "ids.0: is 257 characters long",
		"ids=a&ids=%00":                   "contains a NUL byte",
	}
	for q, msg := range bad {
		a := f.records(t, "conn-1", "model=Contact&"+q)
		if msg == "contains a NUL byte" {
			// A NUL id is valid for Nango's schema but no record has one: nothing matches.
			require.Equal(t, []string{"a"}, ids(a), a.raw)
			continue
		}
		requireError(t, a, http.StatusBadRequest, "invalid_query_params")
		require.Contains(t, a.message(), msg)
	}
}

func TestRecordsCursorErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	seed(t, f)
	other := meta(records(f.records(t, "conn-2", "model=Contact"))[0])["cursor"].(string)
	mine := meta(records(f.records(t, "conn-1", "model=Contact"))[0])["cursor"].(string)

	a := f.records(t, "conn-1", "model=Contact&cursor="+url.QueryEscape(other))
	requireError(t, a, http.StatusBadRequest, "invalid_cursor")
	require.Contains(t, a.message(), "stream")
	requireError(t, f.records(t, "conn-1", "model=Contact&cursor=not-a-cursor"), http.StatusBadRequest, "invalid_cursor")
	altered := []byte(mine)
	altered[5] ^= 1
	requireError(t, f.records(t, "conn-1", "model=Contact&cursor="+url.QueryEscape(string(altered))), http.StatusBadRequest, "invalid_cursor")
	// Another model's cursor.
	f.src.mu.Lock()
	f.src.deals = []map[string]any{{"id": "d1", "amount": 10}}
	f.src.mu.Unlock()
	f.sync(t, "deals", "conn-1")
	deal := meta(records(f.records(t, "conn-1", "model=Deal"))[0])["cursor"].(string)
	requireError(t, f.records(t, "conn-1", "model=Contact&cursor="+url.QueryEscape(deal)), http.StatusBadRequest, "invalid_cursor")

	a = f.records(t, "conn-1", "model=Contact&cursor="+strings.Repeat("A", 1001))
	requireError(t, a, http.StatusBadRequest, "invalid_query_params")
	require.Contains(t, a.message(), "cursor: is 1001 characters long, more than 1000")
	requireError(t, f.records(t, "conn-1", "model=Contact&cursor="), http.StatusBadRequest, "invalid_query_params")

	// After a reset that emptied the cache, old cursors are stale.
	_, err := f.eng.RunSync(t.Context(), integration, "contacts", "conn-1", &nango.RunOptions{Reset: true, EmptyCache: true})
	require.NoError(t, err)
	a = f.records(t, "conn-1", "model=Contact&cursor="+url.QueryEscape(mine))
	requireError(t, a, http.StatusBadRequest, "invalid_cursor")
	require.Contains(t, a.message(), "emptied")
}

func TestRecordsRequestErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	seed(t, f)

	a := f.records(t, "conn-1", "")
	requireError(t, a, http.StatusBadRequest, "invalid_query_params")
	require.Equal(t, []any{map[string]any{"code": "invalid_type", "message": "Required", "path": []any{"model"}}}, a.errors())

	a = f.records(t, "conn-1", "model=Contact&sort=desc&page=2")
	requireError(t, a, http.StatusBadRequest, "invalid_query_params")
	require.Contains(t, a.message(), `unknown parameter(s) "page", "sort"`)
	require.Equal(t, "unrecognized_keys", a.errors()[0].(map[string]any)["code"])

	a = f.records(t, "conn-1", "model=Contact&model=Deal")
	requireError(t, a, http.StatusBadRequest, "invalid_query_params")
	require.Contains(t, a.message(), "model: given 2 times, expected once")

	requireError(t, f.records(t, "conn-1", "model=Contact&limit=5;x"), http.StatusBadRequest, "invalid_query_params")
	requireError(t, f.records(t, "conn-1", "model=Contact&limit=%zz"), http.StatusBadRequest, "invalid_query_params")
	requireError(t, f.records(t, "conn-1", "model="), http.StatusBadRequest, "invalid_query_params")
	requireError(t, f.records(t, "conn-1", "model="+strings.Repeat("m", 256)), http.StatusBadRequest, "invalid_query_params")

	// Headers.
	a = f.do(t, req{method: http.MethodGet, path: "/records?model=Contact"})
	requireError(t, a, http.StatusBadRequest, "invalid_headers")
	require.Len(t, a.errors(), 2)
	require.Contains(t, a.message(), "connection-id: Required; provider-config-key: Required")
	a = f.do(t, req{method: http.MethodGet, path: "/records?model=Contact", header: map[string]string{"Connection-Id": "conn-1"}})
	requireError(t, a, http.StatusBadRequest, "invalid_headers")
	require.Contains(t, a.message(), "provider-config-key: Required")

	// Unknown connection, integration, model, variant.
	a = f.records(t, "conn-9", "model=Contact")
	requireError(t, a, http.StatusBadRequest, "unknown_connection")
	require.Contains(t, a.message(), `"conn-9"`)
	a = f.do(t, req{method: http.MethodGet, path: "/records?model=Contact",
		header: map[string]string{"Connection-Id": "conn-1", "Provider-Config-Key": "hubspot"}})
	requireError(t, a, http.StatusBadRequest, "unknown_connection")
	a = f.records(t, "conn-1", "model=Lead")
	requireError(t, a, http.StatusBadRequest, "unknown_model")
	require.Contains(t, a.message(), `"Lead"`)
	require.Equal(t, http.StatusOK, f.records(t, "conn-1", "model=Contact&variant=base").status)
	a = f.records(t, "conn-1", "model=Contact&variant=eu")
	requireError(t, a, http.StatusBadRequest, "unknown_variant")
	require.Contains(t, a.message(), "only the base variant exists")
}
