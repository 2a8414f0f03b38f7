// Package nginx is the Router adapter for an NGINX the user runs.
//
// bluejay owns one file (spec.NginxRouter.Config), which the user's main
// configuration includes inside its http block. Each SetRoute replaces
// one service's route in the router's table and renders the whole file
// from it:
//
//   - an upstream per version with ready instances (keep-alive, no passive
//     marking down: max_fails=0);
//   - the weighted pick as split_clients over $request_id (random), or over
//     the sticky key (the header, else the cookie read from the Cookie
//     header by a regex, else a fresh $request_id, set in the cookie when
//     the route generates keys), the first backend's range first so that
//     sticky users only move to a growing canary;
//   - header and cookie rules as a chain of maps (exact and prefix as
//     anchored regexes: NGINX's plain map strings are case-insensitive);
//   - a server per host plus a default server for host-less routes, a
//     location ^~ per path prefix, 503 when no version is eligible and 404
//     where no route matches, as in the builtin proxy;
//   - a status server on loopback answering the file's generation.
//
// The file is written atomically and checked with `nginx -t`; on failure
// the previous file is put back and the error carries NGINX's message.
// Otherwise the master gets SIGHUP, and SetRoute returns once the change
// is live: the status server answers the new generation and every worker
// of the previous configuration has stopped accepting (Linux: its /proc
// title says "is shutting down", or it is gone).
//
// One limit is NGINX's own: a connection an old worker accepted before
// the reload but that carried no request yet is served by that worker,
// under the old configuration, for its first request (the worker then
// closes it). A client that opened a spare connection just before a
// change can thus see one request on the old split after SetRoute
// returned; bench/routers counts these ("stale after return").
//
// WaitDrained waits until the workers of older configurations, which
// finish their in-flight requests before they exit, have exited.
package nginx
