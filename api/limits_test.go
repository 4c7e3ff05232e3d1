package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestListParametersAreBounded sends list-valued parameters far beyond their limits: each answer
// is a 400 that lists at most 10 problems, quotes at most 100 bytes of a value, and stays small.
func TestListParametersAreBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	long := strings.Repeat("x", 300)
	huge := strings.Repeat("y", 100_000)
	badIDs := strings.Repeat("&ids=", 5000)
	var unknown strings.Builder
	for i := range 5000 {
		unknown.WriteString("&p" + strings.Repeat("0", i%7) + string(rune('a'+i%26)) + strings.Repeat("z", i%50))
	}
	cases := []struct {
		name, path, want string
	}{
		{"a million commas", "/sync/status?provider_config_key=" + integration + "&syncs=" + strings.Repeat(",", 1_000_000),
			"syncs: 1000001 sync names, more than 256"},
		{"many empty names", "/sync/status?provider_config_key=" + integration + "&syncs=" + strings.Repeat(",", 200),
			"and 191 more problems"},
		{"a long name", "/sync/status?provider_config_key=" + integration + "&syncs=" + long,
			"syncs.0: the sync name is 300 bytes long, more than 255"},
		{"a huge bad name", "/sync/status?provider_config_key=" + integration + "&syncs=a," + url.QueryEscape(huge+"::"),
			`(100002 bytes)`},
		{"many ids", "/records?model=Contact" + badIDs, "ids: 5000 ids, more than 100"},
		{"many unknown parameters", "/sync/status?syncs=*&provider_config_key=" + integration + unknown.String(), "more (this endpoint takes"},
		{"a huge limit", "/records?model=Contact&limit=" + huge, `(100000 bytes) is not an integer`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := f.do(t, req{method: http.MethodGet, path: c.path, header: map[string]string{"Connection-Id": "acme", "Provider-Config-Key": integration}})
			require.Equal(t, http.StatusBadRequest, a.status, a.raw)
			require.Contains(t, a.message(), c.want)
			require.LessOrEqual(t, len(a.errors()), 10)
			require.Less(t, len(a.raw), 4096, "the answer stays small")
		})
	}
}

// TestSyncNamesDeduplicated asks for the same sync many times: one status per sync.
func TestSyncNamesDeduplicated(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	a := status(t, f, "provider_config_key="+integration+"&syncs="+strings.TrimSuffix(strings.Repeat("contacts,", 256), ","))
	require.Equal(t, http.StatusOK, a.status, a.raw)
	names := map[string]int{}
	for _, s := range statuses(a) {
		names[s["name"].(string)+" of "+s["connection_id"].(string)]++
	}
	require.NotEmpty(t, names)
	for name, n := range names {
		require.LessOrEqual(t, n, 1, "%s listed %d times", name, n)
	}
}
