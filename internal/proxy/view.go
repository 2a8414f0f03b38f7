package proxy

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// view is a request as the decision code reads it (pick, choose, rules,
// sticky keys, the shield, the user key), whichever path took it: the
// net/http one (r, w) or the fast one (f). It is a concrete type passed
// by pointer, so that reading through it allocates nothing; the strings
// it returns for the fast path alias the request's buffers and must not
// outlive the request.
type view struct {
	r *http.Request
	w http.ResponseWriter

	f    *fasthttp.RequestCtx
	host string // the Host header, as sent
	path string // the path as sent, without query
	peer netip.Addr

	// A sticky key generated for the fast path's client, whose
	// Set-Cookie goes on the response once the upstream answered.
	key      [16]byte
	keyLen   int
	keyRoute *route
}

func httpView(w http.ResponseWriter, r *http.Request) view {
	return view{r: r, w: w, host: r.Host, path: r.URL.Path}
}

// header returns the first value of the named request header, "" when
// it is absent.
func (v *view) header(name string) string {
	if v.f != nil {
		return b2s(v.f.Request.Header.Peek(name))
	}
	return v.r.Header.Get(name)
}

// cookie returns the value of the named request cookie, "" when absent.
func (v *view) cookie(name string) string {
	if v.f != nil {
		return b2s(v.f.Request.Header.Cookie(name))
	}
	if c, err := v.r.Cookie(name); err == nil {
		return c.Value
	}
	return ""
}

func (v *view) method() string {
	if v.f != nil {
		return b2s(v.f.Request.Header.Method())
	}
	return v.r.Method
}

// bodyless reports whether the request has no body: only such a request
// is shielded or mirrored.
func (v *view) bodyless() bool {
	if v.f != nil {
		return v.f.Request.Header.ContentLength() == 0 || v.f.Request.Header.ContentLength() == -2
	}
	return v.r.ContentLength == 0 && (v.r.Body == nil || v.r.Body == http.NoBody)
}

// setStickyCookie gives the client the sticky key generated for it.
func (v *view) setStickyCookie(rt *route, key string) {
	if v.f != nil {
		v.keyRoute = rt // the key is in v.key
		return
	}
	// A copy: key is in v, which must not leave its caller's stack.
	http.SetCookie(v.w, stickyCookie(rt.sticky, strings.Clone(key)))
}

// writeStickyCookie adds the Set-Cookie of a key generated for a
// fast-path request to its response.
func (v *view) writeStickyCookie() {
	if v.keyRoute == nil {
		return
	}
	var buf [256]byte
	b := append(buf[:0], v.keyRoute.sticky.Cookie...)
	b = append(b, '=')
	b = append(b, v.key[:v.keyLen]...)
	b = append(b, v.keyRoute.stickyAttrs...)
	v.f.Response.Header.AddBytesKV(strSetCookie, b)
}

var strSetCookie = []byte("Set-Cookie")

// stickyAttrs is what follows "name=value" in the Set-Cookie of a
// generated sticky key: the same for every key of the route.
func stickyAttrs(st *router.Sticky) string {
	if st == nil || st.Cookie == "" {
		return ""
	}
	s := stickyCookie(st, "k").String()
	if i := strings.IndexByte(s, ';'); i >= 0 {
		return s[i:]
	}
	return ""
}

// generateKey returns a new sticky key, held in v.
func (p *Proxy) generateKey(v *view) string {
	b := strconv.AppendUint(v.key[:0], p.random(), 36)
	v.keyLen = len(b)
	return b2s(b)
}

// fastUser names the user behind a fast-path request (see
// Proxy.userKey): the client's address, or the first X-Forwarded-For
// address of a trusted peer. buf holds the address text.
func (p *Proxy) fastUser(v *view, buf []byte) string {
	if p.UserKey != nil {
		return p.UserKey(fastHTTPRequest(v))
	}
	if xff := v.f.Request.Header.Peek("X-Forwarded-For"); len(xff) > 0 && p.trustedAddr(v.peer) {
		first := b2s(xff)
		if i := strings.IndexByte(first, ','); i >= 0 {
			first = first[:i]
		}
		return strings.TrimSpace(first)
	}
	return b2s(v.peer.AppendTo(buf))
}

// fastHTTPRequest builds the net/http form of a fast-path request's head
// for Proxy.UserKey, a hook written for net/http. It allocates: the
// fast path pays it only when the hook is set.
func fastHTTPRequest(v *view) *http.Request {
	r := &http.Request{Method: strings.Clone(v.method()), Host: strings.Clone(v.host), Header: http.Header{},
		RemoteAddr: v.f.RemoteAddr().String(), RequestURI: string(v.f.Request.Header.RequestURI())}
	r.URL = &url.URL{Path: strings.Clone(v.path)}
	v.f.Request.Header.VisitAll(func(k, val []byte) {
		r.Header.Add(string(k), string(val))
	})
	return r
}

// peerOf returns the address of a fast-path client, unmapped.
func peerOf(ctx *fasthttp.RequestCtx) netip.Addr {
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	ap, err := netip.ParseAddrPort(ctx.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// b2s returns the bytes as a string without copying; b must not change
// while the string is in use.
func b2s(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
