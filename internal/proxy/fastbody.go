package proxy

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http/httputil"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// body decides what becomes of a request's body before the pick, as
// readBody does on the net/http path. None, or one that ends within
// BodyBuffer bytes, read here under the idle deadline BodyTimeout, stays
// on the fast path (true; *buf holds it, to be put back in bodyBuffers
// once forwarded). One declared longer than MaxBodyBytes gets 413, and a
// read error is the client's fault (false). A longer one goes to the
// net/http path with the rest of the connection (handOver, false), whose
// streaming keeps a client that stalls from holding an upstream
// connection, the head flushed to the instance before the body.
func (s *FastServer) body(ctx *fasthttp.RequestCtx, v *view, buf **[]byte) bool {
	p := s.p
	cl := ctx.Request.Header.ContentLength()
	if cl == 0 || cl == -2 {
		return true
	}
	if p.MaxBodyBytes > 0 && int64(cl) > p.MaxBodyBytes {
		p.fastClientFault(ctx, s.serviceAt(v), ClientTooLarge, fasthttp.StatusRequestEntityTooLarge, errBodyTooLarge)
		return false
	}
	if cl > s.bodyBuffer {
		s.handOver(ctx, nil)
		return false
	}
	b := bodyBuffers.Get().(*[]byte)
	*buf = b
	n, err := s.readAhead(ctx, b, cl)
	if err != nil {
		reason, status := clientReason(context.Background(), err)
		p.fastClientFault(ctx, s.serviceAt(v), reason, status, err)
		return false
	}
	if n > s.bodyBuffer {
		s.handOver(ctx, (*b)[:n]) // chunked, and longer than BodyBuffer
		return false
	}
	ctx.Request.Header.SetContentLength(n) // a chunked body goes with its length
	ctx.Request.SetBodyRaw((*b)[:n])
	return true
}

var bodyBuffers = sync.Pool{New: func() any { return new([]byte) }}

// readAhead reads the body into *b: all of it when its length cl is
// known, else (chunked) until it ends or passes BodyBuffer. Each read
// has BodyTimeout to arrive. A body cut short is io.ErrUnexpectedEOF.
func (s *FastServer) readAhead(ctx *fasthttp.RequestCtx, b *[]byte, cl int) (int, error) {
	want := cl
	if cl < 0 {
		want = s.bodyBuffer + 1
	}
	if cap(*b) < want {
		*b = make([]byte, want)
	}
	buf := (*b)[:want]
	src := ctx.RequestBodyStream()
	conn := ctx.Conn()
	n := 0
	for n < want {
		if s.bodyTimeout > 0 {
			_ = conn.SetReadDeadline(time.Now().Add(s.bodyTimeout))
		}
		m, err := src.Read(buf[n:])
		n += m
		if err == io.EOF {
			if cl >= 0 && n < cl {
				return n, io.ErrUnexpectedEOF
			}
			break
		}
		if err != nil {
			return n, err
		}
		if s.p.MaxBodyBytes > 0 && int64(n) > s.p.MaxBodyBytes {
			return n, errBodyTooLarge
		}
	}
	if s.bodyTimeout > 0 {
		_ = conn.SetReadDeadline(time.Time{}) // the connection's own come back with its next request
	}
	return n, nil
}

func (s *FastServer) serviceAt(v *view) string {
	if t := s.p.load(); t != nil {
		if rt := t.match(v.host, v.path); rt != nil {
			return rt.service
		}
	}
	return ""
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
func (s *FastServer) handOver(ctx *fasthttp.RequestCtx, read []byte) {
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
	// read is what of the body the fast path has read already.
	read = bytes.Clone(read)
	var body io.Reader = bytes.NewReader(nil)
	switch cl := h.ContentLength(); {
	case cl > 0:
		body = io.MultiReader(bytes.NewReader(read), io.LimitReader(ctx.RequestBodyStream(), int64(cl-len(read))))
	case cl == -1:
		body = rechunk(io.MultiReader(bytes.NewReader(read), ctx.RequestBodyStream()))
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
