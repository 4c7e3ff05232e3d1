package ui

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
)

// syncData is the data of the page of a sync on a connection.
type syncData struct {
	Status  nango.SyncStatus
	Config  nango.SyncConfig
	Runs    []*nango.Run
	Before  string // the history page's start ("" for the newest)
	Older   string // the id to continue after, "" when this is the last page
	Path    string // the page's path under Base
	Running bool
	// Events is the path of the page's live stream; Progress the run in progress, if any.
	Events   string
	Progress *nango.RunProgress
}

// target reads the integration, sync and connection of the path and checks that they exist.
func (h *Handler) target(w http.ResponseWriter, r *http.Request) (*nango.SyncStatus, *nango.SyncConfig, bool) {
	in, sn, conn := r.PathValue("integration"), r.PathValue("sync"), r.PathValue("connection")
	sts, err := h.eng.Status(r.Context(), nango.SyncSelector{Integration: in, Syncs: []string{sn}, Connection: conn})
	if err != nil {
		switch {
		case errors.Is(err, nango.ErrUnknownIntegration):
			h.fail(w, r, http.StatusNotFound, fmt.Sprintf("There is no integration %q.", in))
		case errors.Is(err, nango.ErrUnknownSync):
			h.fail(w, r, http.StatusNotFound, fmt.Sprintf("Integration %q has no sync %q.", in, sn))
		case errors.Is(err, nango.ErrUnknownConnection):
			h.fail(w, r, http.StatusNotFound, fmt.Sprintf("There is no connection %q in integration %q.", conn, in))
		default:
			h.engineError(w, r, err)
		}
		return nil, nil, false
	}
	for _, i := range h.eng.Integrations() {
		if i.Key != in {
			continue
		}
		for _, sc := range i.Syncs {
			if sc.Name == sn {
				return &sts[0], &sc, true
			}
		}
	}
	h.fail(w, r, http.StatusNotFound, fmt.Sprintf("Integration %q has no sync %q.", in, sn))
	return nil, nil, false
}

func syncPath(integration, syncName, connection string) string {
	return "/s/" + url.PathEscape(integration) + "/" + url.PathEscape(syncName) + "/" + url.PathEscape(connection)
}

// flashes are the answers to the sync page's buttons, by the code in ?done=. A fixed set, so
// that a link cannot make the page say anything else.
var flashes = map[string]struct {
	text string
	bad  bool
}{
	"triggered":          {"Triggered: the run starts as soon as a slot is free.", false},
	"reset":              {"Reset: the checkpoint and deletion tracking are cleared when the run starts, and it starts over as an initial run.", false},
	"reset_empty":        {"Reset with an empty cache: the records are removed when the run starts and come back as ADDED.", false},
	"already_running":    {"Already running: a run of this sync is in progress or queued for this connection, so nothing was triggered.", true},
	"not_running":        {"Nothing was triggered: the engine's scheduler is not running (the service must call Engine.Run).", true},
	"paused":             {"Paused: no more scheduled runs. A run in progress finishes.", false},
	"already_paused":     {"Already paused: nothing changed.", false},
	"started":            {"Started: the sync is scheduled again, and a run starts now.", false},
	"already_started":    {"Already scheduled: nothing changed.", false},
	"frequency_set":      {"Frequency override saved.", false},
	"frequency_reverted": {"Frequency override removed: the sync's own frequency applies.", false},
}

func (h *Handler) syncPage(w http.ResponseWriter, r *http.Request) {
	st, sc, ok := h.target(w, r)
	if !ok {
		return
	}
	d := &syncData{Status: *st, Config: *sc, Before: r.URL.Query().Get("before"),
		Path: syncPath(st.Integration, st.Sync, st.Connection), Running: st.Status == nango.StatusRunning}
	runs, err := h.eng.RunHistory(r.Context(), nango.RunHistoryParams{Integration: st.Integration, Sync: st.Sync,
		Connection: st.Connection, Limit: h.pageSize + 1, Before: d.Before})
	if d.Before != "" && errors.Is(err, store.ErrNotFound) {
		h.fail(w, r, http.StatusBadRequest, fmt.Sprintf("There is no run %q to continue the history after. Start again from the newest runs.", d.Before))
		return
	}
	if err != nil {
		h.engineError(w, r, err)
		return
	}
	if len(runs) > h.pageSize {
		runs = runs[:h.pageSize]
		d.Older = runs[len(runs)-1].ID
	}
	d.Runs = runs
	latest, running := "", "0"
	if st.LatestRun != nil {
		latest = st.LatestRun.ID
		if d.Running {
			running = "1"
			d.Progress, _ = h.eng.RunProgress(latest)
		}
	}
	d.Events = d.Path + "/events?run=" + url.QueryEscape(latest) + "&running=" + running
	p := h.newPage(w, r, st.Sync+" · "+st.Connection, "overview", d)
	if f, ok := flashes[r.URL.Query().Get("done")]; ok {
		p.Flash, p.Error = f.text, f.bad
		if strings.HasPrefix(r.URL.Query().Get("done"), "frequency_set") {
			p.Flash += " This sync now runs " + st.Frequency + " for this connection."
		}
	}
	h.render(w, r, http.StatusOK, "sync", p)
}

