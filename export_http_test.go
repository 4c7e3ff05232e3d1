package nango

import (
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

// Backoff exposes HTTPRetry.backoff with the policy's defaults applied.
func Backoff(p HTTPRetry, attempt int) time.Duration {
	r, err := resolveRetry(&p)
	if err != nil {
		panic(err)
	}
	return r.Backoff(attempt)
}
