package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
)

// success is the answer of the control endpoints.
var success = map[string]bool{"success": true}

// trigger serves POST /sync/trigger: {syncs, provider_config_key?, connection_id?,
// opts?: {reset?, emptyCache?}} or the deprecated sync_mode / full_resync instead of opts. The
// provider config key and connection id may come from the Provider-Config-Key and
// Connection-Id headers instead. No connection means all of them; no syncs, all of them.
func (h *Handler) trigger(w http.ResponseWriter, r *http.Request) {
	if e := noQuery(r); e != nil {
		writeError(w, e)
		return
	}
	b, e := h.readBody(w, r)
	if e != nil {
		writeError(w, e)
		return
	}
	b.unknown("syncs", "provider_config_key", "connection_id", "opts", "sync_mode", "full_resync")
	refs := b.syncs("syncs")
	integration := b.name("provider_config_key", false)
	conn := b.name("connection_id", false)
	mode, hasMode := b.str("sync_mode", false)
	if hasMode && mode != "incremental" && mode != "full_refresh" && mode != "full_refresh_and_clear_cache" {
		b.v.add(issueInvalidEnum, "Expected 'incremental' | 'full_refresh' | 'full_refresh_and_clear_cache', received '"+mode+"'", "sync_mode")
	}
	fullResync, hasFull := b.boolean("full_resync")
	var reset, emptyCache, hasOpts bool
	if raw, ok := b.field("opts"); ok {
		hasOpts = true
		var fields map[string]json.RawMessage
		if jsonType(raw) != "object" || json.Unmarshal(raw, &fields) != nil {
			b.v.add(issueInvalidType, "Expected object, received "+jsonType(raw), "opts")
		} else {
			opts := &body{fields: fields, v: b.v}
			var unknown []string
			for k := range fields {
				if k != "reset" && k != "emptyCache" {
					unknown = append(unknown, k)
				}
			}
			if len(unknown) > 0 {
				slices.Sort(unknown)
				opts.v.add(issueUnrecognizedKey, "unknown field(s) "+quoteList(unknown)+" (opts takes reset, emptyCache)", "opts")
			}
			reset, _ = opts.boolean("reset", "opts")
			emptyCache, _ = opts.boolean("emptyCache", "opts")
			b.v = opts.v
		}
	}
	if b.v.failed() {
		writeError(w, b.v.err(CodeInvalidBody))
		return
	}
	if integration == "" {
		integration = r.Header.Get("Provider-Config-Key")
	}
	if integration == "" {
		writeError(w, newError(http.StatusBadRequest, CodeMissingProviderConfigKey, "missing provider_config_key: give it in the body or the Provider-Config-Key header"))
		return
	}
	if conn == "" {
		conn = r.Header.Get("Connection-Id")
	}
	if hasOpts && (hasMode || hasFull) {
		writeError(w, newError(http.StatusBadRequest, CodeInvalidBody, "cannot use opts with the deprecated sync_mode or full_resync"))
		return
	}
	if !hasOpts {
		reset = fullResync || mode == "full_refresh" || mode == "full_refresh_and_clear_cache"
		emptyCache = mode == "full_refresh_and_clear_cache"
	}
	if emptyCache && !reset {
		writeError(w, newError(http.StatusBadRequest, CodeInvalidBody, "opts.emptyCache needs opts.reset: the cache is emptied only by a reset"))
		return
	}
	names, e := syncNames(refs)
	if e != nil {
		writeError(w, e)
		return
	}
	err := h.eng.Trigger(r.Context(), nango.TriggerParams{
		SyncSelector: nango.SyncSelector{Integration: integration, Syncs: names, Connection: conn},
		Reset:        reset, EmptyCache: emptyCache,
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success)
}

// start serves POST /sync/start: {syncs, provider_config_key, connection_id?}.
func (h *Handler) start(w http.ResponseWriter, r *http.Request) {
	h.setPaused(w, r, false)
}

// pause serves POST /sync/pause: {syncs, provider_config_key, connection_id?}.
func (h *Handler) pause(w http.ResponseWriter, r *http.Request) {
	h.setPaused(w, r, true)
}

func (h *Handler) setPaused(w http.ResponseWriter, r *http.Request, paused bool) {
	if e := noQuery(r); e != nil {
		writeError(w, e)
		return
	}
	b, e := h.readBody(w, r)
	if e != nil {
		writeError(w, e)
		return
	}
	b.unknown("syncs", "provider_config_key", "connection_id")
	refs := b.syncs("syncs")
	integration := b.name("provider_config_key", true)
	conn := b.name("connection_id", false)
	if b.v.failed() {
		writeError(w, b.v.err(CodeInvalidBody))
		return
	}
	names, e := syncNames(refs)
	if e != nil {
		writeError(w, e)
		return
	}
	sel := nango.SyncSelector{Integration: integration, Syncs: names, Connection: conn}
	var err error
	if paused {
		err = h.eng.Pause(r.Context(), sel)
	} else {
		err = h.eng.Start(r.Context(), sel)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success)
}

// updateFrequency serves PUT /sync/update-connection-frequency: {sync_name, sync_variant?,
// provider_config_key, connection_id, frequency: string | null}; null reverts to the sync's
// own frequency. It answers {frequency} with the frequency now in force.
func (h *Handler) updateFrequency(w http.ResponseWriter, r *http.Request) {
	if e := noQuery(r); e != nil {
		writeError(w, e)
		return
	}
	b, e := h.readBody(w, r)
	if e != nil {
		writeError(w, e)
		return
	}
	b.unknown("sync_name", "sync_variant", "provider_config_key", "connection_id", "frequency")
	syncName := b.name("sync_name", true)
	variant := b.name("sync_variant", false)
	integration := b.name("provider_config_key", true)
	conn := b.name("connection_id", true)
	frequency := ""
	if _, present := b.fields["frequency"]; !present {
		b.v.add(issueInvalidType, "Required (a frequency such as \"every hour\", or null to revert to the sync's own)", "frequency")
	} else if f, ok := b.str("frequency", false); ok {
		if _, err := nango.ParseFrequency(f); err != nil {
			b.v.add(issueInvalidString, "Sync interval is invalid: "+strings.TrimPrefix(err.Error(), "nango: "), "frequency")
		}
		frequency = f
	}
	if b.v.failed() {
		writeError(w, b.v.err(CodeInvalidBody))
		return
	}
	if _, err := h.eng.Store().ConnectionGet(r.Context(), integration, conn); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = nango.ErrUnknownConnection
		}
		h.fail(w, r, err)
		return
	}
	if variant != "" && variant != "base" {
		writeError(w, newError(http.StatusBadRequest, CodeUnknownVariant,
			"sync %s has no variant %s: only the base variant exists in this service", quote(syncName), quote(variant)))
		return
	}
	if err := h.eng.SetFrequency(r.Context(), integration, syncName, conn, frequency); err != nil {
		if errors.Is(err, nango.ErrInvalidFrequency) {
			// A frequency below the engine's own minimum (Config.MinFrequency).
			writeError(w, newError(http.StatusBadRequest, CodeInvalidBody, "Sync interval is invalid: %v", err))
			return
		}
		h.fail(w, r, err)
		return
	}
	st, err := h.eng.Status(r.Context(), nango.SyncSelector{Integration: integration, Syncs: []string{syncName}, Connection: conn})
	if err != nil || len(st) != 1 {
		if err == nil {
			err = errors.New("api: no status for the sync just updated")
		}
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"frequency": st[0].Frequency})
}
