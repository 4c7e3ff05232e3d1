package nango

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Frequency limits.
const (
	MinFrequency = 15 * time.Second
	MaxFrequency = 31 * 24 * time.Hour
)

var frequencyUnits = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	"w": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
}

// ParseFrequency parses a frequency as Nango writes them: "every hour", "every 30 minutes",
// "every 2 days", "every half hour", "every day", or a Go duration such as "30m" or "1h30m".
// It must lie between MinFrequency and MaxFrequency.
func ParseFrequency(s string) (time.Duration, error) {
	return parseFrequencyMin(s, MinFrequency)
}

// parseFrequencyMin is ParseFrequency with another minimum (Config.MinFrequency, for tests).
func parseFrequencyMin(s string, minimum time.Duration) (time.Duration, error) {
	d, err := parseFrequency(strings.ToLower(strings.TrimSpace(s)))
	if err != nil {
		return 0, fmt.Errorf("%w %q: %w", ErrInvalidFrequency, s, err)
	}
	if d < minimum || d <= 0 {
		return 0, fmt.Errorf("%w %q: %s is shorter than the minimum %s", ErrInvalidFrequency, s, d, minimum)
	}
	if d > MaxFrequency {
		return 0, fmt.Errorf("%w %q: %s is longer than the maximum of 31 days", ErrInvalidFrequency, s, d)
	}
	return d, nil
}

func parseFrequency(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty")
	}
	rest, every := strings.CutPrefix(s, "every ")
	rest = strings.TrimSpace(rest)
	if !every {
		if d, err := time.ParseDuration(s); err == nil {
			return d, nil
		}
	}
	fields := strings.Fields(rest)
	switch len(fields) {
	case 1:
		// "hour", "30m", "2days"
		if u, ok := frequencyUnits[fields[0]]; ok {
			return u, nil
		}
		i := strings.IndexFunc(fields[0], func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if i > 0 {
			return amount(fields[0][:i], fields[0][i:])
		}
	case 2:
		if fields[0] == "half" {
			if u, ok := frequencyUnits[fields[1]]; ok {
				return u / 2, nil
			}
		}
		if fields[0] == "quarter" {
			if u, ok := frequencyUnits[fields[1]]; ok {
				return u / 4, nil
			}
		}
		return amount(fields[0], fields[1])
	}
	return 0, fmt.Errorf(`want "every <n> <unit>" (seconds, minutes, hours, days, weeks) or a duration like "1h30m"`)
}

func amount(num, unit string) (time.Duration, error) {
	u, ok := frequencyUnits[unit]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q", unit)
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || !(n > 0 && n <= float64(MaxFrequency/time.Second)) {
		return 0, fmt.Errorf("%q is not a positive number in range", num)
	}
	return time.Duration(n * float64(u)), nil
}
