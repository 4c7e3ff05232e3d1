package ui_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store/bolt"
	"github.com/gonango/nango/ui"
)

var rowRE = regexp.MustCompile(`(?s)<tr>\s*<td data-label="Connection"><a [^>]*>([^<]+)</a></td>\s*<td data-label="Integration">([^<]+)</td>\s*<td data-label="Sync">([^<]+)</td>\s*<td data-label="State"><span class="state state-(\w+)">`)

// rows returns "connection integration sync state" for each row of the overview.
func rows(body string) []string {
	var out []string
	for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
		out = append(out, strings.Join(m[1:], " "))
	}
	return out
}

func TestOverview(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{cfg: &ui.Config{SecretKeys: []string{secret}, PageSize: 2}})
	ctx := t.Context()
	f.src.contacts = contacts(3, "Ada")
	_, err := f.eng.RunSync(ctx, "crm", "contacts", "acme", nil)
	require.NoError(t, err)
	f.src.panicMsg = "boom"
	_, err = f.eng.RunSync(ctx, "crm", "contacts", "globex", nil)
	require.Error(t, err)
	require.NoError(t, f.eng.SetFrequency(ctx, "crm", "deals", "acme", "every 2 hours"))
	require.NoError(t, f.eng.Start(ctx, nango.SyncSelector{Integration: "crm", Syncs: []string{"contacts"}}))
	require.NoError(t, f.eng.Start(ctx, nango.SyncSelector{Integration: "helpdesk"}))
	auth := []string{"Authorization", "Bearer " + secret}
	c := browser(t)

	resp, body := get(t, c, f.url+"/", auth...)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, []string{"acme crm contacts success", "acme crm deals paused"}, rows(body))
	require.Contains(t, body, `<span class="n" id="total-connections">3</span>`)
	require.Contains(t, body, "Syncs 1–2 of 5")
	require.Contains(t, body, `every 2 hours <span class="muted">(override)</span>`)
	require.Contains(t, body, `<span class="added" title="added">+3</span>`)
	require.Contains(t, body, `>3 Contact</a>`)
	_, body = get(t, c, f.url+"/?from=2", auth...)
	require.Equal(t, []string{"globex crm contacts error", "globex crm deals paused"}, rows(body))
	_, body = get(t, c, f.url+"/?from=4", auth...)
	require.Equal(t, []string{"initech helpdesk tickets stopped"}, rows(body))
	require.NotContains(t, body, "Next page")

	_, body = get(t, c, f.url+"/?integration=helpdesk", auth...)
	require.Equal(t, []string{"initech helpdesk tickets stopped"}, rows(body))
	_, body = get(t, c, f.url+"/?state=paused", auth...)
	require.Equal(t, []string{"acme crm deals paused", "globex crm deals paused"}, rows(body))
	_, body = get(t, c, f.url+"/?state=error&integration=crm", auth...)
	require.Equal(t, []string{"globex crm contacts error"}, rows(body))
	_, body = get(t, c, f.url+"/?state=running", auth...)
	require.Contains(t, body, "No sync is running here.")

	for q, want := range map[string]string{
		"state=late":         `&#34;late&#34; is not a state: choose running, paused, stopped, success or error.`,
		"from=-1":            `&#34;-1&#34; is not a position in the list`,
		"integration=nosuch": `There is no integration &#34;nosuch&#34;.`,
	} {
		resp, body := get(t, c, f.url+"/?"+q, auth...)
		require.GreaterOrEqual(t, resp.StatusCode, 400, q)
		require.Contains(t, body, want, q)
	}
}

// BenchmarkOverview10kConnections renders the first page of the overview of an engine with
// 10,000 connections (one sync each) on a bbolt file.
func BenchmarkOverview10kConnections(b *testing.B) {
	st, err := bolt.Open(filepath.Join(b.TempDir(), "bench.db"), &bolt.Options{NoSync: true})
	require.NoError(b, err)
	defer st.Close()
	eng, err := nango.NewEngine(st, &nango.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b, err)
	require.NoError(b, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
		Name: "contacts", Frequency: "every hour", Models: []nango.Model{{Name: "Contact"}},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			return n.BatchSave(ctx, []map[string]any{{"id": "1"}, {"id": "2"}}, "Contact")
		}),
	}}}))
	for i := range 10000 {
		id := fmt.Sprintf("customer-%05d", i)
		require.NoError(b, eng.AddConnection(b.Context(), nango.Connection{Integration: "crm", ID: id}))
		if i < 100 {
			_, err := eng.RunSync(b.Context(), "crm", "contacts", id, nil)
			require.NoError(b, err)
		}
	}
	h, err := ui.New(eng, &ui.Config{DisableAuth: true})
	require.NoError(b, err)
	// The baseline: listing the connections from the store, which the overview must do once.
	b.Run("baseline=ConnectionList", func(b *testing.B) {
		for b.Loop() {
			conns, err := st.ConnectionList(b.Context(), "crm")
			if err != nil || len(conns) != 10000 {
				b.Fatal(len(conns), err)
			}
		}
	})
	for _, q := range []string{"", "?state=error"} {
		b.Run("query="+q, func(b *testing.B) {
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/"+q, nil))
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
