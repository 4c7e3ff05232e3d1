package nango

import (
	"context"
	"time"

	"github.com/gonango/nango/internal/clock"
)

// Clock is the engine's source of time: the scheduler's due times, leases and their renewal,
// run timestamps, the provider HTTP client's backoff, Retry-After and rate-limit waits, webhook
// delivery and consumers all read and wait on the one clock in Config.Clock. Package nangotest
// has a fake one that tests advance by hand, so that a schedule or a backoff takes no real time.
// Implementations must be safe for concurrent use.
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

// SystemClock returns the real clock, the default of Config.Clock.
func SystemClock() Clock { return clock.System{} }
