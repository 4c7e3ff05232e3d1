// Package api serves an engine's change feed and sync control over HTTP, wire-compatible with
// Nango's public REST API, so that Nango's client libraries (@nangohq/node, the Python SDK) and
// any HTTP client work against it unchanged.
//
// It is named api because it is the library's counterpart of Nango's api.nango.dev: the public
// API of the engine. A package named http or server would shadow net/http or say less.
//
//	h, err := api.New(eng, &api.Config{SecretKeys: []string{os.Getenv("NANGO_SECRET_KEY")}})
//	if err != nil { ... }
//	http.Handle("/nango/", http.StripPrefix("/nango", h))
//
// # Endpoints
//
// Paths, headers, bodies and answers are Nango's (a trailing slash is accepted on every path,
// as Express does):
//
//	GET  /records                           the change feed of one model for one connection
//	PATCH /records/prune                   empty the payloads of records up to a cursor
//	POST /sync/trigger                      run syncs now, optionally with a reset
//	POST /sync/start                        schedule syncs again (and run them now)
//	POST /sync/pause                        stop scheduling syncs
//	GET  /sync/status                       the state of syncs per connection
//	PUT  /sync/update-connection-frequency  override a sync's frequency for one connection
//	GET  /webhooks/deliveries               the outgoing webhook deliveries (not in Nango)
//	POST /webhooks/redeliver                queue a dead or delivered webhook again (not in Nango)
//
// GET /records takes the headers Connection-Id and Provider-Config-Key (the integration key) and
// the query parameters model, variant, modified_after (or the deprecated delta), limit (1 to
// 10,000, default 100), filter (added, updated, deleted, comma-separated), cursor and repeated
// ids (at most 100). It answers {"records": [...], "next_cursor": ...}: each record's payload
// with its id as a string and _nango_metadata {first_seen_at, last_modified_at, last_action,
// deleted_at, pruned_at, cursor}, times written like Nango's ("2023-09-18T15:20:35.941305+00:00");
// next_cursor is null on the last page.
//
// PATCH /records/prune takes the same headers and the body {"model", "until_cursor", "variant"?,
// "limit"? (1 to 10,000, default 1,000)}; it empties the payload of the records up to and
// including until_cursor, keeping their metadata and place in the feed, and answers
// {"count": n, "has_more": bool}: while has_more is true, send the same request again.
//
// GET /webhooks/deliveries lists the webhooks the engine sends to your backend, from its outbox,
// oldest first. It takes the query parameters state (pending, delivered or dead), run_id,
// after (a delivery id: continue after it) and limit (1 to 10,000, default 100), and answers
// {"deliveries": [...], "next_after": ...}: each delivery's id, url, state, attempts, run_id,
// provider_config_key, sync, connection_id, model, created_at, queued_at, next_attempt_at,
// last_attempt_at, delivered_at (null when not yet), last_status, last_error and the body
// sent; next_after is null when the page was not full. POST /webhooks/redeliver takes
// {"id": "..."} to queue one delivery again with a fresh round of attempts (it answers
// {"redelivered": 1, "delivery": {...}}, or 404 unknown_webhook_delivery), or
// {"all_dead": true} to queue every dead one ({"redelivered": n}).
//
// # Authentication
//
// Every request must carry "Authorization: Bearer <secret key>" with one of Config.SecretKeys;
// the comparison takes constant time. Config.DisableAuth serves without keys, for local
// development only.
//
// # Errors
//
// Errors are answered as Nango answers them, {"error": {"code": ..., "message": ...}}, with an
// "errors" list ({code, message, path}) for validation failures. The codes are the Code*
// constants. Where Nango answers 500 or silently ignores bad input, this handler answers a 4xx
// that says what was wrong: a malformed, corrupt or foreign cursor (400 invalid_cursor), an
// unknown model (400 unknown_model), an unknown sync in a status query (400 unknown_sync), a
// sync variant other than "base" (400 unknown_variant), opts.emptyCache without opts.reset
// (400 invalid_body), a trigger of a sync that is already running (409 sync_already_running;
// the other syncs of the request are triggered all the same) and a trigger while the engine is
// not running (503 engine_not_running).
package api
