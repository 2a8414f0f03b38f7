package proxy

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/bluejay-deploy/bluejay/internal/h1guard"
)

// The fast path (issue 21): plain HTTP/1.x from clients, parsed by
// valyala/fasthttp, guarded by h1guard, routed by the same decision code
// as the net/http path (view.go), and forwarded by a fasthttp.HostClient
// per instance address with pooled keep-alive connections, the response
// body streamed back as it arrives. What it does not speak goes to a
// net/http server with the proxy as its handler, invisibly: a connection
// that opens with the HTTP/2 preface (h2c) at accept, and at its first
// such request one that asks for an allowed Upgrade (WebSocket), whose
// route speaks h2c or gRPC to its instances, whose body is longer than
// BodyBuffer, or that accepts an event stream (whose response may outlast
// Timeout).

// FastOptions are a FastServer's limits on its clients.
type FastOptions struct {
	// MaxHeaderBytes bounds a request's head; a longer one gets 431.
	// Zero means 64 KiB. Each connection on the fast path reads through a
	// buffer of at most FastHeadBuffer, or of MaxHeaderBytes plus 4 KiB
	// for the request line when that is less: a connection whose first
	// head is longer goes to net/http, which reads up to MaxHeaderBytes;
	// a later head longer than the buffer gets 431 (see FastHeadBuffer).
	MaxHeaderBytes int
	// ReadHeaderTimeout bounds reading a request's head, and a body that
	// fits the proxy's BodyBuffer (read whole before routing); zero, none.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle this long; zero
	// means none (net/http's, without a ReadTimeout).
	IdleTimeout time.Duration
	// Fallback serves what the fast path hands over. Its Handler and
	// Protocols are its own (the proxy, h2c...); its listener is the
	// FastServer's. nil means an http.Server with the proxy as handler
	// and these limits.
	Fallback *http.Server
}

// FastServer serves a plaintext listener on the proxy's fast path.
type FastServer struct {
	p        *Proxy
	fast     *fasthttp.Server
	fallback *http.Server
	quick    *connQueue // connections for fast
	// bodyTimeout and bodyBuffer are Proxy.BodyTimeout and BodyBuffer
	// resolved; 0: none.
	bodyTimeout time.Duration
	bodyBuffer  int
	headBuf     int        // fast's read buffer: the longest head it reads
	slow        *connQueue // connections for fallback

	mu      sync.Mutex
	ln      net.Listener
	sniffed map[net.Conn]struct{} // connections being sniffed
	closed  bool
	wg      sync.WaitGroup // the servers' Serve loops
}

// FastHeadBuffer is the largest read buffer of a connection on the fast
// path, and so the longest head it reads: 16 KiB, HAProxy's default
// (tune.bufsize), with 4 KiB for the request line. fasthttp reads a
// connection through one fixed buffer that must hold a whole head; a
// buffer of MaxHeaderBytes (64 KiB by default) for each of a thousand
// connections was most of the proxy's memory, and the GC's headroom over
// it most of the rest. Heads this long are rare and come on a
// connection's first request too (big cookies), which hands the
// connection to net/http.
const FastHeadBuffer = 20 << 10

// noIdleTimeout stands for no idle timeout, which fasthttp has not.
const noIdleTimeout = 100 * 365 * 24 * time.Hour

