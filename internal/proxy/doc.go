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
// trailers, protocol upgrades, streaming. A route's Protocol picks what it
// speaks to instances: HTTP/1.1, or HTTP/2 without TLS for h2c and gRPC
// routes, whose calls are judged by their grpc-status when they end
// (grpc.go).
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
// with its counts, an HDR histogram of latencies and a reservoir sample
// of them; [Proxy.Window] merges the buckets of a time window, for the
// latency quantiles and rank tests of canary analysis. The builtin
// Metrics adapter reads both. [Proxy.OnError] hears of each error as it
// happens.
//
// Every failure goes through one error handler that picks the status: 404
// when no route matches, 503 when no instance is available, 502 for a
// failed upstream, 504 for a timeout and 499 when the client went away.
//
// The proxy trusts no routing or forwarding header from the client: the
// inbound Forwarded and X-Forwarded-* headers are dropped, X-Forwarded-For,
// -Host and -Proto are set from the connection, and a request header named
// like [Proxy.VersionHeader] is removed.
package proxy
