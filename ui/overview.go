package ui

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gonango/nango"
)

// states are the sync states the overview filters by, as the engine reports them.
var states = []string{nango.StatusRunning, nango.StatusPaused, nango.StatusStopped, nango.StatusSuccess, nango.StatusError}

// overviewData is the data of the overview page.
type overviewData struct {
	Integrations []nango.Integration
	Syncs        int
	Connections  int
	Schedules    int // syncs times connections: the rows of the unfiltered list
	Webhooks     *nango.WebhookStats

	Integration string // the filters
	State       string
	States      []string

	Rows []nango.SyncStatus
	// From is where this page starts in the unfiltered list; Next where the next one does
	// (0: none); Prev where the previous one does (-1: this is the first).
	From, Next, Prev int
	Scanned          int // with a state filter, how far this page looked
	PageSize         int
}

// syncKey names a sync of a connection.
type syncKey struct{ integration, sync, connection string }

// overview serves the home page: every sync of every connection with its state, one page at a
// time. Only the page's rows are read in full; a state filter reads rows until the page is full.
func (h *Handler) overview(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := &overviewData{Integrations: h.eng.Integrations(), Integration: q.Get("integration"), States: states, Prev: -1, PageSize: h.pageSize}
	if d.Integration != "" && !slices.ContainsFunc(d.Integrations, func(in nango.Integration) bool { return in.Key == d.Integration }) {
		h.fail(w, r, http.StatusNotFound, fmt.Sprintf("There is no integration %q.", d.Integration))
		return
	}
	if s := q.Get("state"); s != "" {
		d.State = strings.ToUpper(s)
		if !slices.Contains(states, d.State) {
			h.fail(w, r, http.StatusBadRequest, fmt.Sprintf("%q is not a state: choose running, paused, stopped, success or error.", s))
			return
		}
	}
	if s := q.Get("from"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			h.fail(w, r, http.StatusBadRequest, fmt.Sprintf("%q is not a position in the list: the from parameter takes a number from 0.", s))
			return
		}
		d.From = n
	}
	var keys []syncKey
	for _, in := range d.Integrations {
		d.Syncs += len(in.Syncs)
		if d.Integration != "" && in.Key != d.Integration {
			continue
		}
		conns, err := h.eng.Store().ConnectionList(r.Context(), in.Key)
		if err != nil {
			h.internal(w, r, fmt.Errorf("ui: listing connections of %s: %w", in.Key, err))
			return
		}
		d.Connections += len(conns)
		for _, c := range conns {
			for _, sc := range in.Syncs {
				keys = append(keys, syncKey{in.Key, sc.Name, c.ID})
			}
		}
	}
	d.Schedules = len(keys)
	var err error
	if d.Webhooks, err = h.eng.WebhookStats(r.Context()); err != nil {
		h.internal(w, r, err)
		return
	}
	// A state filter reads the state of each row until the page is full, but at most
	// scanPages pages' worth of rows per request: the page then offers to look further.
	const scanPages = 20
	i := min(d.From, len(keys))
	end := min(len(keys), i+scanPages*h.pageSize)
	for ; i < end && len(d.Rows) < h.pageSize; i++ {
		k := keys[i]
		sts, err := h.eng.Status(r.Context(), nango.SyncSelector{Integration: k.integration, Syncs: []string{k.sync}, Connection: k.connection})
		if err != nil {
			h.engineError(w, r, err)
			return
		}
		if d.State == "" || sts[0].Status == d.State {
			d.Rows = append(d.Rows, sts[0])
		}
	}
	d.Scanned = i
	if i < len(keys) {
		d.Next = i
	}
	if d.From > 0 && d.State == "" {
		d.Prev = max(0, d.From-h.pageSize)
	} else if d.From > 0 {
		d.Prev = 0 // a filtered list goes back to its start
	}
	h.render(w, r, http.StatusOK, "overview", h.newPage(w, r, "Overview", "overview", d))
}
