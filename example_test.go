package nango_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store/memory"
)

// Contact is the model of the examples.
type Contact struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
}

// newEngine returns an engine over an in-memory store that logs nothing, with one integration
// ("crm") holding sync and one connection ("acme").
func newEngine(sc nango.SyncConfig) *nango.Engine {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := nango.NewEngine(memory.New(), &nango.Config{Logger: logger})
	if err != nil {
		panic(err)
	}
	if err := eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{sc}}); err != nil {
		panic(err)
	}
	if err := eng.AddConnection(context.Background(), nango.Connection{Integration: "crm", ID: "acme"}); err != nil {
		panic(err)
	}
	return eng
}

// saveContacts is a sync that saves a fixed list of contacts; the examples change the list
// between runs as a provider's data would change.
func saveContacts(contacts *[]Contact) nango.SyncConfig {
	return nango.SyncConfig{
		Name:   "contacts",
		Models: []nango.Model{nango.ModelOf[Contact]("Contact")},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			return n.BatchSave(ctx, *contacts, "Contact")
		}),
	}
}

func printResult(res *nango.RunResult) {
	m := res.Models["Contact"]
	fmt.Printf("%s initial=%t: added %d, updated %d, deleted %d, unchanged %d\n",
		res.State, res.Initial, m.Added, m.Updated, m.Deleted, m.Unchanged)
}

func ExampleSyncFunc() {
	ctx := context.Background()
	contacts := nango.SyncConfig{
		Name:      "contacts",
		Frequency: "every hour",
		Models:    []nango.Model{nango.ModelOf[Contact]("Contact")},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			// A real sync fetches these from n.BaseURL().
			records := []Contact{
				{ID: "1", Name: "Ada Lovelace"},
				{ID: "2", Name: "Alan Turing"},
			}
			return n.BatchSave(ctx, records, "Contact")
		}),
	}
	eng := newEngine(contacts)

	res, err := eng.RunSync(ctx, "crm", "contacts", "acme", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	printResult(res)
	// Output:
	// success initial=true: added 2, updated 0, deleted 0, unchanged 0
}

func ExampleEngine_RunSync() {
	ctx := context.Background()
	data := []Contact{{ID: "1", Name: "Ada Lovelace"}, {ID: "2", Name: "Alan Turing"}}
	eng := newEngine(saveContacts(&data))

	for range 2 {
		res, err := eng.RunSync(ctx, "crm", "contacts", "acme", nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		printResult(res)
	}

	// The provider's data changes; the store works out what did.
	data = []Contact{{ID: "1", Name: "Ada King"}, {ID: "2", Name: "Alan Turing"}, {ID: "3", Name: "Grace Hopper"}}
	res, err := eng.RunSync(ctx, "crm", "contacts", "acme", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	printResult(res)

	_, err = eng.RunSync(ctx, "crm", "nope", "acme", nil)
	fmt.Println(err)
	// Output:
	// success initial=true: added 2, updated 0, deleted 0, unchanged 0
	// success initial=false: added 0, updated 0, deleted 0, unchanged 2
	// success initial=false: added 1, updated 1, deleted 0, unchanged 1
	// nango: unknown sync "nope" in integration "crm"
}

func ExampleEngine_ListRecords() {
	ctx := context.Background()
	data := []Contact{{ID: "1", Name: "Ada"}, {ID: "2", Name: "Alan"}, {ID: "3", Name: "Grace"}}
	eng := newEngine(saveContacts(&data))
	if _, err := eng.RunSync(ctx, "crm", "contacts", "acme", nil); err != nil {
		fmt.Println(err)
		return
	}

	// readChanges reads everything after cursor, two records a page, and returns the cursor to
	// keep for next time: the last record's, or the one it was given when nothing changed.
	readChanges := func(cursor string) string {
		p := nango.ListRecordsParams{Integration: "crm", Connection: "acme", Model: "Contact", Cursor: cursor, Limit: 2}
		for {
			page, err := eng.ListRecords(ctx, p)
			if err != nil {
				fmt.Println(err)
				return cursor
			}
			for _, r := range page.Records {
				fmt.Printf("  %s %s %s\n", r.Metadata.LastAction, r.ID, r.Data)
				cursor = r.Metadata.Cursor
			}
			if page.NextCursor == "" {
				return cursor
			}
			p.Cursor = page.NextCursor
		}
	}

	fmt.Println("after run 1:")
	cursor := readChanges("")

	data = []Contact{{ID: "1", Name: "Ada"}, {ID: "2", Name: "Alan Turing"}, {ID: "4", Name: "Edsger"}}
	if _, err := eng.RunSync(ctx, "crm", "contacts", "acme", nil); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("after run 2:")
	cursor = readChanges(cursor)
	fmt.Println("nothing new:")
	readChanges(cursor)
	// Output:
	// after run 1:
	//   ADDED 1 {"id":"1","name":"Ada"}
	//   ADDED 2 {"id":"2","name":"Alan"}
	//   ADDED 3 {"id":"3","name":"Grace"}
	// after run 2:
	//   UPDATED 2 {"id":"2","name":"Alan Turing"}
	//   ADDED 4 {"id":"4","name":"Edsger"}
	// nothing new:
}

func ExampleRecordsOf() {
	ctx := context.Background()
	data := []Contact{{ID: "1", Name: "Ada", Email: "ada@example.com"}, {ID: "2", Name: "Alan"}}
	eng := newEngine(saveContacts(&data))
	if _, err := eng.RunSync(ctx, "crm", "contacts", "acme", nil); err != nil {
		fmt.Println(err)
		return
	}

	var cursor string // a backend keeps this between reads
	p := nango.ListRecordsParams{Integration: "crm", Connection: "acme", Model: "Contact", Cursor: cursor}
	for rec, err := range nango.RecordsOf[Contact](ctx, eng, p) {
		if err != nil {
			fmt.Println(err)
			return
		}
		c := rec.Value // a Contact
		fmt.Printf("%s %s name=%q email=%q\n", rec.Metadata.LastAction, rec.ID, c.Name, c.Email)
		cursor = rec.Metadata.Cursor
	}
	fmt.Println("kept a cursor:", cursor != "")
	// Output:
	// ADDED 1 name="Ada" email="ada@example.com"
	// ADDED 2 name="Alan" email=""
	// kept a cursor: true
}

func ExampleWithCheckpoint() {
	ctx := context.Background()
	// The provider's contacts, in the order of their modification sequence number.
	type providerContact struct {
		Contact
		Seq int
	}
	provider := []providerContact{
		{Contact{ID: "1", Name: "Ada"}, 1},
		{Contact{ID: "2", Name: "Alan"}, 2},
		{Contact{ID: "3", Name: "Grace"}, 3},
	}
	// The checkpoint: the highest sequence number saved.
	type checkpoint struct {
		Seq int `json:"seq"`
	}

	sc := nango.SyncConfig{
		Name:   "contacts",
		Models: []nango.Model{nango.ModelOf[Contact]("Contact")},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			var cp checkpoint
			found, err := n.GetCheckpoint(ctx, &cp)
			if err != nil {
				return err
			}
			fmt.Printf("checkpoint found=%t seq=%d\n", found, cp.Seq)
			// Fetch what changed after cp.Seq, a page of two at a time.
			var changed []providerContact
			for _, c := range provider {
				if c.Seq > cp.Seq {
					changed = append(changed, c)
				}
			}
			for page := range slices.Chunk(changed, 2) {
				records := make([]Contact, len(page))
				for i, c := range page {
					records[i] = c.Contact
					cp.Seq = c.Seq
				}
				// The records and the checkpoint that covers them commit together: a run that
				// fails later resumes after this page, never past a page it did not save.
				if err := n.BatchSave(ctx, records, "Contact", nango.WithCheckpoint(cp)); err != nil {
					return err
				}
				fmt.Printf("saved %d, checkpoint seq=%d\n", len(records), cp.Seq)
			}
			return nil
		}),
	}
	eng := newEngine(sc)

	if _, err := eng.RunSync(ctx, "crm", "contacts", "acme", nil); err != nil {
		fmt.Println(err)
		return
	}
	provider = append(provider, providerContact{Contact{ID: "1", Name: "Ada King"}, 4})
	if _, err := eng.RunSync(ctx, "crm", "contacts", "acme", nil); err != nil {
		fmt.Println(err)
		return
	}
	// Output:
	// checkpoint found=false seq=0
	// saved 2, checkpoint seq=2
	// saved 1, checkpoint seq=3
	// checkpoint found=true seq=3
	// saved 1, checkpoint seq=4
}

