package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"
)

// fakeGitHub serves GET /repos/{owner}/{repo}/issues as GitHub's REST API does, for one
// repository: bearer-token authentication, state/sort/direction/per_page/page parameters, Link
// headers and X-RateLimit-* headers. It serves at most pageMax items a page (GitHub: 100), so
// that a small repository still has several pages.
type fakeGitHub struct {
	owner, repo, token string
	pageMax            int

	mu        sync.Mutex
	issues    []fakeIssue // by number
	remaining int
	requests  int
}

type fakeIssue struct {
	Number    int
	Title     string
	State     string
	Author    string
	Labels    []string
	Comments  int
	CreatedAt time.Time
	UpdatedAt time.Time
	ClosedAt  *time.Time
	PR        bool
}

var fakeStart = time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)

func newFakeGitHub(owner, repo, token string) *fakeGitHub {
	g := &fakeGitHub{owner: owner, repo: repo, token: token, pageMax: 5, remaining: 5000}
	titles := []string{
		"Crash when the config file is empty", "Support proxies", "Docs: typo in README", "Add a --verbose flag",
		"Windows paths are mangled", "Improve error on missing token", "Old Go versions fail to build",
		"Progress bar flickers", "Retry on 502", "Export to CSV", "Dark mode for the web UI", "Timeouts are too short",
	}
	for i, t := range titles {
		g.add(t, fakeStart.Add(time.Duration(i)*time.Hour), false)
		if i%4 == 1 {
			g.add("Pull request for: "+t, fakeStart.Add(time.Duration(i)*time.Hour+time.Minute), true)
		}
	}
	return g
}

func (g *fakeGitHub) add(title string, at time.Time, pr bool) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := len(g.issues) + 1
	if len(g.issues) > 0 {
		n = g.issues[len(g.issues)-1].Number + 1
	}
	labels := []string{}
	if n%3 == 0 {
		labels = append(labels, "bug")
	}
	g.issues = append(g.issues, fakeIssue{Number: n, Title: title, State: "open", Author: fmt.Sprintf("user%d", n%4),
		Labels: labels, CreatedAt: at, UpdatedAt: at, PR: pr})
	return n
}

func (g *fakeGitHub) update(number int, at time.Time, change func(*fakeIssue)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range g.issues {
		if g.issues[i].Number == number {
			change(&g.issues[i])
			g.issues[i].UpdatedAt = at
			return
		}
	}
	panic(fmt.Sprintf("no issue #%d", number))
}

// remove deletes an issue, as a repository admin can.
func (g *fakeGitHub) remove(number int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.issues = slices.DeleteFunc(g.issues, func(i fakeIssue) bool { return i.Number == number })
}

func (g *fakeGitHub) counts() (issues, prs int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, i := range g.issues {
		if i.PR {
			prs++
		} else {
			issues++
		}
	}
	return issues, prs
}

var issuesPath = regexp.MustCompile(`^/repos/([^/]+)/([^/]+)/issues$`)

func (g *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests++
	if r.Header.Get("Authorization") != "Bearer "+g.token {
		ghError(w, http.StatusUnauthorized, "Bad credentials")
		return
	}
	g.remaining--
	w.Header().Set("X-RateLimit-Limit", "5000")
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(g.remaining))
	w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
	m := issuesPath.FindStringSubmatch(r.URL.Path)
	if r.Method != http.MethodGet || m == nil || m[1] != g.owner || m[2] != g.repo {
		ghError(w, http.StatusNotFound, "Not Found")
		return
	}
	q := r.URL.Query()
	perPage, page := 30, 1
	if v := q.Get("per_page"); v != "" {
		perPage, _ = strconv.Atoi(v)
	}
	if v := q.Get("page"); v != "" {
		page, _ = strconv.Atoi(v)
	}
	perPage = min(max(perPage, 1), g.pageMax)
	page = max(page, 1)
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	var list []fakeIssue
	for _, i := range g.issues {
		if state == "all" || i.State == state {
			list = append(list, i)
		}
	}
	if q.Get("direction") == "desc" {
		slices.Reverse(list)
	}
	last := max((len(list)+perPage-1)/perPage, 1)
	from, to := min((page-1)*perPage, len(list)), min(page*perPage, len(list))
	link := func(p int, rel string) string {
		lq := url.Values{}
		for k, v := range q {
			lq[k] = v
		}
		lq.Set("per_page", strconv.Itoa(perPage))
		lq.Set("page", strconv.Itoa(p))
		return fmt.Sprintf(`<http://%s%s?%s>; rel="%s"`, r.Host, r.URL.Path, lq.Encode(), rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"), link(page-1, "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", joinLinks(links))
	}
	out := make([]map[string]any, 0, to-from)
	for _, i := range list[from:to] {
		labels := make([]map[string]any, len(i.Labels))
		for j, l := range i.Labels {
			labels[j] = map[string]any{"name": l, "color": "d73a4a"}
		}
		htmlURL := fmt.Sprintf("https://github.com/%s/%s/issues/%d", g.owner, g.repo, i.Number)
		item := map[string]any{
			"id": 1000 + i.Number, "node_id": fmt.Sprintf("I_kwDO%d", i.Number), "number": i.Number, "title": i.Title,
			"state": i.State, "user": map[string]any{"login": i.Author}, "labels": labels, "comments": i.Comments,
			"created_at": i.CreatedAt, "updated_at": i.UpdatedAt, "closed_at": i.ClosedAt, "html_url": htmlURL,
		}
		if i.PR {
			item["pull_request"] = map[string]any{"url": htmlURL}
		}
		out = append(out, item)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(out)
}

func joinLinks(links []string) string {
	s := links[0]
	for _, l := range links[1:] {
		s += ", " + l
	}
	return s
}

func ghError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg, "documentation_url": "https://docs.github.com/rest"})
}
