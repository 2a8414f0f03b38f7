package proxy

import (
	"bytes"
	"cmp"
	"io"
	"net"
	"net/http/httputil"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// fastBody is a request body the fast path streams: chunked, or longer
// than BodyBuffer (fasthttp reads a shorter one whole before the
// handler). Like clientBody it reads BodyBuffer bytes ahead before an
// upstream is picked, under an idle deadline, counts against
// MaxBodyBytes, and keeps its read error, the client's fault.
type fastBody struct {
	ctx     *fasthttp.RequestCtx
	src     io.Reader
	prefix  []byte
	buf     []byte // prefix's storage, pooled
	timeout time.Duration
	max     int64
	n       int64
	length  int // -1: unknown (chunked)
	err     error
	out     *fasthttp.Request
}

var fastBodies = sync.Pool{New: func() any { return new(fastBody) }}

// body prepares the request's body before the pick: nil for none or one
// read whole; false when it answered a fault of the client's itself.
func (s *FastServer) body(ctx *fasthttp.RequestCtx, v *view) (*fastBody, bool) {
	p := s.p
	cl := ctx.Request.Header.ContentLength()
	if cl == 0 || cl == -2 {
		return nil, true
	}
	if p.MaxBodyBytes > 0 && int64(cl) > p.MaxBodyBytes {
		p.fastClientFault(ctx, s.serviceAt(v), ClientTooLarge, fasthttp.StatusRequestEntityTooLarge, errBodyTooLarge)
		return nil, false
	}
	if cl > 0 && cl <= s.fast.MaxRequestBodySize {
		return nil, true
	}
	b := fastBodies.Get().(*fastBody)
	*b = fastBody{ctx: ctx, src: ctx.RequestBodyStream(), max: p.MaxBodyBytes, length: cl, buf: b.buf}
	if p.BodyTimeout >= 0 {
		b.timeout = cmp.Or(p.BodyTimeout, DefaultBodyTimeout)
	}
	if limit := cmp.Or(p.BodyBuffer, DefaultBodyBuffer); limit > 0 {
		if !b.readAhead(int(limit)) {
			p.fastBodyFault(ctx, s.serviceAt(v), b.err)
			b.release()
			return nil, false
		}
	}
	return b, true
}

func (s *FastServer) serviceAt(v *view) string {
	if t := s.p.load(); t != nil {
		if rt := t.match(v.host, v.path); rt != nil {
			return rt.service
		}
	}
	return ""
}

// readAhead reads up to limit+1 bytes into the prefix; false on a read
// error. A chunked body that ends within them goes with its length.
func (b *fastBody) readAhead(limit int) bool {
	if cap(b.buf) < limit+1 {
		b.buf = make([]byte, 0, limit+1)
	}
	buf := b.buf[:limit+1]
	n := 0
	for n < len(buf) {
		m, err := b.read(buf[n:])
		n += m
		if err == io.EOF {
			if b.length < 0 {
				b.length = n
			}
			break
		}
		if err != nil {
			return false
		}
	}
	b.prefix = buf[:n]
	return true
}

func (b *fastBody) read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.timeout > 0 {
		_ = b.ctx.SetReadDeadline(time.Now().Add(b.timeout))
	}
	n, err := b.src.Read(p)
	b.n += int64(n)
	switch {
	case b.max > 0 && b.n > b.max:
		err = errBodyTooLarge
	case err == io.EOF:
		if b.timeout > 0 {
			_ = b.ctx.SetReadDeadline(time.Time{})
		}
		return n, err
	case err == nil:
		return n, nil
	}
	if errors2EOF(err) {
		err = io.ErrUnexpectedEOF
	}
	b.err = err
	return n, err
}

// errors2EOF reports whether a read error means the body was cut short.
func errors2EOF(err error) bool {
	return err == io.ErrUnexpectedEOF || strings.Contains(err.Error(), "unexpected EOF")
}

