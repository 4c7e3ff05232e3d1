// Command github-issues keeps a local copy of a GitHub repository's issues: a full sync with
// TrackDeletes over GitHub's REST API, paged by Link headers, authenticated with a token, and
// throttled by GitHub's rate-limit headers.
//
// By default it runs against a built-in fake GitHub API on loopback: it syncs a repository,
// changes it (closes, edits, deletes and opens issues), syncs again and shows what the change
// feed reports after each run. With -token and -repo it runs once against the real API.
//
//	go run ./examples/github-issues                                    # the fake API
//	go run ./examples/github-issues -token "$GITHUB_TOKEN" -repo golang/go
//
// The store is a bbolt file in a temporary directory, removed at exit, unless -db names one.
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
	connectionID = "acme"
	fakeToken    = "ghp_fakeTokenForTheBuiltInAPI0000000000"
)

// options are the program's flags.
type options struct {
	token   string // a GitHub token; with repo, the real API
	repo    string // owner/name
	dbPath  string
	baseURL string       // the API; defaults to https://api.github.com
	logger  *slog.Logger // defaults to warnings on stderr
}

func main() {
	var o options
	flag.StringVar(&o.token, "token", "", "GitHub `token` (with -repo: sync the real API)")
	flag.StringVar(&o.repo, "repo", "", "`owner/name` of the repository to sync from the real API")
	flag.StringVar(&o.dbPath, "db", "", "bbolt `file` to keep the store in (default: a temporary file, removed at exit)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Stdout, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "github-issues:", err)
		os.Exit(1)
	}
}

// step is one run of the program, with the change made to the repository before it.
type step struct {
	change string
	do     func()
	show   int // feed records to print; -1 for all
}

func run(ctx context.Context, out io.Writer, o options) error {
	if (o.token == "") != (o.repo == "") {
		return errors.New("give both -token and -repo for the real API, or neither for the built-in fake")
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	var fake *fakeGitHub
	steps := []step{{show: 10}}
	if o.token == "" {
		fake = newFakeGitHub("octo", "hello", fakeToken)
		srv := httptest.NewServer(fake)
		defer srv.Close()
		o.token, o.repo, o.baseURL = fakeToken, "octo/hello", srv.URL
		steps = fakeSteps(fake)
	}
	if o.baseURL == "" {
		o.baseURL = "https://api.github.com"
	}

	where := "a bbolt file in a temporary directory (removed at exit)"
	if o.dbPath == "" {
		dir, err := os.MkdirTemp("", "nango-github-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.dbPath = filepath.Join(dir, "nango.db")
	} else {
		if _, err := os.Stat(o.dbPath); fake != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s already exists: the fake API starts afresh, remove it or choose another -db path", o.dbPath)
		}
		where = "bbolt file " + o.dbPath
	}
	st, err := bolt.Open(o.dbPath, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	eng, err := nango.NewEngine(st, &nango.Config{Logger: o.logger})
	if err != nil {
		return err
	}
	issues := &issuesSync{}
	if err := eng.RegisterIntegration(integration(o.baseURL, issues)); err != nil {
		return err
	}
	// The token is stored with the connection and sent only to the API's origin; it never
	// appears in logs or errors.
	err = eng.AddConnection(ctx, nango.Connection{
		Integration: integrationKey, ID: connectionID,
		Metadata:    connectionMeta{Repo: o.repo},
		Credentials: &nango.Credentials{APIKey: o.token},
	})
	if err != nil {
		return err
	}

	if fake != nil {
		n, prs := fake.counts()
		fmt.Fprintf(out, "Fake GitHub API: %s with %d issues and %d pull requests. Store: %s.\n", o.repo, n, prs, where)
	} else {
		fmt.Fprintf(out, "GitHub API: %s. Store: %s.\n", o.repo, where)
	}
	feedCursor := ""
	for i, s := range steps {
		fmt.Fprintln(out)
		if s.do != nil {
			s.do()
			fmt.Fprintf(out, "GitHub: %s\n", s.change)
		}
		start := time.Now()
		res, err := eng.RunSync(ctx, integrationKey, syncName, connectionID, nil)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		f := issues.stats()
		kind := "full sync"
		if res.Initial {
			kind = "initial full sync"
		}
		fmt.Fprintf(out, "Run %d (%s)\n", i+1, kind)
		fmt.Fprintf(out, "  API:    %s, %s, %s skipped\n", plural(f.Pages, "page"), plural(f.Items, "item"), plural(f.PullRequests, "pull request"))
		m := res.Models[modelName]
		fmt.Fprintf(out, "  result: added %d, updated %d, deleted %d, unchanged %d\n", m.Added, m.Updated, m.Deleted, m.Unchanged)
		if fake == nil {
			fmt.Fprintf(out, "  took:   %s\n", time.Since(start).Round(time.Millisecond))
		}

		var recs []nango.TypedRecord[Issue]
		for rec, err := range nango.RecordsOf[Issue](ctx, eng, nango.ListRecordsParams{
			Integration: integrationKey, Connection: connectionID, Model: modelName, Cursor: feedCursor,
		}) {
			if err != nil {
				return fmt.Errorf("run %d: reading the change feed: %w", i+1, err)
			}
			recs = append(recs, rec)
			feedCursor = rec.Metadata.Cursor
		}
		since := "the last cursor"
		if i == 0 {
			since = "the start"
		}
		fmt.Fprintf(out, "  feed:   %s since %s\n", plural(len(recs), "record"), since)
		shown := recs
		if s.show >= 0 && s.show < len(recs) {
			shown = recs[:s.show]
		}
		for _, r := range shown {
			is := r.Value
			fmt.Fprintf(out, "    %-8s #%-4d %-7s %s\n", r.Metadata.LastAction, is.Number, is.State, is.Title)
		}
		if len(shown) < len(recs) {
			fmt.Fprintf(out, "    ... and %d more\n", len(recs)-len(shown))
		}
	}
	return nil
}

// fakeSteps are the runs against the fake API: the initial sync, then one after changes.
func fakeSteps(g *fakeGitHub) []step {
	later := fakeStart.Add(100 * time.Hour)
	return []step{
		{show: 3},
		{
			change: "closed #2, retitled #4, deleted #6, opened an issue and a pull request",
			do: func() {
				g.update(2, later, func(i *fakeIssue) { i.State = "closed"; i.ClosedAt = &later })
				g.update(4, later, func(i *fakeIssue) { i.Title = "Docs: typos in README and CONTRIBUTING" })
				g.remove(6)
				g.add("Sync stops at 10,000 pages", later, false)
				g.add("Pull request for: pagination limit", later, true)
			},
			show: -1,
		},
	}
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, strings.TrimSuffix(noun, "s"))
}
