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
func (rt *route) shield(r *http.Request, u *upstream) *backend {
	if rt.stable == nil || u.backend == rt.stable || r.ContentLength != 0 || (r.Body != nil && r.Body != http.NoBody) {
		return nil
	}
	if !slices.Contains(rt.shieldMethods, r.Method) {
		return nil
	}
	return rt.stable
}

// retry serves a shielded request that failed on u again on stable. It
// reports false when it should not: the client went away.
func (u *upstream) retry(w http.ResponseWriter, r *http.Request, stable *backend) bool {
	if r.Context().Err() != nil {
		return false
	}
	u.counts.shieldRetries.Add(1)
	s := stable.nextUpstream()
	s.begin()
	// The retry is not shielded again: a nil stable ends the chain.
	s.serve(w, r.WithContext(withShield(r.Context(), nil)))
	return true
}
