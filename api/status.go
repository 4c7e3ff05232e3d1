package api

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
)

// jsTimeLayout is how JavaScript's Date.toJSON writes times, which Nango's status answers use.
const jsTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// syncStatus is one entry of GET /sync/status, as Nango reports it.
type syncStatus struct {
	ID                    string                 `json:"id"`
	ConnectionID          string                 `json:"connection_id"`
	Name                  string                 `json:"name"`
	Variant               string                 `json:"variant"`
	Status                string                 `json:"status"`
	Type                  string                 `json:"type"` // deprecated in Nango: INITIAL or INCREMENTAL
	FinishedAt            *string                `json:"finishedAt,omitempty"`
	NextScheduledSyncAt   *string                `json:"nextScheduledSyncAt"`
	Frequency             string                 `json:"frequency"`
	LatestResult          map[string]modelResult `json:"latestResult,omitempty"`
	LatestExecutionStatus string                 `json:"latestExecutionStatus,omitempty"`
	RecordCount           map[string]int         `json:"recordCount"`
	Checkpoint            json.RawMessage        `json:"checkpoint"`
}

type modelResult struct {
	Added   int `json:"added"`
	Updated int `json:"updated"`
	Deleted int `json:"deleted"`
}

// status serves GET /sync/status?syncs=a,b|*&provider_config_key=...&connection_id=...
func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	v := validation{what: "query parameters"}
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		v.add(issueInvalidString, fmt.Sprintf("the query string is malformed: %v", err))
		writeError(w, v.err(CodeInvalidQueryParams))
		return
	}
	unknownParams(&v, values, []string{"syncs", "provider_config_key", "connection_id"})
	var refs []syncRef
	if !values.Has("syncs") {
		v.add(issueInvalidType, `Required ("*" or a comma-separated list of sync names)`, "syncs")
	} else if s, ok := single(&v, values, "syncs"); ok && s != "*" {
		refs = parseSyncList(&v, s)
	}
	integration, ok := single(&v, values, "provider_config_key")
	if !values.Has("provider_config_key") {
		v.add(issueInvalidType, "Required", "provider_config_key")
	} else if ok {
		checkName(&v, integration, "provider_config_key")
	}
	conn, ok := single(&v, values, "connection_id")
	if ok {
		checkName(&v, conn, "connection_id")
	}
	if v.failed() {
		writeError(w, v.err(CodeInvalidQueryParams))
		return
	}
	if conn != "" {
		if _, err := h.eng.Store().ConnectionGet(r.Context(), integration, conn); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				err = fmt.Errorf("%w %q of integration %q", nango.ErrUnknownConnection, conn, integration)
			}
			h.fail(w, r, err)
			return
		}
	}
	names, e := syncNames(refs)
	if e != nil {
		writeError(w, e)
		return
	}
	sts, err := h.eng.Status(r.Context(), nango.SyncSelector{Integration: integration, Syncs: names, Connection: conn})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]syncStatus, len(sts))
	for i := range sts {
		out[i] = encodeStatus(&sts[i])
	}
	writeJSON(w, http.StatusOK, map[string][]syncStatus{"syncs": out})
}

func encodeStatus(st *nango.SyncStatus) syncStatus {
	s := syncStatus{
		ID:           syncID(st.Integration, st.Sync, st.Connection),
		ConnectionID: st.Connection,
		Name:         st.Sync,
		Variant:      "base",
		Status:       st.Status,
		Type:         nango.SyncTypeInitial,
		Frequency:    st.Frequency,
		RecordCount:  st.RecordCounts,
		Checkpoint:   st.Checkpoint,
	}
	if s.RecordCount == nil {
		s.RecordCount = map[string]int{}
	}
	if !st.NextScheduledRun.IsZero() {
		s.NextScheduledSyncAt = jsTime(st.NextScheduledRun)
	}
	if run := st.LatestRun; run != nil {
		if !run.Initial {
			s.Type = nango.SyncTypeIncremental
		}
		if !run.EndedAt.IsZero() {
			s.FinishedAt = jsTime(run.EndedAt)
		}
		s.LatestResult = map[string]modelResult{}
		for model, res := range run.Results {
			s.LatestResult[model] = modelResult{Added: res.Added, Updated: res.Updated, Deleted: res.Deleted}
		}
		s.LatestExecutionStatus = executionStatus(run.State)
	}
	return s
}

// executionStatus names a run's state as Nango names its jobs' states: a failed job is STOPPED.
func executionStatus(s nango.RunState) string {
	switch s {
	case nango.RunRunning:
		return nango.StatusRunning
	case nango.RunSucceeded:
		return nango.StatusSuccess
	default:
		return nango.StatusStopped
	}
}

func jsTime(t time.Time) *string {
	s := t.UTC().Format(jsTimeLayout)
	return &s
}

// syncID is a stable id for a sync of a connection, shaped like Nango's (a UUID, version 5 of
// the names).
func syncID(integration, syncName, connection string) string {
	sum := sha1.Sum([]byte("nango-sync\x00" + integration + "\x00" + syncName + "\x00" + connection))
	u := sum[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
