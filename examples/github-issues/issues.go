package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gonango/nango"
)

const (
	integrationKey = "github"
	syncName       = "issues"
	modelName      = "GitHubIssue"
)

// Issue is the model the sync saves: the fields the app needs, flattened.
type Issue struct {
	// ID is the issue's number: unique within its repository, and what people quote.
	ID        string     `json:"id"`
	Number    int        `json:"number"`
	Title     string     `json:"title"`
	State     string     `json:"state"`
	Author    string     `json:"author"`
	Labels    []string   `json:"labels"`
	Comments  int        `json:"comments"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	ClosedAt  *time.Time `json:"closed_at"`
	URL       string     `json:"url"`
}

// ghIssue is an item of GitHub's "list repository issues" endpoint, which lists pull requests
// too (with a pull_request member).
type ghIssue struct {
	Number int    `json:"number"`
	Title  string `json:"title"`
	State  string `json:"state"`
	User   struct {
		Login string `json:"login"`
	} `json:"user"`
	Labels []struct {
		Name string `json:"name"`
	} `json:"labels"`
	Comments    int        `json:"comments"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	ClosedAt    *time.Time `json:"closed_at"`
	HTMLURL     string     `json:"html_url"`
	PullRequest *struct{}  `json:"pull_request,omitempty"`
}

func (g ghIssue) model() Issue {
	labels := make([]string, len(g.Labels))
	for i, l := range g.Labels {
		labels[i] = l.Name
	}
	return Issue{
		ID: strconv.Itoa(g.Number), Number: g.Number, Title: g.Title, State: g.State, Author: g.User.Login,
		Labels: labels, Comments: g.Comments, CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt, ClosedAt: g.ClosedAt, URL: g.HTMLURL,
	}
}

// connectionMeta is the connection's metadata: which repository to sync.
type connectionMeta struct {
	Repo string `json:"repo"` // owner/name
}

// fetchStats is what one run fetched, for the program's output.
type fetchStats struct {
	Pages        int
	Items        int
	PullRequests int
}

// issuesSync is a full sync of a repository's issues: every run lists them all, and the
// engine (TrackDeletes) marks DELETED the ones a successful run did not see.
type issuesSync struct {
	mu   sync.Mutex
	last fetchStats // of the latest run
}

func (s *issuesSync) Exec(ctx context.Context, n *nango.Nango) error {
	var meta connectionMeta
	if _, err := n.GetMetadata(ctx, &meta); err != nil {
		return err
	}
	owner, repo, ok := strings.Cut(meta.Repo, "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return fmt.Errorf("connection %q: metadata repo %q is not owner/name", n.ConnectionID(), meta.Repo)
	}
	var st fetchStats
	req := &nango.Request{
		Path:  "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo) + "/issues",
		Query: url.Values{"state": {"all"}, "sort": {"created"}, "direction": {"asc"}},
	}
	// GitHub pages with Link headers; 100 is its largest page size.
	for page, err := range n.Paginate(ctx, req, nango.LinkPagination{Limit: 100, LimitParam: "per_page"}) {
		if err != nil {
			return err
		}
		var items []ghIssue
		if err := page.DecodeItems(&items); err != nil {
			return err
		}
		st.Pages++
		st.Items += len(items)
		issues := make([]Issue, 0, len(items))
		for _, it := range items {
			if it.PullRequest != nil {
				st.PullRequests++
				continue
			}
			issues = append(issues, it.model())
		}
		if err := n.BatchSave(ctx, issues, modelName); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.last = st
	s.mu.Unlock()
	return nil
}

func (s *issuesSync) stats() fetchStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// integration declares GitHub: the REST API at baseURL, a token sent as a bearer token, the
// API version header, and GitHub's rate-limit headers (when X-RateLimit-Remaining reaches 0,
// the connection waits until X-RateLimit-Reset).
func integration(baseURL string, s nango.Sync) nango.Integration {
	return nango.Integration{
		Key:     integrationKey,
		BaseURL: baseURL,
		Auth:    nango.APIKey{}, // Authorization: Bearer <token>
		HTTP: &nango.HTTPConfig{
			Header:    http.Header{"Accept": {"application/vnd.github+json"}, "X-Github-Api-Version": {"2022-11-28"}},
			RateLimit: &nango.RateLimit{RemainingHeader: "X-RateLimit-Remaining", ResetHeader: "X-RateLimit-Reset"},
		},
		Syncs: []nango.SyncConfig{{
			Name:         syncName,
			Description:  "A repository's issues (not its pull requests), in full, with deletions",
			Frequency:    "every hour",
			TrackDeletes: true,
			Models:       []nango.Model{nango.ModelOf[Issue](modelName)},
			Sync:         s,
		}},
	}
}
