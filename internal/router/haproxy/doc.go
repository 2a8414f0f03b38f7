// Package haproxy is the Router adapter for an HAProxy the user runs
// (2.4 or later for prepare/commit map; tested with 2.6).
//
// # What bluejay owns
//
// One file, spec.HAProxyRouter.Config, which HAProxy loads after its main
// configuration (haproxy -f haproxy.cfg -f bluejay.cfg). It holds a
// `defaults bluejay` section of its own, the frontend `bluejay` on Listen,
// and per service Versions backends bj_SERVICE_0 … (a version backend
// each), of Slots servers s1 … sN. Beside it bluejay writes Config.map
// (each version backend's share), the server-state file and Config.json
// (which version holds which backend and server, read by the next start).
// With a version header, Config.versions.map names each version
// backend's version, and every backend sets the header from it on its
// responses; it is replaced through the runtime API before the ranges,
// so a backend's version is named before requests reach it.
//
// # Why a backend per version
//
// A request is routed in the frontend: it draws a pick in [0, 10000) —
// the sticky key's hash (xxh32, salted per service, mod 10000) when the
// request has one, else rand(10000) — and goes to the version backend
// whose range [lo, hi) holds it. The ranges are the route's cumulative
// weights in pick order, read per request from the map. This gives what
// per-server weights in one backend cannot:
//
//   - exact shares: 1% is 100 buckets whatever the versions' instance
//     counts, where HAProxy's per-server weights (0-256) would round;
//   - the builtin proxy's sticky semantics: a key's bucket is fixed, and
//     as the first version's range grows keys only move to it, never
//     back (cookie persistence pins users to servers and a weight-0
//     server keeps its persisted users, so a flip-back would not flip
//     them; consistent hashing moves keys between instances);
//   - header and cookie rules as use_backend to the version's backend,
//     guarded by nbsrv > 0 so that a rule to a version without a ready
//     instance is ignored, as in the builtin proxy.
//
// Within a version, requests go round-robin over its ready servers.
//
// # A change without a reload
//
// A split or instance change goes through the admin socket, in an order
// that never sends a request where it cannot be served: a server that
// joins gets `set server B/sN addr IP port P` and `state ready`; then the
// whole map is replaced atomically (`prepare map`, `add map @ver`,
// `commit map @ver`), which is the switch; then servers that left get
// `state drain` (requests in flight finish; WaitDrained polls their scur
// and qcur in `show stat`). A version new to the service takes a version
// backend no request is sent to. SetRoute then reads `show servers state`
// and `show map` back and returns only when they are what it applied.
//
// # A change with a reload
//
// What the runtime API cannot change — a new service, a service's host,
// path prefix, sticky key or header rules — re-renders the file. It is
// checked with haproxy -c first (a refusal changes nothing and returns
// HAProxy's message), written with the servers' current addresses and
// readiness, and HAProxy is reloaded (`reload` on the master socket, or
// ReloadCommand). The change is live once the admin socket lists the
// empty backend bluejay_config_HASH, whose hash covers the file's
// structure, then the state is read back as above. The hash also lets a
// restarted bluejay see that HAProxy already runs its structure, so it
// does not reload.
//
// # Reloads bluejay does not make
//
// After every change bluejay rewrites the file (servers with their
// current addresses, drained ones disabled), the map and the server-state
// file (`show servers state`, which the backends load with
// load-server-state-from-file local), so that an operator's reload keeps
// the split, the weights and the drained servers. The file carries the
// addresses because HAProxy 2.6 does not restore a server's address from
// the state file (haproxy/haproxy#3265).
//
// # What HAProxy cannot do
//
// Mirroring (HAProxy 2.6 mirrors only through an external SPOE agent),
// the shield's retry on another version and the builtin proxy's outlier
// ejection are refused by spec validation on the service that asks.
// Regex rules are PCRE2 in HAProxy, RE2 in bluejay's validation; a
// pattern PCRE2 refuses fails the change at haproxy -c.
package haproxy
