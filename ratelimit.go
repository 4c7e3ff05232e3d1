package nango

import (
	"fmt"
	"math"
	"strings"

	"golang.org/x/time/rate"

	"github.com/gonango/nango/internal/provider"
)

// RateLimit throttles the requests of each connection of an integration. The limiter and any
// pause the provider asks for belong to the connection: every sync and run of the connection
// shares them, so when the provider says "slow down" the whole connection waits, not only the
// request that was told.
//
// Whatever the configuration, a 429 or 503 response with a Retry-After header (in seconds or as
// an HTTP date), and a 403 with Retry-After (GitHub's secondary limits), pause the connection
// for that long.
type RateLimit struct {
	// Limit is the sustained rate of requests per second of one connection; for "100 a minute"
	// write rate.Every(time.Minute / 100). Zero means no client-side limit.
	Limit rate.Limit
	// Burst is how many requests may go at once before the Limit spaces them. Defaults to 1.
	Burst int
	// RemainingHeader names the response header that counts the requests left in the
	// provider's window ("X-RateLimit-Remaining"). When it reads 0, the connection waits until
	// the time in ResetHeader before its next request, and a 403 response is treated as a rate
	// limit, like a 429 (GitHub's primary limit). Empty means not read.
	RemainingHeader string
	// ResetHeader names the response header that says when the provider's window resets
	// ("X-RateLimit-Reset"); it is read on a 429 without Retry-After and when RemainingHeader
	// reads 0. Its value may be Unix seconds (a number of at least 1e9), Unix milliseconds (at
	// least 1e12), seconds to wait (a smaller number), an HTTP date or an RFC 3339 time. Empty
	// means not read.
	ResetHeader string
}

func resolveRateLimit(rl *RateLimit) (RateLimit, error) {
	if rl == nil {
		return RateLimit{}, nil
	}
	r := *rl
	if r.Limit < 0 || math.IsNaN(float64(r.Limit)) {
		return r, fmt.Errorf("RateLimit.Limit %v is negative", r.Limit)
	}
	switch {
	case r.Burst < 0:
		return r, fmt.Errorf("RateLimit.Burst %d is negative", r.Burst)
	case r.Burst == 0:
		r.Burst = 1
	}
	r.RemainingHeader = strings.TrimSpace(r.RemainingHeader)
	r.ResetHeader = strings.TrimSpace(r.ResetHeader)
	return r, nil
}

// limits returns the headers the connection's gate reads.
func (r RateLimit) limits() provider.Limits {
	return provider.Limits{RemainingHeader: r.RemainingHeader, ResetHeader: r.ResetHeader}
}
