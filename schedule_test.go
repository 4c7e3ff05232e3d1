package nango_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonango/nango"
)

func TestParseFrequency(t *testing.T) {
	t.Parallel()
	ok := map[string]time.Duration{
		"every hour":         time.Hour,
		"every 30 minutes":   30 * time.Minute,
		"every 2 days":       48 * time.Hour,
		"every half hour":    30 * time.Minute,
		"every quarter hour": 15 * time.Minute,
		"every day":          24 * time.Hour,
		"every week":         7 * 24 * time.Hour,
		"Every 5 Minutes":    5 * time.Minute,
		"every 30m":          30 * time.Minute,
		"every 15s":          15 * time.Second,
		"30m":                30 * time.Minute,
		"1h30m":              90 * time.Minute,
		"  1h  ":             time.Hour,
		"every 31 days":      31 * 24 * time.Hour,
	}
	for in, want := range ok {
		got, err := nango.ParseFrequency(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	bad := map[string]string{
		"":                 "empty",
		"sometimes":        "want",
		"every":            "want",
		"every 5 parsecs":  "unknown unit",
		"every -5 hours":   "positive number",
		"every 10 seconds": "shorter than the minimum",
		"1s":               "shorter than the minimum",
		"every 32 days":    "longer than the maximum",
		"every 1 2 3":      "want",
	}
	for in, want := range bad {
		_, err := nango.ParseFrequency(in)
		require.ErrorContains(t, err, want, in)
		require.ErrorContains(t, err, "invalid frequency", in)
		require.ErrorIs(t, err, nango.ErrInvalidFrequency, in)
	}
}

func FuzzParseFrequency(f *testing.F) {
	for _, s := range []string{"every hour", "every 30 minutes", "1h30m", "every half day", "every 2.5 hours", "every 1e9 days"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := nango.ParseFrequency(s)
		if err == nil && (d < nango.MinFrequency || d > nango.MaxFrequency) {
			t.Fatalf("%q parsed to %s, outside the limits", s, d)
		}
	})
}

func TestParseFilter(t *testing.T) {
	t.Parallel()
	f, err := nango.ParseFilter("Added, DELETED")
	require.NoError(t, err)
	require.Equal(t, nango.FilterAdded|nango.FilterDeleted, f)
	f, err = nango.ParseFilter("")
	require.NoError(t, err)
	require.Zero(t, f)
	_, err = nango.ParseFilter("added,removed")
	require.ErrorContains(t, err, `"removed"`)
}
