package proxy

import (
	"net/http"
	"net/http/httputil"
	"sync/atomic"
)

// upstream is one address of one version of a service, with the reverse
// proxy that forwards to it. Its hooks know where they forward, so nothing
// has to travel with the request.
type upstream struct {
	p                      *Proxy
	service, version, addr string
	counts                 *counters     // shared by the version's upstreams
	inflight               *atomic.Int64 // shared by every upstream of addr
	rp                     *httputil.ReverseProxy
}

func (p *Proxy) newUpstream(service, version, addr string) *upstream {
	u := &upstream{
		p: p, service: service, version: version, addr: addr,
		counts:   p.countersOf(service, version),
		inflight: p.inflightOf(addr),
	}
	shared := p.getShared()
	u.rp = &httputil.ReverseProxy{
		Rewrite:        u.rewrite,
		Transport:      shared.transport,
		ModifyResponse: u.modifyResponse,
		ErrorHandler:   u.handleError,
		ErrorLog:       shared.errorLog,
	}
	return u
}

// begin counts a request picked for u as in flight; serve ends it.
func (u *upstream) begin() { u.inflight.Add(1) }

// serve forwards a request that begin counted.
func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	defer u.inflight.Add(-1)
	u.counts.requests.Add(1)
	u.rp.ServeHTTP(w, r)
}

// rewrite points the outbound request at u. ReverseProxy has already
// dropped the inbound Forwarded and X-Forwarded-* headers; SetXForwarded
// sets them afresh from the connection. The Host header is passed through
// as the client sent it, since services may be matched by host.
func (u *upstream) rewrite(pr *httputil.ProxyRequest) {
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = u.addr
	pr.SetXForwarded()
	if h := u.p.VersionHeader; h != "" {
		pr.Out.Header.Del(h)
	}
}

// modifyResponse counts an upstream 5xx as an error of the version and
// labels the response with the version.
func (u *upstream) modifyResponse(res *http.Response) error {
	if res.StatusCode >= 500 {
		u.counts.errors.Add(1)
	}
	u.setVersionHeader(res.Header)
	return nil
}

func (u *upstream) handleError(w http.ResponseWriter, r *http.Request, err error) {
	u.p.fail(w, r, u.service, u, err)
}

func (u *upstream) setVersionHeader(h http.Header) {
	if name := u.p.VersionHeader; name != "" {
		h.Set(name, u.version)
	}
}
