// Package backoff computes how long to wait before trying again: exponential growth from a base
// to a cap, with "equal jitter". The provider HTTP retries, the scheduler's run retries, webhook
// delivery and durable consumers all wait through it. It imports only the standard library.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff is an exponential backoff policy: the wait after the n-th consecutive failure is
// Initial * 2^(n-1), at most Max, of which a random share is taken away (see Jitter).
type Backoff struct {
	// Initial is the wait after the first failure. It must be positive.
	Initial time.Duration
	// Max caps a wait. Values below Initial are taken as Initial.
	Max time.Duration
	// NoJitter makes every wait exact. By default a wait is drawn uniformly between half and
	// all of it ("equal jitter"), so that many clients that failed together do not retry in
	// step.
	NoJitter bool
}

// Delay returns the wait after the n-th consecutive failure (1 for the first; smaller n count
// as 1).
func (b Backoff) Delay(n int) time.Duration {
	d := b.Initial << min(max(n, 1)-1, 62)
	limit := max(b.Max, b.Initial)
	if d <= 0 || d > limit || d>>min(max(n, 1)-1, 62) != b.Initial {
		d = limit // past the cap, or shifted out of range
	}
	if b.NoJitter || d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
