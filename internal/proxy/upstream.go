package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httputil"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// upstream is one address of one version of a service, with the reverse
// proxy that forwards to it. Its hooks know where they forward, so nothing
// has to travel with the request.
type upstream struct {
	p                      *Proxy
	service, version, addr string
	counts                 *counters       // shared by the version's upstreams
	instance               *instanceCounts // shared by the version's upstreams of addr
	inflight               *atomic.Int64   // shared by every upstream of addr
	rp                     *httputil.ReverseProxy
	backend                *backend             // the version u belongs to
	outlier                *router.Outlier      // nil: no passive health
	grpc                   *grpcCodes           // the error codes of a gRPC route; nil: not gRPC
	hc                     *fasthttp.HostClient // the fast path's, shared by every upstream of addr
}

func (p *Proxy) newUpstream(service, version, addr string) *upstream {
	u := &upstream{
		p: p, service: service, version: version, addr: addr,
		counts:   p.countersOf(service, version),
		inflight: p.inflightOf(addr),
	}
	u.instance = u.counts.instanceOf(addr, p.now())
	u.hc = p.hostClient(addr)
	shared := p.getShared()
	u.rp = &httputil.ReverseProxy{
		Rewrite:        u.rewrite,
		Transport:      shared.transport,
		ModifyResponse: u.modifyResponse,
		ErrorHandler:   u.handleError,
		ErrorLog:       shared.errorLog,
		BufferPool:     &shared.buffers,
	}
	return u
}

// begin counts a request picked for u as in flight, at its address and
// in its version (which holds the version's state: see sweep); serve ends
// it.
func (u *upstream) begin() {
	u.inflight.Add(1)
	u.counts.inflight.Add(1)
}

// serve forwards a request that begin counted, its context carrying when
// the proxy took it.
func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	defer u.counts.inflight.Add(-1)
	defer u.inflight.Add(-1)
	u.counts.requests.Add(1)
	t := &tracked{Context: r.Context(), start: u.p.now(), user: u.p.userKey(r)}
	t.shield, _ = r.Context().Value(shieldKey{}).(*backend)
	t.body, _ = r.Body.(*clientBody)
	u.rp.ServeHTTP(w, r.WithContext(t))
}

// tracked is the context of a request that serve forwards: the request's
// own, plus when the proxy took it and when its outcome was recorded. The
// hooks that see a request finish (modifyResponse and the error handler)
// find it in the outbound request's context, which derives from it. It
// is a Context type of its own, rather than a context.WithValue of a
// state struct, to cost one allocation per request instead of two. Those
// hooks run on the request's goroutine, so its fields need no lock.
type tracked struct {
	context.Context
	start time.Time
	end   time.Time // zero until the first outcome is recorded
	user  string    // who sent it, for the blast radius
	// shield is the stable backend to retry on if this attempt fails;
	// nil when the request is not shielded (or is the retry).
	shield *backend
	body   *clientBody // the body streamed from the client; nil: none
}

// shieldKey carries a request's shield into serve.
type shieldKey struct{}

type shieldCtx struct {
	context.Context
	stable *backend
}

func (c shieldCtx) Value(key any) any {
	if key == (shieldKey{}) {
		return c.stable
	}
	return c.Context.Value(key)
}

func withShield(ctx context.Context, stable *backend) context.Context {
	return shieldCtx{Context: ctx, stable: stable}
}

// trackedKey is the key under which a tracked context returns itself.
type trackedKey struct{}

// Value returns the tracked context itself for trackedKey, and the
// request context's values otherwise.
func (t *tracked) Value(key any) any {
	if key == (trackedKey{}) {
		return t
	}
	return t.Context.Value(key)
}

// finish records the outcome of a request to u when its response headers
// arrived or it failed: the request and its latency in the version's
// window and latency histogram, and, if failed, an error of the version
// in Counts, Window and OnError. ctx is the request's context. The
// instance's classes are counted apart, by the hooks that call finish.
func (u *upstream) finish(ctx context.Context, failed bool) {
	t, _ := ctx.Value(trackedKey{}).(*tracked)
	u.finishTracked(t, failed)
}