// NewFastServer returns a server of p's fast path.
func (p *Proxy) NewFastServer(o FastOptions) *FastServer {
	s := &FastServer{p: p, quick: newConnQueue(), slow: newConnQueue(), sniffed: map[net.Conn]struct{}{}}
	maxHeader := cmp.Or(o.MaxHeaderBytes, 64<<10)
	s.fallback = o.Fallback
	if s.fallback == nil {
		s.fallback = &http.Server{Handler: p, MaxHeaderBytes: maxHeader, ReadHeaderTimeout: o.ReadHeaderTimeout,
			IdleTimeout: o.IdleTimeout}
	}
	if p.BodyTimeout >= 0 {
		s.bodyTimeout = cmp.Or(p.BodyTimeout, DefaultBodyTimeout)
	}
	s.bodyBuffer = int(max(min(cmp.Or(p.BodyBuffer, DefaultBodyBuffer), 1<<30), 0))
	s.headBuf = min(maxHeader+4<<10, FastHeadBuffer)
	s.fast = &fasthttp.Server{
		Handler:                       s.handle,
		ErrorHandler:                  s.parseError,
		ExpectHandler:                 s.expect,
		ReadBufferSize:                s.headBuf,
		ReadTimeout:                   o.ReadHeaderTimeout,
		IdleTimeout:                   cmp.Or(o.IdleTimeout, noIdleTimeout), // fasthttp's zero is ReadTimeout
		MaxRequestBodySize:            1,                                    // bodies stream to the handler (body)
		StreamRequestBody:             true,
		DisablePreParseMultipartForm:  true,
		DisableHeaderNamesNormalizing: false,
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		NoDefaultDate:                 true,
		KeepHijackedConns:             true,
		CloseOnShutdown:               true,
		Logger:                        fastLogger{p},
	}
	return s
}

// Serve accepts connections from ln until Shutdown, each served on the
// fast path or handed to the fallback server by its first bytes. It
// returns nil after Shutdown.
func (s *FastServer) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.ln = ln
	s.wg.Add(2)
	s.mu.Unlock()
	go func() { defer s.wg.Done(); _ = s.fast.Serve(s.quick) }()
	go func() { defer s.wg.Done(); _ = s.fallback.Serve(s.slow) }()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		if !s.track(c) {
			c.Close()
			return nil
		}
		go s.sniff(c)
	}
}

func (s *FastServer) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track records a connection being sniffed, so that Shutdown can close
// it; false when the server is closed.
func (s *FastServer) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.sniffed[c] = struct{}{}
	return true
}

func (s *FastServer) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.sniffed, c)
	s.mu.Unlock()
}

// Shutdown stops accepting, closes idle connections and waits for the
// requests in flight, on both paths, until ctx ends.
func (s *FastServer) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.sniffed {
		c.Close()
	}
	s.mu.Unlock()
	s.quick.Close()
	err := errors.Join(s.fast.ShutdownWithContext(ctx), s.fallback.Shutdown(ctx))
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, ctx.Err())
	}
	return err
}

// h2cPreface opens every HTTP/2 connection without TLS.
const h2cPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// sniff waits for a connection's first bytes and hands it to the server
// that speaks its protocol. It peeks (the bytes stay in the socket), so
// the fast path gets the bare *net.TCPConn.
func (s *FastServer) sniff(c net.Conn) {
	defer s.untrack(c)
	if s.fast.ReadTimeout > 0 {
		_ = c.SetReadDeadline(time.Now().Add(s.fast.ReadTimeout))
	}
	slow, err := peekFallback(c, s.headBuf)
	_ = c.SetReadDeadline(time.Time{})
	switch {
	case err != nil:
		c.Close()
	case slow:
		s.slow.push(c)
	default:
		s.quick.push(c)
	}
}

