package provider

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLimitInfo(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	gh := Limits{RemainingHeader: "X-RateLimit-Remaining", ResetHeader: "X-RateLimit-Reset"}
	reset := strconv.FormatInt(now.Add(time.Minute).Unix(), 10)
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	for _, tc := range []struct {
		name             string
		rl               Limits
		status           int
		header           http.Header
		limited, hasWait bool
		wait             time.Duration
	}{
		{"429 bare", Limits{}, 429, h(), true, false, 0},
		{"429 retry-after", Limits{}, 429, h("Retry-After", "3"), true, true, 3 * time.Second},
		{"429 reset header", gh, 429, h("X-RateLimit-Reset", reset), true, true, time.Minute},
		{"429 reset header not configured", Limits{}, 429, h("X-RateLimit-Reset", reset), true, false, 0},
		{"503 retry-after", Limits{}, 503, h("Retry-After", "9"), false, true, 9 * time.Second},
		{"503 bare", Limits{}, 503, h(), false, false, 0},
		{"403 retry-after", Limits{}, 403, h("Retry-After", "60"), true, true, time.Minute},
		{"403 exhausted", gh, 403, h("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", reset), true, true, time.Minute},
		{"403 plain", gh, 403, h("X-RateLimit-Remaining", "12"), false, false, 0},
		{"404 exhausted", gh, 404, h("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", reset), false, true, time.Minute},
		{"200 exhausted", gh, 200, h("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", reset), false, true, time.Minute},
		{"200 remaining", gh, 200, h("X-RateLimit-Remaining", "1", "X-RateLimit-Reset", reset), false, false, 0},
		{"500 retry-after", Limits{}, 500, h("Retry-After", "9"), false, false, 0},
	} {
		li := tc.rl.Info(tc.status, tc.header, now)
		require.Equal(t, []any{tc.limited, tc.hasWait, tc.wait}, []any{li.Limited, li.HasWait, li.Wait}, tc.name)
	}
}
