package nango

import (
	"net/http"
	"time"
)

// LinkValue is a parsed link of a Link header.
type LinkValue struct {
	Target string
	Rels   []string
}

// ParseLinkHeader exposes parseLinkHeader.
func ParseLinkHeader(values ...string) []LinkValue {
	var out []LinkValue
	for _, l := range parseLinkHeader(values) {
		out = append(out, LinkValue{Target: l.target, Rels: l.rels})
	}
	return out
}

// LimitInfo exposes RateLimit.info.
func LimitInfo(r RateLimit, status int, h http.Header, now time.Time) (limited, hasWait bool, wait time.Duration) {
	li := r.info(status, h, now)
	return li.limited, li.hasWait, li.wait
}

// Backoff exposes HTTPRetry.backoff with the policy's defaults applied.
func Backoff(p HTTPRetry, attempt int) time.Duration {
	r, err := resolveRetry(&p)
	if err != nil {
		panic(err)
	}
	return r.backoff(attempt)
}
