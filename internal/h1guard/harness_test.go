package h1guard

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// The differential harness: one byte stream, given as one client
// connection's whole input, to a real net/http server and to a real
// fasthttp.Server whose handler runs Check first, as the proxy's fast path
// does. Each side records the requests it would forward, in order.

// seen is one request a server accepted, with its whole body.
type seen struct {
	Method, Target, Host string
	Path                 string // what the proxy routes by
	Body                 string
}

// same reports whether two servers saw the same request. Hosts compare
// case-insensitively (RFC 3986 section 3.2.2; the proxy's routing table
// lowers them too): fasthttp lowers the Host it reports, net/http does not.
func (s seen) same(o seen) bool {
	return s.Method == o.Method && s.Target == o.Target && s.Path == o.Path && s.Body == o.Body &&
		strings.EqualFold(s.Host, o.Host)
}

func (s seen) String() string {
	return fmt.Sprintf("%s %q host=%q path=%q body=%q", s.Method, s.Target, s.Host, s.Path, s.Body)
}

// outcome is what one server made of one connection's input.
type outcome struct {
	mu       sync.Mutex
	seen     []seen
	rejected error // Check's reason, on the fasthttp side
}

func (o *outcome) add(s seen) {
	o.mu.Lock()
	o.seen = append(o.seen, s)
	o.mu.Unlock()
}

// bodyLimit bounds what a handler reads; inputs stay far below it, so a
// body that reaches it is a harness failure, never a quiet cut.
const bodyLimit = 1 << 20

// memConn is the server's end of a client connection that sent input and
// then half-closed: Read gives input, then io.EOF; writes are kept.
type memConn struct {
	in     *bytes.Reader
	out    bytes.Buffer
	rec    *outcome
	mu     sync.Mutex
	closed chan struct{}
	once   sync.Once
}

func newMemConn(input []byte) *memConn {
	return &memConn{in: bytes.NewReader(input), rec: &outcome{}, closed: make(chan struct{})}
}

func (c *memConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.in.Read(p)
}

func (c *memConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

func (c *memConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *memConn) LocalAddr() net.Addr              { return memAddr{} }
func (c *memConn) RemoteAddr() net.Addr             { return memAddr{} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }
func (c *memConn) wait(t testing.TB, side string)   { waitClosed(t, c.closed, side) }
func (memAddr) Network() string                     { return "mem" }
func (memAddr) String() string                      { return "127.0.0.1:1" }
func waitClosed(t testing.TB, ch chan struct{}, s string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: connection not closed after 30s", s)
	}
}

type memAddr struct{}

// chanListener hands the net/http server one memConn per input.
type chanListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return memAddr{} }

type connKey struct{}

// differ runs inputs through both servers.
type differ struct {
	ln     *chanListener
	fast   *fasthttp.Server
	stream *fasthttp.Server
}

// newDiffer starts the net/http server (closed by t.Cleanup) and builds the
// fasthttp servers: one that reads bodies before the handler, as by
// default, and one that streams them (StreamRequestBody), since the proxy
// may use either.
func newDiffer(t testing.TB) *differ {
	d := &differ{ln: &chanListener{conns: make(chan net.Conn), done: make(chan struct{})}}
	srv := &http.Server{
		Handler:     http.HandlerFunc(netHandler),
		ErrorLog:    log.New(io.Discard, "", 0),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(d.ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-served
	})
	d.fast = newFastServer(false)
	d.stream = newFastServer(true)
	return d
}

func netHandler(w http.ResponseWriter, r *http.Request) {
	c := r.Context().Value(connKey{}).(*memConn)
	body, err := io.ReadAll(io.LimitReader(r.Body, bodyLimit))
	if err != nil {
		// The body was cut or malformed: nothing of it goes upstream whole.
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	c.rec.add(seen{Method: r.Method, Target: r.RequestURI, Host: r.Host, Path: r.URL.Path, Body: string(body)})
	_, _ = io.WriteString(w, "ok")
}

func newFastServer(stream bool) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:                      fastHandler,
		Logger:                       fasthttpQuiet{},
		StreamRequestBody:            stream,
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		NoDefaultDate:                true,
	}
}

type fasthttpQuiet struct{}

func (fasthttpQuiet) Printf(string, ...any) {}

// fastHandler is the proxy's fast path reduced to its first step: Check,
// then forward (here: record) or answer 400 and close.
func fastHandler(ctx *fasthttp.RequestCtx) {
	c := ctx.Conn().(*memConn)
	if err := Check(&ctx.Request.Header); err != nil {
		c.rec.mu.Lock()
		c.rec.rejected = err
		c.rec.mu.Unlock()
		ctx.Error(err.Error(), fasthttp.StatusBadRequest)
		ctx.SetConnectionClose()
		return
	}
	var body []byte
	if s := ctx.RequestBodyStream(); s != nil {
		b, err := io.ReadAll(io.LimitReader(s, bodyLimit))
		if err != nil {
			ctx.Error("bad body", fasthttp.StatusBadRequest)
			ctx.SetConnectionClose()
			return
		}
		body = b
	} else {
		body = ctx.PostBody()
	}
	c.rec.add(seen{
		Method: string(ctx.Method()),
		Target: string(ctx.Request.Header.RequestURI()),
		Host:   string(ctx.Host()),
		Path:   sentPath(ctx.Request.Header.RequestURI()),
		Body:   string(body),
	})
	ctx.SetBodyString("ok")
}

