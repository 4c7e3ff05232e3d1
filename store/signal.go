package store

import (
	"context"
	"sync"
)

// SignalKind says what a Signal announces.
type SignalKind string

// The kinds of signal.
const (
	// SignalSchedule: the schedule of Sync on Connection changed (paused, started, frequency
	// override): engines reload it from the store. An empty Sync means every sync, an empty
	// Connection every connection of the integration.
	SignalSchedule SignalKind = "schedule"
	// SignalConnection: Connection of Integration was added, changed or deleted: engines
	// reload it (and drop its schedules when it is gone).
	SignalConnection SignalKind = "connection"
	// SignalTrigger: a run of Sync on Connection was asked for and saved in its schedule
	// (Schedule.Trigger): engines reload the schedule, and the first to take the sync's lease
	// runs it. Empty Sync and Connection mean all, as for SignalSchedule.
	SignalTrigger SignalKind = "trigger"
)

// Signal tells the engines that share a store that something changed there. It carries no
// state: the receiver reloads what it names from the store.
type Signal struct {
	Kind        SignalKind `json:"kind"`
	Integration string     `json:"integration"`
	Connection  string     `json:"connection,omitempty"`
	Sync        string     `json:"sync,omitempty"`
	// Origin names the engine that sent it (its instance id), so that it can skip its own.
	Origin string `json:"origin,omitempty"`
}

// Signaler is implemented by stores that can carry signals between the engines sharing them,
// in one process or in several (PostgreSQL: LISTEN/NOTIFY). Delivery is best-effort: a signal
// may be lost (a full buffer, a dropped connection), so engines also reload from the store at a
// slow interval, and a lost signal only delays. A store without it is shared by polling alone.
type Signaler interface {
	// Signal sends sig to every receiver of Signals on the store, the sender's included. It
	// is sent after the write it announces has committed.
	Signal(ctx context.Context, sig Signal) error
	// Signals returns a channel that receives the signals sent from now on, until ctx is done;
	// then it is closed.
	Signals(ctx context.Context) (<-chan Signal, error)
}

// SignalBuffer is how many signals a receiver of a SignalHub holds before it drops the next.
const SignalBuffer = 1024

// SignalHub fans signals out to the receivers in one process; stores whose handles share one
// process embed it. The zero value is ready to use.
type SignalHub struct {
	mu   sync.Mutex
	subs map[chan Signal]struct{}
}

// Signal implements Signaler: a receiver whose buffer is full misses sig.
func (h *SignalHub) Signal(ctx context.Context, sig Signal) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- sig:
		default:
		}
	}
	return nil
}

// Signals implements Signaler.
func (h *SignalHub) Signals(ctx context.Context) (<-chan Signal, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ch := make(chan Signal, SignalBuffer)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[chan Signal]struct{}{}
	}
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
		close(ch)
	})
	return ch, nil
}
