// Package checks runs health probes and smoke tests against a version's
// instances directly, not through the proxy, so that a verdict is about
// the instance itself.
//
// Probe is one readiness probe. A Monitor probes a set of instances on an
// interval and decides each one's readiness with hysteresis: ready after
// HealthyThreshold consecutive passes, out after UnhealthyThreshold
// consecutive failures; its probes run on a Scheduler shared by all
// Monitors (one heap, one timer, a bounded pool of workers, jittered
// intervals, passive health through Outcomes), and a probe that timed
// out while the prober itself ran late is inconclusive (proberLate).
// A Prober sends HTTP/1.1 probes over kept connections that cost no
// goroutine and no buffer while idle (the controller's default).
// RunSmoke sends a new version's smoke tests to
// each of its instances and stops at the first failure, with a reason
// precise enough to show the user as is.
//
// Redirects are never followed: the status judged is the instance's own.
package checks
