package ui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gonango/nango"
)

// liveInterval is how often a live stream looks at its sync when no write woke it up, and
// keepAlive how often it writes a comment to keep the connection open.
const (
	liveInterval = time.Second
	keepAlive    = 15 * time.Second
)

// progressEvent is the data of a "progress" event.
type progressEvent struct {
	RunID   string       `json:"run_id"`
	Elapsed string       `json:"elapsed"`
	Models  []modelCount `json:"models"`
	Log     []string     `json:"log"`
}

type modelCount struct {
	Model     string `json:"model"`
	Added     int    `json:"added"`
	Updated   int    `json:"updated"`
	Deleted   int    `json:"deleted"`
	Unchanged int    `json:"unchanged"`
}

// doneEvent is the data of a "done" event: the run the page waited for has ended.
type doneEvent struct {
	RunID string `json:"run_id"`
	State string `json:"state"`
}

func newProgressEvent(p *nango.RunProgress) progressEvent {
	ev := progressEvent{RunID: p.RunID, Elapsed: dur(p.Elapsed), Log: p.Log}
	for m, r := range p.Models {
		ev.Models = append(ev.Models, modelCount{Model: m, Added: r.Added, Updated: r.Updated, Deleted: r.Deleted, Unchanged: r.Unchanged})
	}
	slices.SortFunc(ev.Models, func(a, b modelCount) int {
		if a.Model < b.Model {
			return -1
		}
		return 1
	})
	if ev.Log == nil {
		ev.Log = []string{}
	}
	return ev
}

// syncEvents streams server-sent events about a sync of a connection: "progress" while a run is
// in progress, then "done" when a run ends that the page has not shown (one newer than ?run=, or
// ?run= itself when the page showed it running). The page reloads on "done".
func (h *Handler) syncEvents(w http.ResponseWriter, r *http.Request) {
	st, _, ok := h.target(w, r)
	if !ok {
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		h.fail(w, r, http.StatusNotImplemented, "This server cannot stream events.")
		return
	}
	shown := r.URL.Query().Get("run")
	shownRunning := r.URL.Query().Get("running") == "1"
	events, unsubscribe, err := h.eng.SubscribeChan(nango.SubscribeParams{Integration: st.Integration, Connection: st.Connection})
	if err != nil {
		h.internal(w, r, err)
		return
	}
	defer unsubscribe()

	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher.Flush() // the headers: the browser's EventSource opens now
	send := func(event string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return err
		}
		flusher.Flush()
		return nil
	}
	ticker := time.NewTicker(liveInterval)
	defer ticker.Stop()
	lastWrite := time.Now()
	sel := nango.SyncSelector{Integration: st.Integration, Syncs: []string{st.Sync}, Connection: st.Connection}
	for {
		sts, err := h.eng.Status(r.Context(), sel)
		if err != nil {
			if r.Context().Err() == nil {
				h.logger.ErrorContext(r.Context(), "ui: live status failed", "error", err)
			}
			return
		}
		cur := sts[0]
		if run := cur.LatestRun; run != nil {
			p, inProgress := h.eng.RunProgress(run.ID)
			switch {
			case inProgress:
				err = send("progress", newProgressEvent(p))
				lastWrite = time.Now()
			case run.State != nango.RunRunning && (run.ID != shown || shownRunning):
				_ = send("done", doneEvent{RunID: run.ID, State: string(run.State)})
				return
			}
			if err != nil {
				return
			}
		}
		if time.Since(lastWrite) >= keepAlive {
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			flusher.Flush()
			lastWrite = time.Now()
		}
		select {
		case <-r.Context().Done():
			return
		case <-events:
		case <-ticker.C:
		}
	}
}
