package proxy

import (
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Client hygiene: what the proxy refuses to take from a client. From an
// untrusted peer it strips every header that claims to say where the
// request came from or that speaks for bluejay (scrub); it forwards an
// upgrade only to a protocol it is allowed to (never h2c, whose tunnel
// would bypass routing and counting); and a fault of the client's while
// its request is read is answered and counted as the client's
// (clientFault), never as an error of a version.

// DefaultUpgrades are the protocols an Upgrade request may switch to when
// [Proxy.Upgrades] is nil.
var DefaultUpgrades = []string{"websocket"}

// Reasons a client's request failed, the reason label of [ClientErrorStats].
const (
	// ClientMalformed: the body's framing was invalid (a bad chunk size).
	ClientMalformed = "malformed"
	// ClientTruncated: the body ended before its declared length or last
	// chunk (the client closed, or half-closed, its side).
	ClientTruncated = "truncated"
	// ClientTimeout: the body stalled for longer than BodyTimeout.
	ClientTimeout = "timeout"
	// ClientTooLarge: the body was longer than MaxBodyBytes.
	ClientTooLarge = "too_large"
	// ClientGone: the connection failed while the body was read.
	ClientGone = "gone"
)

// ClientErrorStats counts the requests of a service that failed by a
// fault of the client's, for one reason (see [Proxy.ClientErrors]).
type ClientErrorStats struct {
	Service, Reason string
	Count           int64
}

// clientErrors counts the client's faults by service and reason.
type clientErrors struct{ m sync.Map } // clientErrorKey → *atomic.Int64

type clientErrorKey struct{ service, reason string }

func (c *clientErrors) add(service, reason string) {
	k := clientErrorKey{service, reason}
	v, ok := c.m.Load(k)
	if !ok {
		v, _ = c.m.LoadOrStore(k, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}

// ClientErrors returns how many requests of each service failed by a
// fault of the client's, by reason, sorted by service and reason. Such a
// request is answered 400, 408 or 413 (or not at all, when the client is
// gone) and counts in no version's Counts, Window, Stats or OnError.
func (p *Proxy) ClientErrors() []ClientErrorStats {
	var out []ClientErrorStats
	p.clientErrors.m.Range(func(k, v any) bool {
		key := k.(clientErrorKey)
		out = append(out, ClientErrorStats{Service: key.service, Reason: key.reason, Count: v.(*atomic.Int64).Load()})
		return true
	})
	slices.SortFunc(out, func(a, b ClientErrorStats) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Reason, b.Reason))
	})
	return out
}

// clientFault answers a request that failed by a fault of the client's
// while its request was read, err being the read error, and counts it for
// the service. Nothing is sent to a client that is gone.
func (p *Proxy) clientFault(w http.ResponseWriter, r *http.Request, service string, err error) {
	reason, status := clientReason(r.Context(), err)
	p.clientErrors.add(service, reason)
	p.logger().LogAttrs(r.Context(), slog.LevelDebug, "proxy: client error",
		slog.String("service", service), slog.String("reason", reason), slog.Int("status", status), slog.Any("err", err))
	if status == 0 {
		panic(http.ErrAbortHandler) // close without an answer
	}
	w.Header().Set("Connection", "close") // the rest of the request cannot be trusted
	http.Error(w, http.StatusText(status), status)
}

// clientReason classifies a read error of the client's request, with the
// status that answers it (0: none, the client is gone). ctx is the
// request's: a failure of the client's connection cancels it, a framing
// error does not.
func clientReason(ctx context.Context, err error) (reason string, status int) {
	var ne net.Error
	switch {
	case errors.Is(err, errBodyTooLarge):
		return ClientTooLarge, http.StatusRequestEntityTooLarge
	case errors.As(err, &ne) && ne.Timeout():
		return ClientTimeout, http.StatusRequestTimeout
	case errors.Is(err, io.ErrUnexpectedEOF):
		return ClientTruncated, http.StatusBadRequest
	case ctx.Err() != nil:
		return ClientGone, 0
	default:
		return ClientMalformed, http.StatusBadRequest
	}
}

// scrub removes from r's headers what its client may not say: from an
// untrusted peer every forwarding header and every X-Bluejay-* header
// (bluejay sets its own afterwards), and from anyone an Upgrade to a
// protocol the proxy does not forward, so that the request goes upstream
// as a plain one.
func (p *Proxy) scrub(r *http.Request) {
	if !p.trusted(r.RemoteAddr) {
		for name := range r.Header {
			if untrusted(name) {
				delete(r.Header, name)
			}
		}
	}
	if up, ok := r.Header["Upgrade"]; ok && !p.upgradeAllowed(up) {
		delete(r.Header, "Upgrade")
	}
}

// untrusted reports whether a request header is one that only bluejay or
// a trusted proxy may set.
func untrusted(name string) bool {
	return hasPrefixFold(name, "X-Forwarded-") || hasPrefixFold(name, "X-Bluejay-") ||
		strings.EqualFold(name, "Forwarded") || strings.EqualFold(name, "X-Real-Ip")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// upgradeAllowed reports whether every protocol of an Upgrade header is
// one the proxy forwards; h2c never is.
func (p *Proxy) upgradeAllowed(values []string) bool {
	allowed := p.Upgrades
	if allowed == nil {
		allowed = DefaultUpgrades
	}
	for _, v := range values {
		for proto := range strings.SplitSeq(v, ",") {
			proto = strings.TrimSpace(proto)
			if name, _, _ := strings.Cut(proto, "/"); strings.EqualFold(name, "h2c") ||
				!slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, name) }) {
				return false
			}
		}
	}
	return true
}

// serviceOf returns the service whose route r matches, "" for none.
func (p *Proxy) serviceOf(r *http.Request) (service string, streams bool) {
	if t := p.load(); t != nil {
		if rt := t.match(r.Host, r.URL.Path); rt != nil {
			return rt.service, rt.streams
		}
	}
	return "", false
}
