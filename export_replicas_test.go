package nango

import (
	"time"

	"github.com/gonango/nango/store"
)

// SchedState exposes what an engine's own scheduler holds for a sync key: ok is false when it
// has no entry.
func SchedState(e *Engine, k store.SyncKey) (paused bool, override string, next time.Time, ok bool) {
	st, ok := e.sched.State(k)
	return st.Paused, st.Override, st.NextRun, ok
}
