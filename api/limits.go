package api

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Bounds on what one request can make the handler do and say, so that a request's answer and
// work stay proportional to what it can legitimately ask.
const (
	// maxIssues is how many problems a 400 answer lists; the rest are counted.
	maxIssues = 10
	// maxQuoted is how many bytes of a value a message quotes.
	maxQuoted = 100
)

// quote quotes s for a message, cut to maxQuoted bytes.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(s[:cut]), len(s))
}
