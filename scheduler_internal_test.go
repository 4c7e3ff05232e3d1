package nango

import (
	"testing"

	"github.com/gonango/nango/internal/scheduler"
)

// The scheduler starts runs with its own trigger names; the run history shows them as the
// engine's constants.
func TestTriggerNamesMatchTheScheduler(t *testing.T) {
	if TriggerSchedule != scheduler.TriggerSchedule || TriggerWebhook != scheduler.TriggerWebhook {
		t.Fatalf("trigger names differ: %q/%q vs %q/%q", TriggerSchedule, TriggerWebhook, scheduler.TriggerSchedule, scheduler.TriggerWebhook)
	}
}
