// Package gatewayapi is the Router that writes each service's traffic
// split as a Kubernetes Gateway API HTTPRoute, for whichever Gateway
// implementation the user runs (Envoy Gateway, Istio, Cilium, NGINX
// Gateway Fabric, ...) to carry.
//
// The route is named after the service, lives in the namespace of the
// service's versions, attaches to the configured parentRefs, and holds:
//
//   - one rule per header or cookie route, in order, each matching the
//     service's path prefix and the header (a cookie is a regular
//     expression over the Cookie header) and sending everything to that
//     version's Service (kube.Name);
//   - then the weighted rule: the path prefix, and a backendRef per
//     version with ready instances, to its Service with its weight; a
//     mirror, when set, is a RequestMirror filter with its percent.
//
// Gateway API gives a rule with more header matches precedence over one
// with fewer, and among equals the first listed, which is the builtin
// proxy's order. A version without ready instances gets no backendRef
// (its Service may already be gone), so a Gateway never resolves a
// reference to nothing.
//
// Every change is a server-side apply of the whole spec (field manager
// bluejay), then the route is read back and what bluejay owns (hostnames,
// matches, filters, backendRefs and weights) compared with what was
// written: an API server that dropped a field (an older CRD) fails the
// change instead of silently routing otherwise. With AcceptTimeout, the
// change is live only once every parent's Gateway reports the route
// Accepted with its references resolved, at the route's new generation;
// a Gateway that rejects it fails the change with its reason.
//
// What an HTTPRoute cannot express is refused at validate time (sticky
// users, shield retries, outlier ejection, cookie regexes); the
// analysis reads Prometheus, as the traffic never passes bluejay.
package gatewayapi
