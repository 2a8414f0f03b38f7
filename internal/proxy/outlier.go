package proxy

import (
	"time"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// Passive health, or outlier ejection: an instance that fails
// ConsecutiveFailures requests in a row (5xx or a failure to forward) is
// skipped by the picker for BaseEjection, doubling with each ejection in
// a row up to MaxEjection. After the back-off the instance is half-open:
// its next request is the probe — a failure ejects it again at once, a
// success ends the run. (Requests probe rather than the active readiness
// probes because the latter run in the controller, which may be another
// process than the proxy; they still take an unready instance out of the
// route for good.) The state lives with
// the instance's counters, so it survives route changes.
//
// The last instance of a version that is not ejected is never ejected:
// a version must keep serving (and being judged) rather than turn into
// 503s — the rollout's analysis, not the picker, decides that a version
// is bad, and the shield covers its users meanwhile.

// outcome updates the instance's passive health after a request.
func (u *upstream) outcome(failed bool) {
	u.p.outcomes.note(u.addr, failed, u.p.now())
	o, in := u.outlier, u.instance
	if o == nil {
		return
	}
	if !failed {
		in.failures.Store(0)
		in.ejectedTimes.Store(0)
		return
	}
	if int(in.failures.Add(1)) < o.ConsecutiveFailures || u.ejected(u.p.now()) || !u.backend.othersServe(u) {
		return
	}
	n := in.ejectedTimes.Add(1)
	d := time.Duration(o.BaseEjection * float64(time.Second))
	for range n - 1 {
		d *= 2
	}
	d = min(d, time.Duration(o.MaxEjection*float64(time.Second)))
	in.ejectedUntil.Store(u.p.now().Add(d).UnixNano())
	// Half-open after the back-off: the first request it gets is its
	// probe, and one more failure ejects it again, for twice as long.
	in.failures.Store(int32(o.ConsecutiveFailures - 1))
	u.counts.ejections.Add(1)
	u.p.logger().Warn("proxy: instance ejected", "service", u.service, "version", u.version, "addr", u.addr,
		"for", d, "failures", o.ConsecutiveFailures)
}

// ejected reports whether the instance is ejected at now.
func (u *upstream) ejected(now time.Time) bool {
	return u.outlier != nil && now.UnixNano() < u.instance.ejectedUntil.Load()
}

// othersServe reports whether another instance of the backend than u is
// not ejected.
func (b *backend) othersServe(u *upstream) bool {
	now := u.p.now()
	for _, o := range b.upstreams {
		if o != u && !o.ejected(now) {
			return true
		}
	}
	return false
}

// withOutlier gives the backend's upstreams the route's outlier settings.
func (b *backend) withOutlier(o *router.Outlier) {
	for _, u := range b.upstreams {
		u.outlier, u.backend = o, b
	}
}
