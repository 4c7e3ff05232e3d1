// Command quickstart runs a contacts sync end to end, in one process and in about a second.
//
// It starts a fake CRM API on loopback, registers an incremental contacts sync with an engine
// over a bbolt file, adds a connection with its API key, and runs the sync three times,
// changing the CRM's data in between. The sync calls the API through its handle (n.Paginate,
// n.Get): authenticated, rate limited and retried by the engine. After each run the program
// reads the change feed from the cursor it kept, as your backend would, and prints what
// changed. sync_test.go tests the sync with nangotest.
//
//	go run ./examples/quickstart              # store in a temporary directory, removed at exit
//	go run ./examples/quickstart -db sync.db  # keep the store file (which must not exist yet)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store/bolt"
)

const (
	integrationKey = "fakecrm"
	connectionID   = "acme"
	syncName       = "contacts"
	modelName      = "Contact"
)

func main() {
	dbPath := flag.String("db", "", "bbolt `file` to create and keep the store in (default: a temporary file, removed at exit)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Stdout, *dbPath)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run is the whole program; main only parses flags.
func run(ctx context.Context, out io.Writer, dbPath string) error {
	api := newCRM()
	api.add(25)
	srv := httptest.NewServer(api.handler())
	defer srv.Close()

	where := "a bbolt file in a temporary directory (removed at exit)"
	if dbPath == "" {
		dir, err := os.MkdirTemp("", "nango-quickstart-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dbPath = filepath.Join(dir, "nango.db")
	} else {
		// The fake CRM starts afresh on every run of the program; a store left by an earlier
		// one would not match it.
		if _, err := os.Stat(dbPath); !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s already exists: remove it or choose another -db path", dbPath)
		}
		where = "bbolt file " + dbPath
	}
	st, err := bolt.Open(dbPath, nil)
	if err != nil {
		return err
	}
	defer st.Close()

	// Warnings and errors only, so that the output below stays readable.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng, err := nango.NewEngine(st, &nango.Config{Logger: logger})
	if err != nil {
		return err
	}
	contacts := &contactsSync{}
	if err := eng.RegisterIntegration(integration(srv.URL, contacts)); err != nil {
		return err
	}
	// The connection is the customer's account at the CRM, with its API key.
	err = eng.AddConnection(ctx, nango.Connection{Integration: integrationKey, ID: connectionID, Credentials: &nango.Credentials{APIKey: apiKey}})
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "Fake CRM with %d contacts. Store: %s.\n", len(api.contacts), where)

	steps := []struct {
		change string // what the CRM's users did before the run
		do     func() // does it
		show   int    // feed records to print; -1 for all
	}{
		{show: 3},
		{
			change: "added ct_026..ct_028, changed ct_003's email and ct_007's company, deleted ct_012",
			do: func() {
				api.add(3)
				api.update("ct_003", func(c *crmContact) { c.Email = "grace@navy.example.com" })
				api.update("ct_007", func(c *crmContact) { c.Company = "IBM" })
				api.remove("ct_012")
			},
			show: -1,
		},
		{
			change: "added ct_029, renamed ct_026, touched ct_005 without changing it, deleted ct_027",
			do: func() {
				api.add(1)
				api.update("ct_026", func(c *crmContact) { c.LastName = "Knuth" })
				api.touch("ct_005")
				api.remove("ct_027")
			},
			show: -1,
		},
	}
	feedCursor := "" // the backend's bookmark in the change feed
	for i, step := range steps {
		fmt.Fprintln(out)
		if step.do != nil {
			step.do()
			fmt.Fprintf(out, "CRM: %s\n", step.change)
		}
		res, err := eng.RunSync(ctx, integrationKey, syncName, connectionID, nil)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		f := contacts.last
		from := "initial, no checkpoint"
		if !res.Initial {
			from = "checkpoint: updated_after " + f.From.UpdatedAfter.Format(time.RFC3339)
			if !f.From.DeletedSince.IsZero() {
				from += ", deleted_since " + f.From.DeletedSince.Format(time.RFC3339)
			}
		}
		fmt.Fprintf(out, "Run %d (%s)\n", i+1, from)
		fmt.Fprintf(out, "  API:    %s in %s, %s\n", plural(f.Contacts, "contact"), plural(f.Pages, "page"), plural(f.Deleted, "deleted id"))
		m := res.Models[modelName]
		fmt.Fprintf(out, "  result: added %d, updated %d, deleted %d, unchanged %d\n", m.Added, m.Updated, m.Deleted, m.Unchanged)

		// The backend's side: everything after the cursor it kept, then keep the newest cursor.
		var recs []nango.TypedRecord[Contact]
		for rec, err := range nango.RecordsOf[Contact](ctx, eng, nango.ListRecordsParams{
			Integration: integrationKey, Connection: connectionID, Model: modelName, Cursor: feedCursor,
		}) {
			if err != nil {
				return fmt.Errorf("run %d: reading the change feed: %w", i+1, err)
			}
			recs = append(recs, rec)
			feedCursor = rec.Metadata.Cursor
		}
		count := map[nango.Action]int{}
		for _, r := range recs {
			count[r.Metadata.LastAction]++
		}
		var counts []string
		for _, a := range []nango.Action{nango.ActionAdded, nango.ActionUpdated, nango.ActionDeleted} {
			if count[a] > 0 {
				counts = append(counts, fmt.Sprintf("%d %s", count[a], a))
			}
		}
		since := "the last cursor"
		if i == 0 {
			since = "the start"
		}
		fmt.Fprintf(out, "  feed:   %s since %s: %s\n", plural(len(recs), "record"), since, strings.Join(counts, ", "))
		shown := recs
		if step.show >= 0 && step.show < len(recs) {
			shown = recs[:step.show]
		}
		for _, r := range shown {
			c := r.Value
			fmt.Fprintf(out, "    %-8s %s  %-24s %-32s %s\n", r.Metadata.LastAction, c.ID, c.FirstName+" "+c.LastName, c.Email, c.Company)
		}
		if len(shown) < len(recs) {
			fmt.Fprintf(out, "    ... and %d more\n", len(recs)-len(shown))
		}
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Contacts saved unchanged (re-fetched at the watermark, or touched) and ids deleted earlier never reach the feed.")
	return nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
