// Package dataplane lets the proxy run apart from the controller, so that
// restarting, upgrading or losing the controller never touches traffic.
//
// `bluejay proxy -c FILE` runs the builtin proxy alone. Its routing table
// comes from the store — the single source of truth for routing — and a
// Follower keeps it in step: it applies every stored route at start, polls
// the store for changes, and re-reads it at once when the controller asks;
// a store that watches (etcd) hands it the changed routes as they happen,
// which it applies without reading the table.
// A Handler serves the proxy's control API on proxy.control; a Client is
// the controller's side of it and stands in for the in-process proxy
// behind the controller's ports:
//
//	router.Router       SetRoute: POST /v1/dataplane/reload, then checks the
//	                    proxy applied the route the controller just stored
//	metrics.Metrics     Counts:   GET /v1/dataplane/counts
//	metrics.Windowed    Window:   GET /v1/dataplane/window (with latency samples)
//	controller.Drainer  WaitDrained: POST /v1/dataplane/drain
//	failed requests     GET /v1/dataplane/errors, a stream of service names
//	                    that wakes the service's loop (as proxy.OnError does)
//
// The controller never pushes a route: it persists the route, then asks
// the proxy to read the store. So a proxy that restarts, or that was down
// when the controller changed a route, ends up with the table the store
// holds, and a controller that is down leaves the proxy routing as the
// last decision said. The same Handler is mounted on the admin API of a
// `bluejay serve` that runs the proxy itself, so the applied table can be
// compared with the stored one either way (GET /v1/dataplane/routes).
package dataplane