// handle is the fast path's handler: one request, from its parsed head
// to its response.
func (s *FastServer) handle(ctx *fasthttp.RequestCtx) {
	p := s.p
	h := &ctx.Request.Header
	if err := h1guard.Check(h); err != nil {
		p.fastClientFault(ctx, "", ClientMalformed, fasthttp.StatusBadRequest, err)
		return
	}
	v := view{f: ctx, host: b2s(h.Host()), path: requestPath(h.RequestURI()), peer: peerOf(ctx)}
	trusted := p.trustedAddr(v.peer)
	if s.handsOver(h, &v) || p.scrubFast(h, trusted) {
		s.handOver(ctx, nil)
		return
	}
	var body *[]byte
	if !s.body(ctx, &v, &body) {
		if body != nil {
			bodyBuffers.Put(body)
		}
		return
	}
	if body != nil {
		defer bodyBuffers.Put(body)
	}
	rt, u := p.pick(&v)
	for rt != nil && u == nil && rt.hold.active() {
		if !rt.hold.wait(ctx) {
			p.fastFail(ctx, &v, rt.service, nil, nil, ctx.Err())
			return
		}
		rt, u = p.pick(&v)
	}
	switch {
	case rt == nil:
		p.fastFail(ctx, &v, "", nil, nil, errNoRoute)
	case u == nil && rt.maintenance != nil:
		p.maintain(&fastWriter{ctx: ctx}, rt)
	case u == nil:
		p.fastFail(ctx, &v, rt.service, nil, nil, errNoInstance)
	default:
		p.forwardHeaders(h, &v, trusted)
		if rt.mirror != nil {
			p.mirror(rt, fastHTTPRequest(&v), u)
		}
		s.forward(ctx, &v, u, rt.shield(&v, u))
	}
}

// handsOver reports whether a request is one for the net/http path: a
// route that streams to h2c or gRPC instances, or an event stream (an
// allowed upgrade is scrubFast's to find).
func (s *FastServer) handsOver(h *fasthttp.RequestHeader, v *view) bool {
	if bytes.Contains(h.Peek("Accept"), []byte("text/event-stream")) {
		return true
	}
	if t := s.p.load(); t != nil {
		if rt := t.match(v.host, v.path); rt != nil && rt.streams {
			return true
		}
	}
	return false
}

// forward sends the request to u and streams u's answer back: the fast
// path's upstream.serve. u is counted in flight; forward ends it.
func (s *FastServer) forward(ctx *fasthttp.RequestCtx, v *view, u *upstream, stable *backend) {
	p := s.p
	defer u.counts.inflight.Add(-1)
	defer u.inflight.Add(-1)
	u.counts.requests.Add(1)
	var userBuf [64]byte
	t := tracked{start: p.now(), user: p.fastUser(v, userBuf[:0])}
	err := u.hc.Do(&ctx.Request, &ctx.Response)
	if err == nil {
		status := ctx.Response.StatusCode()
		u.instance.codes[responseClass(status)].Add(1)
		u.finishTracked(&t, status >= 500)
		if status >= 500 && stable != nil {
			if st := p.pickStable(u.service, stable.version); st != nil {
				_ = ctx.Response.CloseBodyStream()
				s.retry(ctx, v, u, st)
				return
			}
		}
		s.respond(ctx, v, u)
		return
	}
	status := fastStatus(err)
	u.instance.codes[failureClass(status)].Add(1)
	if stable != nil {
		u.finishTracked(&t, true)
		if st := p.pickStable(u.service, stable.version); st != nil {
			s.retry(ctx, v, u, st)
			return
		}
	}
	p.fastFail(ctx, v, u.service, u, &t, err)
}

// retry serves a shielded request that failed on u again on st, an
// instance of the stable version that pickStable counted in flight (see
// upstream.retry). The retry is not shielded again.
func (s *FastServer) retry(ctx *fasthttp.RequestCtx, v *view, u, st *upstream) {
	u.counts.shieldRetries.Add(1)
	ctx.Response.Reset()
	s.forward(ctx, v, st, nil)
}

// respond finishes an upstream's answer for the client: hop-by-hop
// headers out, the version and a generated sticky key in.
func (s *FastServer) respond(ctx *fasthttp.RequestCtx, v *view, u *upstream) {
	rh := &ctx.Response.Header
	rh.ResetConnectionClose() // the upstream's connection, not the client's
	rh.Del("Keep-Alive")
	rh.Del("Proxy-Connection")
	if name := s.p.VersionHeader; name != "" {
		rh.Set(name, u.version)
	}
	v.writeStickyCookie()
}

