// Package proxy is bluejay's builtin data plane: an HTTP reverse proxy that
// splits each service's traffic among its versions by weight.
//
// A [Proxy] holds a routing table of [router.Route] entries, one per
// service. A request is matched to a route by host and path prefix, the
// most specific route winning: a route for the request's host (port and
// case ignored) beats a route for any host, then the longer prefix wins.
// Prefixes match as plain string prefixes, so "/api" also matches
// "/apiv2"; a route that wants a segment boundary ends its prefix with
// "/". A version is then picked at random in proportion to the weights of
// the backends that have a positive weight and an address, and one of the
// version's addresses in turn (round-robin). The request is forwarded with
// [httputil.ReverseProxy], which does the HTTP work: hop-by-hop headers,
// trailers, WebSocket upgrades, streaming. A route's Protocol picks what it
// speaks to instances: HTTP/1.1, or HTTP/2 without TLS for h2c and gRPC
// routes, whose calls are judged by their grpc-status when they end
// (grpc.go).
//
// A [FastServer] serves plain HTTP/1.x on a purpose-built path (fast.go):
// fasthttp parses, internal/h1guard refuses ambiguous framing, the same
// decision code routes (view.go), and a fasthttp.HostClient per address
// forwards; it hands h2c, upgrades and long bodies to net/http.
//
// The table is an immutable value swapped atomically, so a weight change
// is seen whole by every request and the request path takes no lock.
// Requests already forwarded finish on the instance that took them;
// [Proxy.InFlight] and [Proxy.WaitDrained] tell the controller when an
// instance that left the split may be stopped.
//
// The proxy counts requests and errors per service and version
// ([Proxy.Counts]). It also keeps each version's recent requests in a ring
// of time buckets (two minutes of one-second buckets by default), each
// with its counts, its latencies at an HDR histogram's resolution (kept
// sparse: a bucket is made when a request first finishes into it and
// grows with its distinct latencies) and a reservoir sample of them;
// [Proxy.Window] merges the buckets of a time window, for the
// latency quantiles and rank tests of canary analysis. The builtin
// Metrics adapter reads both. [Proxy.OnError] hears of each error as it
// happens.
//
// What the proxy keeps of a version follows the routes (lifecycle.go): it
// is made when a route first names the version and kept while one does or
// a request is in flight on it, then [Proxy.Retain] longer (10 minutes by
// default) so that a departed version's final numbers can still be read;
// then it is released, and a version routed again starts from zero. The
// proxy's goroutines (mirror workers, the janitor that releases) stop at
// [Proxy.Close].
//
// Every failure to forward goes through one error handler that picks the
// status: 404 when no route matches, 503 when no instance is available,
// 502 for a failed upstream and 504 for a timeout, which count against
// the version; a client that went away is recorded as 499 and sent
// nothing.
//
// A client cannot steer those counts (hygiene.go, body.go). A request
// body is read under an idle deadline ([Proxy.BodyTimeout]), its first
// [Proxy.BodyBuffer] bytes before an upstream connection is taken, and
// records its own read error: a fault of the client's (malformed framing,
// a truncated or stalled body, one over [Proxy.MaxBodyBytes]) is answered
// 400, 408 or 413 and counted in [Proxy.ClientErrors], never against a
// version. Waiting for an upstream connection is bounded by
// [Proxy.Timeout].
//
// The proxy trusts no routing or forwarding header from a client outside
// [Proxy.TrustedProxies]: every inbound Forwarded, X-Forwarded-*,
// X-Real-IP and X-Bluejay-* header is removed, X-Forwarded-For, -Host and
// -Proto are set from the connection, and mirrored copies get their own
// X-Bluejay-Mirror. A request header named like [Proxy.VersionHeader] is
// removed from everyone. An Upgrade is forwarded only to a protocol of
// [Proxy.Upgrades] (websocket by default), never to h2c; any other is
// removed and the request forwarded as a plain one.
package proxy
