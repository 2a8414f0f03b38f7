// Package web is bluejay's dashboard: plain HTML, CSS and JavaScript
// embedded in the binary and served by the admin listener under /ui/.
//
// The page reads and acts through the admin API (/v1/...), the same
// calls the CLI makes. A person logs in with the admin token through a
// form; the handler answers with a session cookie (a random id kept in
// memory, never the token) that the API accepts through
// [Handler.Authorize]. Requests that change state and are authenticated
// by the cookie must also carry the X-Bluejay-UI header, which a form or
// a link on another site cannot send (and the cookie is SameSite=Strict).
//
// Two read-only endpoints feed the charts: /ui/api/window measures a
// version over the last seconds (requests, errors, latency quantiles),
// which the page polls each second to draw canary against baseline, and
// /ui/api/templates lists the analysis templates' conditions, from which
// the page draws the limit a condition puts on the canary.
package web
