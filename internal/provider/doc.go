// Package provider holds the machinery of the engine's calls to providers' HTTP APIs.
//
// It owns the retry loop and its policy (retry.go: which failures are tried again, how long
// to wait in between, when to give up), the per-connection rate gate (gate.go: the client-side
// limiter, the pauses a provider asks for with Retry-After or rate-limit headers, and the
// transport that applies them), and redaction (redact.go: secrets and sensitive query
// parameters kept out of logs and errors). Package nango keeps what users write and read:
// the configuration types (HTTPConfig, HTTPRetry, RateLimit), Request, Response, APIError and
// the authentication transports, and translates between them and this package.
//
// It imports the standard library, golang.org/x/time/rate and the internal backoff, clock and
// httpheader packages, never package nango.
package provider