// hostClient returns the proxy's HostClient for addr, making it once.
// Like the default transport: 256 connections per address, 2s to dial,
// Timeout for a connection and then the response, no retry of a request
// that has a body, idle connections closed after 90s.
func (p *Proxy) hostClient(addr string) *fasthttp.HostClient {
	if v, ok := p.hostClients.Load(addr); ok {
		return v.(*fasthttp.HostClient)
	}
	hc := &fasthttp.HostClient{
		Addr:                          addr,
		MaxConns:                      connsPerHost,
		MaxIdleConnDuration:           90 * time.Second,
		MaxConnWaitTimeout:            p.timeout(),
		ReadTimeout:                   p.timeout(),
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		StreamResponseBody:            true,
		Dial: func(addr string) (net.Conn, error) {
			return net.DialTimeout("tcp", addr, 2*time.Second)
		},
	}
	v, _ := p.hostClients.LoadOrStore(addr, hc)
	return v.(*fasthttp.HostClient)
}

// sweepHostClients releases the HostClients of addresses no route names
// and no request uses (all of them for nil addrs), closing their idle
// connections. Callers hold p.mu, or are Close.
func (p *Proxy) sweepHostClients(addrs map[string]bool) {
	p.hostClients.Range(func(k, v any) bool {
		addr := k.(string)
		if addrs == nil || (!addrs[addr] && p.InFlight(addr) == 0) {
			if addrs != nil {
				p.hostClients.Delete(k)
			}
			v.(*fasthttp.HostClient).CloseIdleConnections()
		}
		return true
	})
}

// fastStatus is statusFor for the HostClient's errors.
func fastStatus(err error) int {
	var ne net.Error
	switch {
	case errors.Is(err, errNoRoute):
		return http.StatusNotFound
	case errors.Is(err, errNoInstance):
		return http.StatusServiceUnavailable
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrNoFreeConns),
		errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout
	case errors.Is(err, context.Canceled):
		return StatusClientClosedRequest
	default:
		return http.StatusBadGateway
	}
}

// fastFail is fail for the fast path: u is the upstream that failed (nil
// when none was picked) and t its request.
func (p *Proxy) fastFail(ctx *fasthttp.RequestCtx, v *view, service string, u *upstream, t *tracked, err error) {
	status := fastStatus(err)
	ctx.Response.Reset()
	if u != nil {
		if t != nil {
			u.finishTracked(t, status == http.StatusBadGateway || status == http.StatusGatewayTimeout)
		}
		if name := p.VersionHeader; name != "" {
			ctx.Response.Header.Set(name, u.version)
		}
	}
	p.logFailure(ctx, status, service, u, err)
	if status == StatusClientClosedRequest {
		ctx.SetConnectionClose()
		return
	}
	v.writeStickyCookie()
	plainError(ctx, failureText(status, service), status)
}

func plainError(ctx *fasthttp.RequestCtx, text string, status int) {
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.SetStatusCode(status)
	ctx.SetBodyString(text + "\n")
}

// fastClientFault answers a request the client framed badly and counts
// it for the service (clientFault); the connection closes after it.
func (p *Proxy) fastClientFault(ctx *fasthttp.RequestCtx, service, reason string, status int, err error) {
	p.clientErrors.add(service, reason)
	p.logger().LogAttrs(ctx, slog.LevelDebug, "proxy: client error",
		slog.String("service", service), slog.String("reason", reason), slog.Int("status", status), slog.Any("err", err))
	ctx.Response.Reset()
	ctx.SetConnectionClose()
	if status != 0 {
		plainError(ctx, http.StatusText(status), status)
	}
}

