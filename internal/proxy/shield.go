package proxy

import (
	"errors"
	"net/http"
	"slices"
)

// The shield (opt-in per service): an idempotent request that fails on a
// new version — a failure to forward or a 5xx — is retried once on the
// stable version, so that the user sees success. The failure still counts
// against the new version (its counters, windows and OnError see it
// before the retry), so the analysis judges it all the same. Only
// requests without a body are shielded: a body has been read by the
// first attempt.

// errShielded is what modifyResponse returns for a shielded 5xx, so that
// ReverseProxy discards the response and calls the error handler, which
// retries.
var errShielded = errors.New("failed on a new version; retrying on stable")

// shield returns the stable backend to retry r on when u fails, nil when
// the request is not shielded.
func (rt *route) shield(r *view, u *upstream) *backend {
	if rt.stable == nil || u.backend == rt.stable || !r.bodyless() {
		return nil
	}
	if !slices.Contains(rt.shieldMethods, r.method()) {
		return nil
	}
	return rt.stable
}

// retry serves a shielded request that failed on u again on stable, the
// version its pick shielded it to. It reports false when it should not:
// the client went away, or the service's current route no longer
// shields to that version.
func (u *upstream) retry(w http.ResponseWriter, r *http.Request, stable *backend) bool {
	if r.Context().Err() != nil {
		return false
	}
	s := u.p.pickStable(u.service, stable.version)
	if s == nil {
		return false
	}
	u.counts.shieldRetries.Add(1)
	// The retry is not shielded again: a nil stable ends the chain.
	s.serve(w, r.WithContext(withShield(r.Context(), nil)))
	return true
}

// pickStable picks an instance of version from the service's current
// route, if it is still the route's stable version, and counts the retry
// in flight as pick does. It does not reuse the backend of the request's
// own pick: the route may have changed since, and a version that left it
// may have been released (see sweep), so a retry is a pick like any other.
func (p *Proxy) pickStable(service, version string) *upstream {
	t := p.acquire()
	if t == nil {
		return nil
	}
	defer t.readers.Add(-1)
	rt := t.services[service]
	if rt == nil || rt.stable == nil || rt.stable.version != version {
		return nil
	}
	s := rt.stable.nextUpstream()
	s.begin()
	return s
}
