package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"time"
)

// funcs are the template functions.
var funcs = template.FuncMap{
	"lower":      func(s any) string { return strings.ToLower(fmt.Sprint(s)) },
	"when":       when,
	"dur":        dur,
	"esc":        url.PathEscape,
	"q":          url.QueryEscape,
	"json":       prettyJSON,
	"add":        func(a, b int) int { return a + b },
	"displayURL": displayURL,
	"args": func(p *page, action, label, class string) actionArgs {
		return actionArgs{P: p, Action: action, Label: label, Class: class}
	},
}

// actionArgs are the arguments of the "action" template: a button of the sync page.
type actionArgs struct {
	P                    *page
	Action, Label, Class string
}

// when writes a time in UTC to the second; the zero time is a dash.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// dur writes a duration rounded for people.
func dur(d time.Duration) string {
	switch {
	case d < 0:
		return "—"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// prettyJSON indents JSON for a <pre>; what does not parse is shown as it is.
func prettyJSON(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

// parsePages parses each page template with the layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		if path.Base(n) == "layout.html" {
			continue
		}
		t, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("ui: parsing %s: %w", n, err)
		}
		pages[strings.TrimSuffix(path.Base(n), ".html")] = t
	}
	return pages, nil
}