func ExampleSyncConfig_trackDeletes() {
	ctx := context.Background()
	data := []Contact{{ID: "1", Name: "Ada"}, {ID: "2", Name: "Alan"}, {ID: "3", Name: "Grace"}}
	sc := saveContacts(&data)
	// Every run is a full sync: records that a successful run did not save are deleted.
	sc.TrackDeletes = true
	eng := newEngine(sc)

	if _, err := eng.RunSync(ctx, "crm", "contacts", "acme", nil); err != nil {
		fmt.Println(err)
		return
	}
	data = []Contact{{ID: "1", Name: "Ada"}, {ID: "3", Name: "Grace"}} // Alan is gone
	res, err := eng.RunSync(ctx, "crm", "contacts", "acme", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	printResult(res)

	deleted, err := eng.ListRecords(ctx, nango.ListRecordsParams{
		Integration: "crm", Connection: "acme", Model: "Contact", Filter: nango.FilterDeleted,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range deleted.Records {
		fmt.Println(r.Metadata.LastAction, r.ID, string(r.Data))
	}
	// Output:
	// success initial=false: added 0, updated 0, deleted 1, unchanged 2
	// DELETED 2 {"id":"2","name":"Alan"}
}

func ExampleParseFrequency() {
	for _, s := range []string{"every hour", "every 30 minutes", "every half hour", "every 2 days", "1h30m", "every 5 seconds"} {
		d, err := nango.ParseFrequency(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%q = %s\n", s, d)
	}
	// Output:
	// "every hour" = 1h0m0s
	// "every 30 minutes" = 30m0s
	// "every half hour" = 30m0s
	// "every 2 days" = 48h0m0s
	// "1h30m" = 1h30m0s
	// nango: invalid frequency "every 5 seconds": 5s is shorter than the minimum 15s
}

func ExampleParseFilter() {
	f, err := nango.ParseFilter("added,Deleted")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range []nango.Action{nango.ActionAdded, nango.ActionUpdated, nango.ActionDeleted} {
		fmt.Printf("%s: %t\n", a, f.Match(a))
	}
	fmt.Println(f == nango.FilterAdded|nango.FilterDeleted)

	_, err = nango.ParseFilter("removed")
	fmt.Println(err)
	// Output:
	// ADDED: true
	// UPDATED: false
	// DELETED: true
	// true
	// nango: invalid filter "removed": want added, updated, deleted or a comma-separated combination
}
