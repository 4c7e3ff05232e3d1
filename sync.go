package nango

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

// Sync is the code that fetches a provider's data for one connection and saves it. Exec is called
// once per run with a handle bound to the run; it returns nil when the run succeeded. Exec must
// return when ctx is cancelled. A panic in Exec fails that run only.
type Sync interface {
	Exec(ctx context.Context, n *Nango) error
}

// SyncFunc adapts a function to the Sync interface, like http.HandlerFunc.
type SyncFunc func(ctx context.Context, n *Nango) error

// Exec calls f(ctx, n).
func (f SyncFunc) Exec(ctx context.Context, n *Nango) error { return f(ctx, n) }

// SyncConfig declares a sync.
type SyncConfig struct {
	// Name identifies the sync within its integration. Required.
	Name string
	// Description and Version are for people and status pages. Version defaults to "0.0.1".
	Description string
	Version     string
	// Frequency is how often the scheduler runs the sync for each connection, as Nango writes it
	// ("every hour", "every 30 minutes", "30m", "1h30m"); see ParseFrequency. Defaults to
	// "every day".
	Frequency string
	// ManualStart keeps the sync paused for new connections until it is started. By default a
	// new connection's syncs are scheduled at once (Nango's autoStart: true).
	ManualStart bool
	// TrackDeletes makes every successful run a full sync: records of the sync's models that
	// the run did not save are marked DELETED afterwards, within the DeleteGuard.
	TrackDeletes bool
	// DeleteGuard bounds what one TrackDeletes sweep may delete. Nil uses Config.DeleteGuard.
	DeleteGuard *DeleteGuard
	// Models the sync writes. Writing to any other model is an error. At least one.
	Models []Model
	// Sync is the code. Required.
	Sync Sync

	// WebhookSubscriptions are the types of the provider's webhook events that concern this
	// sync (see ProviderWebhooks); "*" matches every type. Empty: none.
	WebhookSubscriptions []string
	// OnWebhook, when set, handles each matching provider event for its connection as a
	// webhook run: n is a handle like the sync's (BatchSave, BatchUpdate, BatchDelete, the
	// provider HTTP client) and payload is the event's. Webhook runs of a connection run one at
	// a time, alongside the sync's polling runs; the polling run should then call
	// SetMergingStrategy(MergeIgnoreIfModifiedAfter) so that it never overwrites newer data the
	// handler saved. They have their own run history (Engine.WebhookRunHistory) and never
	// sweep deletions. When OnWebhook is nil, a matching event triggers a run of the sync
	// instead, debounced (ProviderWebhooks.Debounce).
	OnWebhook func(ctx context.Context, n *Nango, payload json.RawMessage) error
}

// DeleteGuard refuses a TrackDeletes sweep that would delete more than MaxShare (0 to 1) of the
// live records of a stream holding at least MinRecords of them: an API that suddenly returns
// nothing must not wipe the local copy. A refused sweep deletes nothing and the run reports a
// warning; run again with RunOptions.ConfirmDeletes to go ahead. MaxShare 1 disables the guard.
type DeleteGuard struct {
	MaxShare   float64
	MinRecords int
}

// DefaultDeleteGuard refuses to delete more than half of a stream of 100 or more records.
var DefaultDeleteGuard = DeleteGuard{MaxShare: 0.5, MinRecords: 100}

func (g DeleteGuard) validate() error {
	if g.MaxShare < 0 || g.MaxShare > 1 {
		return configError("delete guard max share %v is outside 0..1", g.MaxShare)
	}
	if g.MinRecords < 0 {
		return configError("delete guard min records %d is negative", g.MinRecords)
	}
	return nil
}

// Model declares a record type a sync writes. A model made with ModelOf checks every record
// against its Go type; a Model with only a Name accepts any JSON object with an id.
type Model struct {
	// Name is the model's name in the change feed and in webhooks ("SalesforceContact").
	Name string

	typ reflect.Type
}

// ModelOf declares a model whose records must decode into T. A struct T needs a field that
// encodes as the JSON member "id" (tagged `json:"id"`), a string or an integer:
// RegisterIntegration refuses the model otherwise.
func ModelOf[T any](name string) Model {
	return Model{Name: name, typ: reflect.TypeFor[T]()}
}

// Type returns the Go type of the model's records, or nil when it has none.
func (m Model) Type() reflect.Type { return m.typ }

// check verifies that a record given as v and encoded as data decodes into the model's type.
func (m Model) check(v any, data []byte) error {
	if m.typ == nil {
		return nil
	}
	if t := reflect.TypeOf(v); t == m.typ || (t != nil && t.Kind() == reflect.Pointer && t.Elem() == m.typ) {
		return nil
	}
	if err := json.Unmarshal(data, reflect.New(m.typ).Interface()); err != nil {
		return fmt.Errorf("does not match type %s: %w", m.typ, err)
	}
	return nil
}

func (c *SyncConfig) validate(minFrequency time.Duration) error {
	if c.Name == "" {
		return configError("sync without a name")
	}
	if c.Sync == nil {
		return configError("sync %q has no Sync code", c.Name)
	}
	if len(c.Models) == 0 {
		return configError("sync %q declares no models", c.Name)
	}
	seen := map[string]bool{}
	for _, m := range c.Models {
		if m.Name == "" {
			return configError("sync %q declares a model without a name", c.Name)
		}
		if seen[m.Name] {
			return configError("sync %q declares model %q twice", c.Name, m.Name)
		}
		if m.typ != nil {
			if p := idProblem(m.typ); p != "" {
				return configError("sync %q: model %q: %s", c.Name, m.Name, p)
			}
		}
		seen[m.Name] = true
	}
	if c.Version == "" {
		c.Version = "0.0.1"
	}
	if c.Frequency == "" {
		c.Frequency = "every day"
	}
	if _, err := parseFrequencyMin(c.Frequency, minFrequency); err != nil {
		return configError("sync %q: %v", c.Name, err)
	}
	if c.DeleteGuard != nil {
		if err := c.DeleteGuard.validate(); err != nil {
			return within(err, "sync %q", c.Name)
		}
	}
	return nil
}

func (c *SyncConfig) model(name string) (Model, bool) {
	for _, m := range c.Models {
		if m.Name == name {
			return m, true
		}
	}
	return Model{}, false
}

func (c *SyncConfig) modelNames() []string {
	names := make([]string, len(c.Models))
	for i, m := range c.Models {
		names[i] = m.Name
	}
	return names
}
