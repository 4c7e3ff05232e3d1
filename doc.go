// Package nango keeps an up-to-date local copy of data that lives in other companies' APIs
// (CRM contacts, files, tickets) inside a Go service, with syncs written as plain Go.
//
// # Syncs
//
// A sync is a Sync (or a SyncFunc) declared in a SyncConfig with the models it writes. Its Exec
// receives a *Nango bound to one run for one connection: it fetches from the provider's API and
// calls BatchSave, BatchUpdate and BatchDelete. GetCheckpoint and WithCheckpoint (or
// SaveCheckpoint) let an incremental sync resume where the last run stopped; WithCheckpoint
// commits the checkpoint in the same transaction as the records it covers, so a crash never
// leaves the checkpoint ahead of the data.
//
//	contacts := nango.SyncConfig{
//		Name:   "contacts",
//		Models: []nango.Model{nango.ModelOf[Contact]("Contact")},
//		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
//			var cp struct{ Since time.Time }
//			if _, err := n.GetCheckpoint(ctx, &cp); err != nil {
//				return err
//			}
//			page, next, err := fetchContacts(ctx, cp.Since)
//			if err != nil {
//				return err
//			}
//			return n.BatchSave(ctx, page, "Contact", nango.WithCheckpoint(next))
//		}),
//	}
//
// # Records and the change feed
//
// The store compares every saved record with the one it holds: a new id is ADDED, a changed
// payload UPDATED, an unchanged one is left alone (no write, no new cursor), and a deleted id
// is DELETED with its payload kept. Change detection hashes a canonical encoding of the JSON, so
// the order of keys never makes a change. Every change gets a cursor that grows in commit
// order; Engine.ListRecords, Engine.AllRecords and RecordsOf read the feed after a cursor, so a
// backend processes only what changed.
//
// With SyncConfig.TrackDeletes, a successful run is a full sync: records it did not save are
// marked DELETED afterwards, never after a failed, panicked or cancelled run, and never beyond
// the DeleteGuard (by default, not more than half of a stream of 100 or more records).
//
// # Provider HTTP
//
// Sync code calls the provider's API through the handle (Nango.Get, Nango.Request,
// Nango.Paginate, PaginateItems): paths are relative to Integration.BaseURL, and the engine adds
// the connection's credentials (Integration.Auth: OAuth2, APIKey, BasicAuth, AuthFunc), a rate
// limiter per connection that honours Retry-After and reset headers, and retries with backoff.
// Failures are *APIError; a connection whose OAuth refresh is refused gives an *AuthError that
// matches ErrReauthRequired. Credentials never appear in logs or errors.
//
// # Scheduling
//
// Engine.Run runs every sync for every connection at its frequency, on a grid offset per
// connection, within MaxConcurrentRuns; Trigger, Pause, Start and SetFrequency control it, and
// Status and RunHistory report. A run holds a lease in the store and every write it makes is
// fenced by it, so at most one run of a sync per connection is in progress across processes.
//
// # Webhooks and change notification
//
// With Config.Webhooks, a run that changed a model writes Nango's webhook payload to an outbox
// in the same store transaction as the run's end; Engine.Run delivers it, signed, with retries
// until it succeeds or is dead (WebhookDeliveries, RedeliverWebhook). Backends verify with
// VerifyWebhook or WebhookReceiver. In the same process, Subscribe and SubscribeChan deliver
// change events, and NewConsumer gives durable, at-least-once consumers whose cursors the store
// keeps. Provider webhooks reach syncs through ProviderWebhookHandler: debounced runs, or a
// sync's OnWebhook; SetMergingStrategy keeps a polling run from overwriting newer data.
//
// # Stores
//
// The Engine works over a store.Store: store/bolt (an embedded bbolt file, the default),
// store/memory (tests). All pass the conformance suite in store/storetest.
//
// # Errors
//
// Errors wrap the sentinels in errors.go (ErrUnknownModel, ErrRunActive, ...); test them with
// errors.Is. Bad records are reported as *RecordError with the model, the index in the batch and
// the id, and the batch they belong to is not written.
package nango
