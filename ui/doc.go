// Package ui is a dashboard for an engine, served by an http.Handler that a service mounts next
// to the REST API (package api): the syncs of every connection with their state, a sync's run
// history, log and checkpoint with buttons to trigger, reset, pause, start and change its
// frequency, the live progress of a run, the change feed of each model, and the outgoing
// webhooks with redelivery.
//
//	dash, err := ui.New(eng, &ui.Config{SecretKeys: []string{os.Getenv("NANGO_SECRET_KEY")}})
//	if err != nil { ... }
//	mux.Handle("/ui/", http.StripPrefix("/ui", dash))
//
// Everything it serves is in the Go binary: templates (html/template), one stylesheet and one
// small script, embedded with go:embed. Pages work without the script; it only streams the
// progress of running runs (server-sent events) and reloads a page when its run ends.
//
// # Signing in
//
// The dashboard takes the secret keys of the REST API. A request is let in when it carries
// "Authorization: Bearer <secret key>", or the session cookie that the sign-in page sets after
// a key was typed in: an HMAC-signed, HttpOnly, SameSite=Strict cookie that expires after
// Config.SessionTTL. A service that authenticates people with its own middleware sets
// Config.DisableAuth and wraps the handler.
//
// Every form that changes something carries a token bound to a cookie of the browser (checked
// on every POST, with the Origin header when there is one), and every answer carries a strict
// Content-Security-Policy: no inline script or style, nothing from other origins.
//
// # Cost
//
// Pages read only what they show: the overview lists the connections of every integration and
// reads the state of one page of them; run history, records and webhook deliveries are paged
// by cursor. Nothing loads a whole stream or every run.
//
// The package imports the root package nango and the store's types; nothing imports it.
package ui
