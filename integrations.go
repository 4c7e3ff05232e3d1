package nango

import (
	"slices"
	"strings"
)

// Integrations returns the registered integrations ordered by key, for dashboards and tools
// that list what the engine runs. The integrations and their sync lists are copies; changing
// them changes nothing in the engine.
func (e *Engine) Integrations() []Integration {
	e.mu.RLock()
	out := make([]Integration, 0, len(e.integrations))
	for _, in := range e.integrations {
		c := *in
		c.Syncs = slices.Clone(in.Syncs)
		for i := range c.Syncs {
			c.Syncs[i].Models = slices.Clone(c.Syncs[i].Models)
		}
		out = append(out, c)
	}
	e.mu.RUnlock()
	slices.SortFunc(out, func(a, b Integration) int { return strings.Compare(a.Key, b.Key) })
	return out
}
