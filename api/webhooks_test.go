package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango/api"
)

func TestWebhookEndpointsValidate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for _, tc := range []struct {
		r      req
		status int
		code   string
		msg    string
	}{
		{req{method: http.MethodPost, path: "/webhooks/redeliver", body: map[string]any{}}, 400, api.CodeInvalidBody, `give "id" (one delivery) or "all_dead": true`},
		{req{method: http.MethodPost, path: "/webhooks/redeliver", body: map[string]any{"id": "x", "all_dead": true}}, 400, api.CodeInvalidBody, `not both`},
		{req{method: http.MethodPost, path: "/webhooks/redeliver", body: map[string]any{"ids": []string{"x"}}}, 400, api.CodeInvalidBody, `"ids"`},
		{req{method: http.MethodPost, path: "/webhooks/redeliver", body: map[string]any{"id": "whd_missing"}}, 404, api.CodeUnknownWebhookDelivery, `there is no webhook delivery "whd_missing"`},
		{req{method: http.MethodGet, path: "/webhooks/deliveries?state=lost"}, 400, api.CodeInvalidQueryParams, `received 'lost'`},
		{req{method: http.MethodGet, path: "/webhooks/deliveries?limit=0"}, 400, api.CodeInvalidQueryParams, `"0" is not a number from 1 to 10000`},
		{req{method: http.MethodGet, path: "/webhooks/deliveries?cursor=x"}, 400, api.CodeInvalidQueryParams, `unknown parameter(s) "cursor"`},
		{req{method: http.MethodPost, path: "/webhooks/deliveries"}, 405, api.CodeMethodNotAllowed, ``},
		{req{method: http.MethodGet, path: "/webhooks/deliveries", header: map[string]string{"Authorization": ""}}, 401, api.CodeMissingAuthHeader, ``},
	} {
		a := f.do(t, tc.r)
		require.Equal(t, tc.status, a.status, "%s %s: %s", tc.r.method, tc.r.path, a.raw)
		require.Equal(t, tc.code, a.code(), a.raw)
		require.Contains(t, a.message(), tc.msg, a.raw)
	}
	a := f.do(t, req{method: http.MethodGet, path: "/webhooks/deliveries"})
	require.Equal(t, http.StatusOK, a.status)
	require.JSONEq(t, `{"deliveries":[],"next_after":null}`, a.raw)
}
