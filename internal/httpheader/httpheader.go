// Package httpheader reads the HTTP response headers that tell a client when to try again:
// Retry-After (RFC 9110) and the providers' rate-limit reset headers. It is shared by the
// provider HTTP client and the webhook delivery worker, and imports only the standard library.
package httpheader

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryAfter reads a Retry-After value: delay-seconds or an HTTP date (RFC 9110 10.2.3).
func RetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 || math.IsNaN(secs) || math.IsInf(secs, 0) {
			return 0, false
		}
		return secondsDuration(secs), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// Reset reads a rate-limit reset header: Unix seconds or milliseconds, seconds to wait, an
// HTTP date or an RFC 3339 time.
func Reset(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		switch {
		case n < 0 || math.IsNaN(n) || math.IsInf(n, 0):
			return 0, false
		case n >= 1e12:
			return max(time.UnixMilli(int64(n)).Sub(now), 0), true
		case n >= 1e9:
			sec, frac := math.Modf(n)
			return max(time.Unix(int64(sec), int64(frac*1e9)).Sub(now), 0), true
		default:
			return secondsDuration(n), true
		}
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// secondsDuration converts seconds to a Duration, saturating instead of overflowing.
func secondsDuration(secs float64) time.Duration {
	if secs >= float64(math.MaxInt64)/float64(time.Second) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(secs * float64(time.Second))
}
