package nangotest

import (
	"context"
	"sort"
	"sync"
	"time"
)

// DefaultStart is when a Harness's clock starts unless Options.Start says otherwise.
var DefaultStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Clock is a fake nango.Clock: it stands still until it is advanced, and sleeping on it advances
// it at once instead of waiting. A Harness gives it to its engine (nango.Config.Clock), so retry
// backoff, Retry-After and rate limits cost no time in a test, record timestamps are
// predictable, and the scheduler's due times, lease renewals and webhook retries fire when the
// test advances the clock past them. It is safe for concurrent use.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	sleeps  []time.Duration
	waiters []waiter
}

// waiter is a channel of After, due at a time.
type waiter struct {
	at time.Time
	ch chan time.Time
}

// NewClock returns a clock standing at start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d, firing the After channels that come due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(c.now.Add(d))
}

// Set moves the clock to t, firing the After channels that come due. The clock never goes
// back for its waiters: a t before Now fires nothing.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(t)
}

// After returns a channel that receives the clock's time once the clock has been advanced by d
// (at once when d <= 0).
func (c *Clock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), ch: ch})
	return ch
}

// NextDue returns the earliest time an After channel waits for, and false when none waits. A
// test that drives a schedule advances to it (Set) to wake the engine exactly when it asked.
func (c *Clock) NextDue() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.waiters) == 0 {
		return time.Time{}, false
	}
	first := c.waiters[0].at
	for _, w := range c.waiters[1:] {
		if w.at.Before(first) {
			first = w.at
		}
	}
	return first, true
}

// Sleep advances the clock by d and returns at once, or returns ctx's error when ctx is done.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.setLocked(c.now.Add(d))
	}
	c.sleeps = append(c.sleeps, d)
	return nil
}

// Slept returns the durations Sleep was called with, oldest first: the backoffs and
// Retry-After waits of the provider HTTP client.
func (c *Clock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// setLocked moves the clock to t and fires the waiters due by then, earliest first.
func (c *Clock) setLocked(t time.Time) {
	c.now = t
	var due []waiter
	keep := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(t) {
			keep = append(keep, w)
		} else {
			due = append(due, w)
		}
	}
	clear(c.waiters[len(keep):])
	c.waiters = keep
	sort.Slice(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, w := range due {
		w.ch <- t // buffered, room for one: never blocks
	}
}
