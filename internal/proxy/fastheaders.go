package proxy

import (
	"github.com/valyala/fasthttp"
)

// The fast path's header rules, the same as the net/http path's: scrub
// (hygiene.go) and what ReverseProxy and upstream.rewrite do to the
// outbound head.

// hopHeaders are the hop-by-hop request headers ReverseProxy removes;
// fasthttp itself frames Transfer-Encoding and Connection: close.
// Expect too: fasthttp has answered it, and the body is read whole.
var hopHeaders = []string{"Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Expect"}

// scrubFast removes from a fast-path request's head what its client may
// not say (see scrub) and the hop-by-hop headers. It reports true when
// the request asks to upgrade to a protocol the proxy forwards: such a
// request goes to the net/http path, untouched.
func (p *Proxy) scrubFast(h *fasthttp.RequestHeader, trusted bool) (handOver bool) {
	if up := h.Peek("Upgrade"); len(up) > 0 {
		if p.upgradeAllowed([]string{string(up)}) {
			return true
		}
		h.Del("Upgrade")
	}
	if !trusted {
		for {
			var name [64]byte
			n := 0
			h.VisitAll(func(k, _ []byte) {
				if n == 0 && untrusted(b2s(k)) && len(k) <= len(name) {
					n = copy(name[:], k)
				}
			})
			if n == 0 {
				break
			}
			h.DelBytes(name[:n])
		}
	}
	if name := p.VersionHeader; name != "" {
		h.Del(name)
	}
	if conn := h.Peek("Connection"); len(conn) > 0 {
		var buf [128]byte
		list := append(buf[:0], conn...)
		for len(list) > 0 {
			var tok []byte
			tok, list = cutToken(list)
			if len(tok) > 0 && !equalFoldBytes(tok, "close") && !equalFoldBytes(tok, "keep-alive") {
				h.DelBytes(tok)
			}
		}
		h.Del("Connection")
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
	h.ResetConnectionClose() // the client's connection, not the upstream's
	return false
}

// forwardHeaders sets X-Forwarded-For, -Host and -Proto on the outbound
// head as upstream.rewrite does: afresh from the connection, a trusted
// peer's own kept (its X-Forwarded-For with the peer appended).
func (p *Proxy) forwardHeaders(h *fasthttp.RequestHeader, v *view, trusted bool) {
	var buf [256]byte
	b := buf[:0]
	if trusted {
		if prior := h.Peek("X-Forwarded-For"); len(prior) > 0 {
			b = append(append(b, prior...), ", "...)
		}
		h.Del("Forwarded")
	}
	b = v.peer.AppendTo(b)
	h.SetBytesV("X-Forwarded-For", b)
	if !trusted || len(h.Peek("X-Forwarded-Host")) == 0 {
		b = append(b[:0], v.host...)
		h.SetBytesV("X-Forwarded-Host", b)
	}
	if !trusted || len(h.Peek("X-Forwarded-Proto")) == 0 {
		h.Set("X-Forwarded-Proto", "http")
	}
	if !h.IsHTTP11() {
		h.SetProtocol("HTTP/1.1") // as ReverseProxy: keep-alive upstream
	}
	v.f.Request.UseHostHeader = true
	v.f.Request.URI().DisablePathNormalizing = true
}

// cutToken returns the first comma-separated token of list, trimmed, and
// the rest.
func cutToken(list []byte) (tok, rest []byte) {
	i := 0
	for i < len(list) && list[i] != ',' {
		i++
	}
	tok, rest = list[:i], list[min(i+1, len(list)):]
	for len(tok) > 0 && (tok[0] == ' ' || tok[0] == '\t') {
		tok = tok[1:]
	}
	for len(tok) > 0 && (tok[len(tok)-1] == ' ' || tok[len(tok)-1] == '\t') {
		tok = tok[:len(tok)-1]
	}
	return tok, rest
}

// equalFoldBytes compares ASCII case-insensitively; s is lower case.
func equalFoldBytes(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
