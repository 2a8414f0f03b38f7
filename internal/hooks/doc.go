// Package hooks runs one rollout hook: a command, given the rollout as
// JSON on its standard input and as BLUEJAY_* environment variables,
// passing when it exits 0; or a webhook, the same JSON POSTed, passing on
// a 2xx answer. Each attempt is bounded by the hook's timeout; a failed
// attempt is retried after the hook's delay. The result says what ran,
// how it ended and, for a command, the tail of its output.
package hooks
