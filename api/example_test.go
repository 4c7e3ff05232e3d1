package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/gonango/nango"
	"github.com/gonango/nango/api"
	"github.com/gonango/nango/store/bolt"
)

// Serve an engine's change feed under /nango/ and read it as any HTTP client (or Nango's
// client libraries) would.
func ExampleNew() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "nango-api-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	st, err := bolt.Open(filepath.Join(dir, "example.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	eng, err := nango.NewEngine(st, nil)
	if err != nil {
		log.Fatal(err)
	}
	err = eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
		Name: "contacts", Models: []nango.Model{{Name: "Contact"}},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			return n.BatchSave(ctx, []map[string]any{{"id": 1, "name": "Ada"}, {"id": 2, "name": "Grace"}}, "Contact")
		}),
	}}})
	if err != nil {
		log.Fatal(err)
	}
	if err := eng.AddConnection(ctx, nango.Connection{Integration: "crm", ID: "customer-42"}); err != nil {
		log.Fatal(err)
	}
	if _, err := eng.RunSync(ctx, "crm", "contacts", "customer-42", nil); err != nil {
		log.Fatal(err)
	}

	h, err := api.New(eng, &api.Config{SecretKeys: []string{"my-secret-key"}})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/nango/", http.StripPrefix("/nango", h))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/nango/records?model=Contact&limit=1", nil)
	req.Header.Set("Authorization", "Bearer my-secret-key")
	req.Header.Set("Connection-Id", "customer-42")
	req.Header.Set("Provider-Config-Key", "crm")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Records []struct {
			ID       string `json:"id"`
			Name     string `json:"name"`
			Metadata struct {
				LastAction string  `json:"last_action"`
				DeletedAt  *string `json:"deleted_at"`
			} `json:"_nango_metadata"`
		} `json:"records"`
		NextCursor *string `json:"next_cursor"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		log.Fatal(err)
	}
	r := page.Records[0]
	fmt.Println(resp.Status, r.ID, r.Name, r.Metadata.LastAction, r.Metadata.DeletedAt, page.NextCursor != nil)
	// Output: 200 OK 1 Ada ADDED <nil> true
}