// runNet feeds input to the net/http server and returns what it accepted.
func (d *differ) runNet(t testing.TB, input []byte) *outcome {
	c := newMemConn(input)
	select {
	case d.ln.conns <- c:
	case <-time.After(30 * time.Second):
		t.Fatal("net/http server did not accept within 30s")
	}
	c.wait(t, "net/http")
	return c.rec
}

// reference is what net/http accepts from input, as the property's yardstick.
// It is the real server's sequence, with one allowance: RFC 9112 section
// 2.2 lets a server ignore empty lines before a request line, and fasthttp
// ignores any number of them anywhere, while net/http ignores at most four
// CR/LF bytes and only after a POST. Where the server stopped at such lines
// without having been asked to close, the reference goes on past them.
// This skips only bytes between whole messages: the boundary is found by
// net/http's own parser (http.ReadRequest and its body readers), so no
// body or head is ever read differently.
func (d *differ) reference(t testing.TB, input []byte) []seen {
	out := d.runNet(t, input).seen
	end, ok := boundary(input, len(out))
	if !ok {
		return out
	}
	rest := input[end:]
	n := 0
	for {
		switch {
		case bytes.HasPrefix(rest[n:], crlf):
			n += 2
			continue
		case bytes.HasPrefix(rest[n:], []byte("\n")):
			n++
			continue
		}
		break
	}
	if n == 0 || n == len(rest) {
		return out
	}
	return append(out, d.reference(t, rest[n:])...)
}

// boundary returns the offset just after the first k requests of input as
// http.ReadRequest frames them, and false if they cannot be read again or
// the k-th asks to close the connection.
func boundary(input []byte, k int) (int, bool) {
	src := bytes.NewReader(input)
	br := bufio.NewReader(src)
	for i := 0; i < k; i++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return 0, false
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil || req.Close {
			return 0, false
		}
	}
	return len(input) - src.Len() - br.Buffered(), true
}

// runFast feeds input to a fasthttp server and returns what Check let through.
func runFast(t testing.TB, s *fasthttp.Server, input []byte) *outcome {
	c := newMemConn(input)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.ServeConn(c)
	}()
	waitClosed(t, done, "fasthttp")
	return c.rec
}

// compare states the property: what the guarded fasthttp side forwarded is
// a prefix of what net/http accepted, request for request, body for body.
// Where it forwarded fewer, it refused or closed the rest; never more, and
// never a request net/http would have framed or addressed differently.
func compare(n []seen, fastOut *outcome) error {
	f := fastOut.seen
	for i := range f {
		if i >= len(n) {
			return fmt.Errorf("fasthttp forwarded request %d that net/http refused: %v\nnet/http saw: %v", i+1, f[i], n)
		}
		if !f[i].same(n[i]) {
			return fmt.Errorf("request %d differs:\n fasthttp %v\n net/http %v", i+1, f[i], n[i])
		}
	}
	return nil
}

// check runs input through net/http and both fasthttp modes.
func (d *differ) check(t testing.TB, input []byte) (netOut, fastOut *outcome) {
	t.Helper()
	netOut = d.runNet(t, input)
	ref := netOut.seen
	if fastOut = runFast(t, d.fast, input); len(fastOut.seen) > len(ref) {
		ref = d.reference(t, input)
	}
	if err := compare(ref, fastOut); err != nil {
		t.Fatalf("input %q:\n%v", input, err)
	}
	streamOut := runFast(t, d.stream, input)
	if len(streamOut.seen) > len(ref) {
		ref = d.reference(t, input)
	}
	if err := compare(ref, streamOut); err != nil {
		t.Fatalf("input %q (StreamRequestBody):\n%v", input, err)
	}
	return netOut, fastOut
}

func describe(o *outcome) string {
	var b strings.Builder
	for _, s := range o.seen {
		fmt.Fprintf(&b, "[%v] ", s)
	}
	if o.rejected != nil {
		fmt.Fprintf(&b, "rejected: %v", o.rejected)
	}
	return b.String()
}

// sentPath is the decoded path of a request target as sent, what the
// proxy's fast path routes by (not fasthttp's normalized ctx.Path()).
func sentPath(target []byte) string {
	u, err := url.ParseRequestURI(string(target))
	if err != nil {
		return "!" + err.Error()
	}
	return u.Path
}
