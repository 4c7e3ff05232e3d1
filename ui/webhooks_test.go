package ui_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
)

// deadWebhook makes a fixture whose webhook receiver refuses until accept is set, and leaves one
// dead delivery in its outbox.
func deadWebhook(t *testing.T) (*fixture, *atomic.Bool, string) {
	t.Helper()
	accept := new(atomic.Bool)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !accept.Load() {
			http.Error(w, "unknown hook", http.StatusGone)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(receiver.Close)
	f := newFixture(t, fixtureOptions{webhooks: &nango.WebhookConfig{URLs: []string{receiver.URL + "/hooks?token=secret"}, SigningKeys: [][]byte{[]byte("k")}}})
	f.src.contacts = contacts(3, "Ada")
	res, err := f.eng.RunSync(t.Context(), "crm", "contacts", "acme", nil)
	require.NoError(t, err)
	_, err = f.eng.DeliverWebhooks(t.Context())
	require.NoError(t, err)
	require.Len(t, res.Webhooks, 1)
	return f, accept, res.Webhooks[0]
}

func TestWebhooksPage(t *testing.T) {
	t.Parallel()
	f, accept, id := deadWebhook(t)
	c := browser(t)
	f.signIn(t, c)

	resp, body := get(t, c, f.url+"/webhooks?state=dead")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `<span class="n" id="count-dead">1</span>`)
	require.Contains(t, body, "<code>"+id+"</code>")
	require.Contains(t, body, "HTTP 410")
	require.Contains(t, body, "/hooks?…</code>", "the URL's query (a token) is not shown")
	require.NotContains(t, body, "token=secret")

	resp, body = post(t, c, f.url+"/webhooks", url.Values{"csrf": {csrfOf(t, body)}, "action": {"redeliver"}, "id": {id}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "now <span class=\"state state-dead\">dead</span> after 1 attempts")
	accept.Store(true)
	resp, _ = post(t, c, f.url+"/webhooks", url.Values{"csrf": {csrfOf(t, body)}, "action": {"redeliver"}, "id": {id}, "confirmed": {"yes"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = get(t, c, f.srv.URL+resp.Header.Get("Location"))
	require.Contains(t, body, "Queued again: the delivery gets a fresh round of attempts")
	require.Contains(t, body, `<span class="n" id="count-pending">1</span>`)
	_, err := f.eng.DeliverWebhooks(t.Context())
	require.NoError(t, err)
	_, body = get(t, c, f.url+"/webhooks?state=delivered")
	require.Contains(t, body, "<code>"+id+"</code>")

	resp, body = post(t, c, f.url+"/webhooks", url.Values{"csrf": {csrfOf(t, body)}, "action": {"redeliver"}, "id": {"whd_nope"}})
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Contains(t, body, `Unknown webhook delivery &#34;whd_nope&#34;.`)
	resp, body = get(t, c, f.url+"/webhooks?state=lost")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, `&#34;lost&#34; is not a delivery state`)
}
