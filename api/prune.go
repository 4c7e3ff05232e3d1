package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
)

// pruneRecords serves PATCH /records/prune as Nango does: headers Connection-Id and
// Provider-Config-Key; body {model, until_cursor, variant?, limit? (1..10000, default 1000)};
// answer {count, has_more}. The records up to and including until_cursor lose their payload
// and keep their metadata; has_more says to call again with the same body.
func (h *Handler) pruneRecords(w http.ResponseWriter, r *http.Request) {
	hv := validation{what: "headers"}
	conn := headerName(&hv, r, "Connection-Id")
	integration := headerName(&hv, r, "Provider-Config-Key")
	if hv.failed() {
		writeError(w, hv.err(CodeInvalidHeaders))
		return
	}
	b, e := h.readBody(w, r)
	if e != nil {
		writeError(w, e)
		return
	}
	b.unknown("model", "until_cursor", "variant", "limit")
	model := b.name("model", true)
	until, _ := b.str("until_cursor", true)
	variant, _ := b.str("variant", false)
	limit := 0
	if raw, ok := b.field("limit"); ok {
		if err := json.Unmarshal(raw, &limit); err != nil || limit < 1 || limit > store.MaxPruneLimit {
			b.v.add(issueInvalidType, "Expected an integer from 1 to 10000", "limit")
		}
	}
	if ok := until != "" && len(until) <= maxCursorLen; !ok && until != "" {
		b.v.add(issueInvalidType, "String must contain at most 1000 character(s)", "until_cursor")
	}
	if b.v.failed() {
		writeError(w, b.v.err(CodeInvalidBody))
		return
	}
	if until == "" {
		writeError(w, newError(http.StatusBadRequest, CodeInvalidBody, "until_cursor is empty: pass the cursor of the last record to prune"))
		return
	}
	if variant != "" && variant != "base" {
		writeError(w, newError(http.StatusBadRequest, CodeUnknownVariant,
			"model %q has no variant %q: only the base variant exists in this service", model, variant))
		return
	}
	res, err := h.eng.PruneRecords(r.Context(), nango.PruneRecordsParams{
		Integration: integration, Connection: conn, Model: model, UntilCursor: until, Limit: limit,
	})
	if err != nil {
		switch {
		case errors.Is(err, nango.ErrUnknownIntegration):
			writeError(w, newError(http.StatusBadRequest, CodeUnknownConnection,
				"provided Connection-Id %q and Provider-Config-Key %q do not match a valid connection: no integration has this key", conn, integration))
		case errors.Is(err, nango.ErrInvalidCursor):
			writeError(w, newError(http.StatusBadRequest, CodeInvalidCursor, "%v", err))
		case errors.Is(err, store.ErrInvalidParams):
			writeError(w, newError(http.StatusBadRequest, CodeInvalidBody, "%v", err))
		default:
			h.fail(w, r, err)
		}
		return
	}
	writeJSON(w, http.StatusOK, res)
}
