package nango

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/gonango/nango/store"
)

// ChangeEvent says that a write committed changes to a stream: a BatchSave, BatchUpdate or
// BatchDelete of a run (or of a webhook run), or a TrackDeletes sweep. It counts the changes;
// read the records from the change feed by cursor.
type ChangeEvent struct {
	Integration string
	Connection  string
	Model       string
	Sync        string
	RunID       string
	// Trigger is the run's trigger (TriggerWebhook for webhook runs).
	Trigger string
	Added   int
	Updated int
	Deleted int
	// At is when the write committed.
	At time.Time
	// Dropped counts the events this subscriber missed just before this one, because it fell
	// behind by more than MaxPendingEvents.
	Dropped int
}

// SubscribeParams select the events a subscriber gets.
type SubscribeParams struct {
	// Integration is required.
	Integration string
	// Models keeps these models; empty keeps all.
	Models []string
	// Connection keeps one connection; empty keeps all.
	Connection string
}

// MaxPendingEvents is how many events wait for a slow subscriber before the oldest are dropped
// (and counted in the next event's Dropped).
const MaxPendingEvents = 10000

// subscribers holds the in-process subscriptions.
type subscribers struct {
	e    *Engine
	mu   sync.RWMutex
	subs map[*subscription]struct{}
}

func newSubscribers(e *Engine) *subscribers {
	return &subscribers{e: e, subs: map[*subscription]struct{}{}}
}

// subscription queues events for one subscriber, who gets them in order on its own goroutine.
type subscription struct {
	p       SubscribeParams
	fn      func(ChangeEvent)
	ch      chan ChangeEvent // instead of fn; closed when the subscription ends
	mu      sync.Mutex
	queue   []ChangeEvent
	dropped int
	ready   chan struct{} // signalled when the queue grows
	done    chan struct{} // closed by cancel
	once    sync.Once
	logger  *slog.Logger
}

// call runs the subscriber's function; a panic in it is logged, not fatal to the process.
func (s *subscription) call(ev ChangeEvent) {
	defer func() {
		if v := recover(); v != nil {
			s.logger.Error("change subscriber panicked", "integration", ev.Integration, "connection_id", ev.Connection,
				"model", ev.Model, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	s.fn(ev)
}

func (s *subscription) match(ev *ChangeEvent) bool {
	return ev.Integration == s.p.Integration &&
		(s.p.Connection == "" || s.p.Connection == ev.Connection) &&
		(len(s.p.Models) == 0 || slices.Contains(s.p.Models, ev.Model))
}

func (s *subscription) push(ev ChangeEvent) {
	s.mu.Lock()
	if len(s.queue) >= MaxPendingEvents {
		s.queue = s.queue[1:]
		s.dropped++
	}
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

func (s *subscription) loop() {
	if s.ch != nil {
		defer close(s.ch) // the loop is its only sender
	}
	for {
		select {
		case <-s.done:
			return
		case <-s.ready:
		}
		for {
			s.mu.Lock()
			if len(s.queue) == 0 {
				s.mu.Unlock()
				break
			}
			ev := s.queue[0]
			s.queue = s.queue[1:]
			ev.Dropped, s.dropped = s.dropped, 0
			s.mu.Unlock()
			if s.ch != nil {
				select {
				case s.ch <- ev:
				case <-s.done:
					return
				}
				continue
			}
			select {
			case <-s.done:
				return
			default:
			}
			s.call(ev)
		}
	}
}

// Subscribe calls fn for every change event selected by p, in commit order, on a goroutine of
// the subscription (a slow fn delays only its own events). Events are not durable: they are
// lost when the process stops, and a subscriber that falls behind by MaxPendingEvents loses the
// oldest (see ChangeEvent.Dropped). Use a durable consumer (Engine.NewConsumer) to process
// every change at least once. Call the returned function to unsubscribe (it may be called from
// fn); fn is not called afterwards, except once if it was just about to be.
func (e *Engine) Subscribe(p SubscribeParams, fn func(ChangeEvent)) (unsubscribe func(), err error) {
	if fn == nil {
		return nil, configError("Subscribe needs a function")
	}
	return e.subscribe(p, fn, nil)
}

func (e *Engine) subscribe(p SubscribeParams, fn func(ChangeEvent), ch chan ChangeEvent) (func(), error) {
	if _, err := e.integration(p.Integration); err != nil {
		return nil, err
	}
	for _, m := range p.Models {
		if err := e.checkModel(p.Integration, m); err != nil {
			return nil, err
		}
	}
	p.Models = slices.Clone(p.Models)
	s := &subscription{p: p, fn: fn, ch: ch, ready: make(chan struct{}, 1), done: make(chan struct{}), logger: e.logger}
	e.subs.mu.Lock()
	e.subs.subs[s] = struct{}{}
	e.subs.mu.Unlock()
	go s.loop()
	return func() {
		s.once.Do(func() {
			e.subs.mu.Lock()
			delete(e.subs.subs, s)
			e.subs.mu.Unlock()
			close(s.done)
		})
	}, nil
}

// SubscribeChan is Subscribe with a channel: the events selected by p are sent to the returned
// channel, which is closed soon after unsubscribe is called. Read it promptly: events wait in
// the subscription's queue (at most MaxPendingEvents) while it is not read.
func (e *Engine) SubscribeChan(p SubscribeParams) (events <-chan ChangeEvent, unsubscribe func(), err error) {
	ch := make(chan ChangeEvent)
	unsub, err := e.subscribe(p, nil, ch)
	if err != nil {
		return nil, nil, err
	}
	return ch, unsub, nil
}

// publish tells the subscribers about a committed write of n's run.
func (ss *subscribers) publish(n *Nango, model string, res *store.RecordsWriteResult) {
	if res == nil || res.Added+res.Updated+res.Deleted == 0 {
		return
	}
	ev := ChangeEvent{
		Integration: n.conn.Integration, Connection: n.conn.ID, Model: model, Sync: n.sync.Name, RunID: n.run.ID,
		Trigger: n.run.Trigger, Added: res.Added, Updated: res.Updated, Deleted: res.Deleted, At: ss.e.now(),
	}
	ss.mu.RLock()
	defer ss.mu.RUnlock()
	for s := range ss.subs {
		if s.match(&ev) {
			s.push(ev)
		}
	}
}