// parseError answers what fasthttp could not parse (a head too long, a
// malformed or stalled one), counted as the client's fault.
func (s *FastServer) parseError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	service := ""
	if len(ctx.Request.Header.Host()) > 0 {
		service = s.serviceOf(ctx) // the head was read: its body failed
	}
	switch {
	case errors.As(err, &small):
		s.p.fastClientFault(ctx, service, ClientTooLarge, fasthttp.StatusRequestHeaderFieldsTooLarge, err)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		s.p.fastClientFault(ctx, service, ClientTooLarge, fasthttp.StatusRequestEntityTooLarge, err)
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, fasthttp.ErrTimeout):
		s.p.fastClientFault(ctx, service, ClientTimeout, fasthttp.StatusRequestTimeout, err)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		s.p.fastClientFault(ctx, service, ClientTruncated, fasthttp.StatusBadRequest, err)
	default:
		s.p.fastClientFault(ctx, service, ClientMalformed, fasthttp.StatusBadRequest, err)
	}
}

// expect answers Expect: 100-continue: 413 at once for a body declared
// longer than MaxBodyBytes, else go on.
func (s *FastServer) expect(ctx *fasthttp.RequestCtx) int {
	if m := s.p.MaxBodyBytes; m > 0 && int64(ctx.Request.Header.ContentLength()) > m {
		s.p.clientErrors.add(s.serviceOf(ctx), ClientTooLarge)
		return fasthttp.StatusRequestEntityTooLarge
	}
	return fasthttp.StatusContinue
}

func (s *FastServer) serviceOf(ctx *fasthttp.RequestCtx) string {
	if t := s.p.load(); t != nil {
		if rt := t.match(b2s(ctx.Request.Header.Host()), requestPath(ctx.Request.Header.RequestURI())); rt != nil {
			return rt.service
		}
	}
	return ""
}

// fastLogger sends fasthttp's own messages (a connection that failed) to
// the proxy's log at debug.
type fastLogger struct{ p *Proxy }

func (l fastLogger) Printf(format string, args ...any) {
	if l.p.logger().Enabled(context.Background(), slog.LevelDebug) {
		l.p.logger().Debug("proxy: fast path: " + fmt.Sprintf(format, args...))
	}
}

// fastWriter is an http.ResponseWriter over a fast-path response, for
// the rare answers written for net/http (maintenance).
type fastWriter struct {
	ctx    *fasthttp.RequestCtx
	header http.Header
	wrote  bool
}

func (w *fastWriter) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

func (w *fastWriter) WriteHeader(status int) {
	if w.wrote {
		return
	}
	w.wrote = true
	for k, vs := range w.header {
		for _, v := range vs {
			w.ctx.Response.Header.Add(k, v)
		}
	}
	w.ctx.SetStatusCode(status)
}

func (w *fastWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.ctx.Response.AppendBody(b)
	return len(b), nil
}

// connQueue is a net.Listener whose connections are pushed to it.
type connQueue struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	n     atomic.Int64
}

func newConnQueue() *connQueue {
	return &connQueue{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (q *connQueue) push(c net.Conn) {
	select {
	case q.conns <- c:
	case <-q.done:
		c.Close()
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.conns:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return &net.TCPAddr{} }

// requestPath returns the path of a request target as net/http's
// URL.Path has it: without the query, percent-escapes decoded (a copy,
// then). h1guard has checked the target.
func requestPath(target []byte) string {
	if len(target) > 0 && target[0] != '/' {
		// absolute-form: skip scheme://authority
		if i := bytes.Index(target, []byte("://")); i >= 0 {
			target = target[i+3:]
			j := bytes.IndexAny(target, "/?")
			if j < 0 {
				return "/"
			}
			target = target[j:]
		}
	}
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		target = target[:i]
	}
	if bytes.IndexByte(target, '%') < 0 {
		return b2s(target)
	}
	out := make([]byte, 0, len(target))
	for i := 0; i < len(target); i++ {
		c := target[i]
		if c == '%' && i+2 < len(target) {
			c = unhexByte(target[i+1])<<4 | unhexByte(target[i+2])
			i += 2
		}
		out = append(out, c)
	}
	return b2s(out)
}

func unhexByte(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
