package backoff

import (
	"testing"
	"time"
)

func TestDelayGrowsToTheCap(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 30 * time.Second, NoJitter: true}
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
	for i, w := range want {
		if got := b.Delay(i + 1); got != w*time.Second {
			t.Fatalf("Delay(%d) = %s, want %s", i+1, got, w*time.Second)
		}
	}
	if got := b.Delay(0); got != time.Second {
		t.Fatalf("Delay(0) = %s, want the first wait", got)
	}
	for _, n := range []int{63, 64, 1000, 1 << 40} {
		if got := b.Delay(n); got != 30*time.Second {
			t.Fatalf("Delay(%d) = %s, want the cap (no overflow)", n, got)
		}
	}
}

func TestDelayJitterStaysWithinHalfAndAll(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Minute}
	for n := 1; n <= 12; n++ {
		full := Backoff{Initial: b.Initial, Max: b.Max, NoJitter: true}.Delay(n)
		seen := map[time.Duration]bool{}
		for range 200 {
			d := b.Delay(n)
			if d < full/2 || d > full {
				t.Fatalf("Delay(%d) = %s, outside [%s, %s]", n, d, full/2, full)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Fatalf("Delay(%d) never varies: no jitter", n)
		}
	}
}

func TestDelayMaxBelowInitial(t *testing.T) {
	b := Backoff{Initial: 5 * time.Second, Max: time.Second, NoJitter: true}
	if got := b.Delay(3); got != 5*time.Second {
		t.Fatalf("Delay = %s, want Initial when Max is below it", got)
	}
}