// finishTracked is finish for the request t tracks (nil: unknown).
func (u *upstream) finishTracked(t *tracked, failed bool) {
	switch {
	case t == nil:
		// A custom Transport's response without its request: the latency
		// is unknown.
		u.counts.window.record(u.p.now(), -1, failed)
	case t.end.IsZero():
		t.end = u.p.now()
		latency := t.end.Sub(t.start)
		u.counts.window.record(t.end, latency, failed)
		u.counts.latency.observe(latency)
		u.counts.users.add(t.user, failed)
	case failed:
		// A second outcome: an upgrade that failed after its 101 response
		// was recorded. The request is counted; its failure is not yet.
		u.counts.window.addError(t.end)
		u.counts.users.add(t.user, true)
	default:
		return
	}
	u.outcome(failed)
	if failed {
		u.counts.errors.Add(1)
		if u.p.OnError != nil {
			u.p.OnError(u.service, u.version)
		}
	}
}

// rewrite points the outbound request at u. ReverseProxy has already
// dropped the inbound Forwarded and X-Forwarded-For/-Host/-Proto (scrub,
// every other forwarding header of an untrusted peer); SetXForwarded
// sets them afresh from the connection. The Host header is passed through
// as the client sent it, since services may be matched by host.
func (u *upstream) rewrite(pr *httputil.ProxyRequest) {
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = u.addr
	trusted := u.p.trusted(pr.In.RemoteAddr)
	if xff := pr.In.Header["X-Forwarded-For"]; trusted && len(xff) > 0 {
		pr.Out.Header["X-Forwarded-For"] = xff // SetXForwarded appends the peer
	}
	pr.SetXForwarded()
	if trusted {
		for _, h := range []string{"X-Forwarded-Proto", "X-Forwarded-Host"} {
			if v := pr.In.Header.Get(h); v != "" {
				pr.Out.Header.Set(h, v)
			}
		}
	}
	if h := u.p.VersionHeader; h != "" {
		pr.Out.Header.Del(h)
	}
}

// modifyResponse records the request as finished, an upstream 5xx as an
// error of the version, and labels the response with the version.
func (u *upstream) modifyResponse(res *http.Response) error {
	ctx := context.Background()
	if res.Request != nil {
		ctx = res.Request.Context()
	}
	u.instance.codes[responseClass(res.StatusCode)].Add(1)
	u.finish(ctx, res.StatusCode >= 500)
	if t, _ := ctx.Value(trackedKey{}).(*tracked); t != nil && t.shield != nil && res.StatusCode >= 500 {
		return errShielded
	}
	u.setVersionHeader(res.Header)
	return nil
}

// handleError counts the proxy's answer to a failed request in the
// instance's classes (fail, the one error handler, picks the same
// status), then hands the request to fail.
func (u *upstream) handleError(w http.ResponseWriter, r *http.Request, err error) {
	t, _ := r.Context().Value(trackedKey{}).(*tracked)
	if t != nil && t.body != nil {
		if ferr := t.body.fault(r.Context()); ferr != nil {
			u.p.clientFault(w, r, u.service, ferr) // not the version's
			return
		}
	}
	if !errors.Is(err, errShielded) {
		u.instance.codes[failureClass(statusFor(r.Context(), err))].Add(1)
	}
	if t != nil && t.shield != nil {
		if !errors.Is(err, errShielded) {
			u.finish(r.Context(), statusFor(r.Context(), err) != StatusClientClosedRequest)
		}
		if u.retry(w, r.WithContext(t.Context), t.shield) {
			return
		}
	}
	u.p.fail(w, r, u.service, u, err)
}

func (u *upstream) setVersionHeader(h http.Header) {
	if name := u.p.VersionHeader; name != "" {
		h.Set(name, u.version)
	}
}
