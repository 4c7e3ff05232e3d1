package nango_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store/memory"
)

// A full sync over a provider API that authenticates with an API key and pages with Link
// headers. The engine sends the key, follows the links, retries what fails, and guards against
// a provider that sends it back to a page it already fetched.
func ExampleNango_Paginate() {
	ctx := context.Background()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "key-123" {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		tickets := []map[string]string{{"id": "t1", "title": "Printer on fire"}, {"id": "t2", "title": "VPN down"}}
		if r.URL.Query().Get("page") == "2" {
			tickets = []map[string]string{{"id": "t3", "title": "New laptop"}}
		} else {
			w.Header().Set("Link", `</tickets?page=2>; rel="next"`)
		}
		_ = json.NewEncoder(w).Encode(tickets)
	}))
	defer api.Close()

	st := memory.New()
	defer st.Close()
	eng, _ := nango.NewEngine(st, &nango.Config{Logger: slog.New(slog.DiscardHandler)})
	err := eng.RegisterIntegration(nango.Integration{
		Key:     "helpdesk",
		BaseURL: api.URL,
		Auth:    nango.APIKey{Header: "X-Api-Key"},
		HTTP:    &nango.HTTPConfig{Retry: &nango.HTTPRetry{MaxAttempts: 3}},
		Syncs: []nango.SyncConfig{{
			Name:         "tickets",
			TrackDeletes: true,
			Models:       []nango.Model{{Name: "Ticket"}},
			Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
				for page, err := range n.Paginate(ctx, &nango.Request{Path: "/tickets"}, nango.LinkPagination{}) {
					if err != nil {
						return err
					}
					if err := n.BatchSave(ctx, page.Items, "Ticket"); err != nil {
						return err
					}
				}
				return nil
			}),
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = eng.AddConnection(ctx, nango.Connection{Integration: "helpdesk", ID: "acme", Credentials: &nango.Credentials{APIKey: "key-123"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := eng.RunSync(ctx, "helpdesk", "tickets", "acme", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%+v\n", res.Models["Ticket"])
	// Output: {Added:3 Updated:0 Deleted:0 Unchanged:0 Duplicates:0 Ignored:0 Skipped:0}
}
