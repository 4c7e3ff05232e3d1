// Package clock is the engine's single source of time.
//
// It owns the Clock interface that the scheduler, leases, the provider HTTP client (backoff,
// Retry-After, rate limits), webhook delivery and consumers read and wait on, and the system
// implementation. Package nango declares the same method set as nango.Clock for users; a value
// of either type satisfies the other. It imports only the standard library.
package clock

import (
	"context"
	"time"
)

// Clock tells the time and waits. Implementations must be safe for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives the clock's time once d has passed on the clock.
	// The channel must have room for that one value, so that an abandoned channel blocks
	// nobody.
	After(d time.Duration) <-chan time.Time
	// Sleep waits until d has passed on the clock, or until ctx is done, and then returns
	// ctx's error.
	Sleep(ctx context.Context, d time.Duration) error
}

// System is the real clock.
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// After returns time.After(d).
func (System) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Sleep waits for d on a timer, or until ctx is done.
func (System) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// OrSystem returns c, or System when c is nil.
func OrSystem(c Clock) Clock {
	if c == nil {
		return System{}
	}
	return c
}