// actions are the buttons of the sync page, with what their confirmation says.
var actions = map[string]struct {
	title, explain, button string
}{
	"trigger": {"Trigger a run", "Run this sync for this connection now, from its checkpoint, ahead of its schedule.", "Trigger now"},
	"reset": {"Reset and run", "Clear the checkpoint and the deletion tracking, then run the sync from the start as an initial run. " +
		"The records stay; the run updates them.", "Reset and run"},
	"reset_empty": {"Reset with an empty cache", "Clear the checkpoint and remove every record of this sync's models for this " +
		"connection for good, then run from the start: the records come back as ADDED, and cursors your backend holds " +
		"become invalid.", "Empty the cache and run"},
	"pause":     {"Pause", "Stop scheduling this sync for this connection. A run in progress finishes.", "Pause"},
	"start":     {"Start", "Schedule this sync for this connection again, and run it now.", "Start"},
	"frequency": {"Change the frequency", "Override how often this sync runs for this connection.", "Save the frequency"},
}

// confirmData is the data of the confirmation page.
type confirmData struct {
	Action, Title, Explain, Button string
	Frequency                      string
	Status                         nango.SyncStatus
	Path                           string
}

// syncAction runs a button of the sync page: a first POST asks for confirmation, the second
// (confirmed=yes) acts and goes back to the page with what happened.
func (h *Handler) syncAction(w http.ResponseWriter, r *http.Request) {
	st, _, ok := h.target(w, r)
	if !ok {
		return
	}
	action := r.PostFormValue("action")
	a, known := actions[action]
	if !known {
		h.fail(w, r, http.StatusBadRequest, fmt.Sprintf("%q is not something this page can do.", action))
		return
	}
	freq := strings.TrimSpace(r.PostFormValue("frequency"))
	path := syncPath(st.Integration, st.Sync, st.Connection)
	if action == "frequency" {
		if freq != "" {
			if _, err := nango.ParseFrequency(freq); err != nil {
				h.fail(w, r, http.StatusBadRequest, sentence(err))
				return
			}
			a.explain = fmt.Sprintf("Run this sync %s for this connection instead of %s.", freq, st.Frequency)
		} else {
			a.explain = "Remove this connection's frequency override: the sync's own frequency applies again."
		}
	}
	if r.PostFormValue("confirmed") != "yes" {
		h.render(w, r, http.StatusOK, "confirm", h.newPage(w, r, a.title, "overview", &confirmData{
			Action: action, Title: a.title, Explain: a.explain, Button: a.button, Frequency: freq, Status: *st, Path: path,
		}))
		return
	}
	sel := nango.SyncSelector{Integration: st.Integration, Syncs: []string{st.Sync}, Connection: st.Connection}
	var err error
	done := action
	switch action {
	case "trigger", "reset", "reset_empty":
		err = h.eng.Trigger(r.Context(), nango.TriggerParams{SyncSelector: sel, Reset: action != "trigger", EmptyCache: action == "reset_empty"})
		switch {
		case errors.Is(err, nango.ErrRunActive):
			err, done = nil, "already_running"
		case errors.Is(err, nango.ErrEngineNotRunning):
			err, done = nil, "not_running"
		}
		if action == "trigger" && done == action {
			done = "triggered"
		}
	case "pause":
		if st.Status == nango.StatusPaused {
			done = "already_paused"
		} else {
			done = "paused"
			err = h.eng.Pause(r.Context(), sel)
		}
	case "start":
		if st.Status != nango.StatusPaused {
			done = "already_started"
		} else {
			done = "started"
			err = h.eng.Start(r.Context(), sel)
		}
	case "frequency":
		done = "frequency_set"
		if freq == "" {
			done = "frequency_reverted"
		}
		err = h.eng.SetFrequency(r.Context(), st.Integration, st.Sync, st.Connection, freq)
	}
	if err != nil {
		h.engineError(w, r, err)
		return
	}
	http.Redirect(w, r, h.base(r)+path+"?done="+done, http.StatusSeeOther)
}

// runData is the data of a run's page.
type runData struct {
	Run      *nango.Run
	Path     string // the sync page's path under Base
	Panic    string // the panic's stack, when the sync panicked
	Log      []string
	Running  bool
	Duration string
	Events   string
	Progress *nango.RunProgress
}

func (h *Handler) runPage(w http.ResponseWriter, r *http.Request) {
	st, _, ok := h.target(w, r)
	if !ok {
		return
	}
	id := r.PathValue("run")
	run, err := h.eng.Store().RunGet(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && run.Key != store.SyncKey{Integration: st.Integration, Sync: st.Sync, Connection: st.Connection}) {
		h.fail(w, r, http.StatusNotFound, fmt.Sprintf("Sync %q has no run %q for connection %q.", st.Sync, id, st.Connection))
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	d := &runData{Run: run, Path: syncPath(st.Integration, st.Sync, st.Connection), Running: run.State == nango.RunRunning}
	for _, line := range run.Log {
		if msg, stack, ok := strings.Cut(line, " stack="); ok && strings.Contains(msg, "sync panicked") {
			d.Panic = stack
			line = msg + " (stack below)"
		}
		d.Log = append(d.Log, line)
	}
	if !run.EndedAt.IsZero() {
		d.Duration = dur(run.EndedAt.Sub(run.StartedAt))
	}
	if d.Running {
		d.Progress, _ = h.eng.RunProgress(run.ID)
		d.Events = d.Path + "/events?run=" + url.QueryEscape(run.ID) + "&running=1"
	}
	h.render(w, r, http.StatusOK, "run", h.newPage(w, r, "Run "+run.ID, "overview", d))
}
