package proxy

import (
	"time"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// Passive health, or outlier ejection: an instance that fails
// ConsecutiveFailures requests in a row (5xx or a failure to forward) is
// skipped by the picker for BaseEjection, doubling with each ejection in
// a row up to MaxEjection; a success ends the run. The state lives with
// the instance's counters, so it survives route changes. The active
// readiness probes of the controller still take an instance out of the
// route for good; ejection is the fast, passive half.
//
// The last instance of a version that is not ejected is never ejected:
// a version must keep serving (and being judged) rather than turn into
// 503s — the rollout's analysis, not the picker, decides that a version
// is bad, and the shield covers its users meanwhile.

// outcome updates the instance's passive health after a request.
func (u *upstream) outcome(failed bool) {
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
	in.failures.Store(0)
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