func (b *fastBody) Read(p []byte) (int, error) {
	if len(b.prefix) > 0 {
		n := copy(p, b.prefix)
		b.prefix = b.prefix[n:]
		return n, nil
	}
	if b.length >= 0 && b.n >= int64(b.length) {
		return 0, io.EOF
	}
	return b.read(p)
}

// fault returns the body's read error, nil if it had none.
func (b *fastBody) fault() error { return b.err }

// request returns the request to send upstream: in's head with this
// body.
func (b *fastBody) request(in *fasthttp.Request) *fasthttp.Request {
	b.out = fasthttp.AcquireRequest()
	in.Header.CopyTo(&b.out.Header)
	b.out.UseHostHeader = true
	b.out.URI().DisablePathNormalizing = true
	b.out.SetRequestURIBytes(in.Header.RequestURI())
	b.out.SetBodyStream(b, b.length)
	return b.out
}

func (b *fastBody) release() {
	if b.out != nil {
		fasthttp.ReleaseRequest(b.out)
	}
	buf := b.buf[:0]
	*b = fastBody{buf: buf}
	fastBodies.Put(b)
}

// peekPreface reports whether a connection opens with the HTTP/2
// preface, peeking at its first bytes without taking them from the
// socket. A connection it cannot peek at is HTTP/1.
func peekPreface(c net.Conn) (bool, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, err
	}
	const want = len("PRI ")
	var buf [want]byte
	for {
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK)
			return rerr != syscall.EAGAIN
		})
		switch {
		case err != nil:
			return false, err
		case rerr != nil:
			return false, rerr
		case n <= 0:
			return false, io.EOF
		case !strings.HasPrefix(h2cPreface, string(buf[:n])):
			return false, nil
		case n == want:
			return true, nil
		}
		// A first segment shorter than "PRI ": wait for the rest.
		time.Sleep(time.Millisecond)
	}
}

// handOver gives the connection, from this request on, to the fallback
// net/http server: the request's head and body are replayed to it ahead
// of what follows on the connection.
func (s *FastServer) handOver(ctx *fasthttp.RequestCtx) {
	h := &ctx.Request.Header
	var head []byte
	head = append(head, h.Method()...)
	head = append(head, ' ')
	head = append(head, h.RequestURI()...)
	head = append(head, ' ')
	head = append(head, h.Protocol()...)
	head = append(head, "\r\n"...)
	if raw := h.RawHeaders(); len(raw) > 0 {
		head = append(head, raw...)
	} else {
		head = append(head, "\r\n"...)
	}
	var body io.Reader = bytes.NewReader(nil)
	switch cl := h.ContentLength(); {
	case cl > 0:
		body = io.LimitReader(ctx.RequestBodyStream(), int64(cl))
	case cl == -1:
		body = rechunk(ctx.RequestBodyStream())
	}
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		rc := &replayConn{Conn: c, done: make(chan struct{})}
		rc.r = io.MultiReader(bytes.NewReader(head), &doneReader{r: body, rc: rc}, c)
		s.slow.push(rc)
		// The request's body stream ends with this handler: hold it
		// until the replay has read the body.
		<-rc.done
	})
}

// rechunk returns a chunked encoding of a body fasthttp decoded.
func rechunk(r io.Reader) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		cw := httputil.NewChunkedWriter(pw)
		_, err := io.Copy(cw, r)
		if err == nil {
			err = cw.Close()
		}
		if err == nil {
			_, err = pw.Write([]byte("\r\n"))
		}
		pw.CloseWithError(err)
	}()
	return pr
}

// replayConn is a handed-over connection that reads the replayed request
// first.
type replayConn struct {
	net.Conn
	r    io.Reader
	done chan struct{}
	once sync.Once
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *replayConn) Close() error {
	c.bodyDone()
	return c.Conn.Close()
}

func (c *replayConn) bodyDone() { c.once.Do(func() { close(c.done) }) }

// doneReader tells its replayConn when the replayed body ended.
type doneReader struct {
	r  io.Reader
	rc *replayConn
}

func (d *doneReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil {
		d.rc.bodyDone()
	}
	return n, err
}
