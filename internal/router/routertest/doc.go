// Package routertest is the conformance suite every Router adapter runs:
// the builtin proxy, NGINX and HAProxy alike. It starts real backend HTTP
// servers (one per version, answering with their name), drives the
// router's SetRoute and sends real HTTP requests to the data plane the
// router configures, checking what users would see:
//
//   - Weights: a 20/80 split lands within a binomial tolerance (5 sigma
//     over a fixed number of requests); a version at weight 0 gets nothing.
//   - Flip: after SetRoute returns, every request goes to the new split
//     (all to v2, then all back to v1, several times).
//   - NoInstance: a split with no ready instance answers 503, and a version
//     without addresses never takes requests.
//   - Match: host and path prefix pick the service the way the builtin proxy
//     does (a host's routes before host-less ones, longest prefix, 404 when
//     nothing matches).
//   - Sticky: a sticky key (header or cookie) stays on its version, and as
//     the first backend's weight grows users only move to it, never back;
//     with Generate a keyless request gets a key cookie that then sticks.
//   - Rules: header and cookie rules (exact, prefix, regex) force a version
//     at weight 0; values that do not match take the weights.
//   - Load: continuous requests across 100 weight changes, none failing.
//
// Features a router does not claim (see Features) are skipped with a
// message; a router must refuse them at validate time instead.
//
// A router's test runs the suite with a constructor of fresh harnesses:
//
//	func TestConformance(t *testing.T) {
//		routertest.Run(t, func(t *testing.T) routertest.Harness {
//			// start the data plane for t (stopped by t.Cleanup)
//			return routertest.Harness{Router: r, URL: "http://127.0.0.1:PORT", Features: routertest.All}
//		})
//	}
package routertest
