package ui

import (
	"net/http"

	"github.com/gonango/nango"
)

// overviewData is the data of the overview page.
type overviewData struct {
	Integrations []nango.Integration
}

// overview serves the dashboard's home page.
func (h *Handler) overview(w http.ResponseWriter, r *http.Request) {
	d := &overviewData{Integrations: h.eng.Integrations()}
	h.render(w, r, http.StatusOK, "overview", h.newPage(w, r, "Overview", "overview", d))
}
