package proxy

import (
	"bytes"
	"io"
	"net"
	"net/http/httputil"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// What the fast path hands to the net/http server: a connection that
// opens with the h2c preface, found at accept, and a connection from a
// request on, whose head (and what was read of its body) is replayed.

// peekFallback reports whether a connection belongs to the net/http
// server from its first bytes: it opens with the HTTP/2 preface (h2c);
// its first segment ends a line with a bare LF, which net/http accepts
// and fasthttp waits past until its timeout; or its first head does not
// end within headBuf bytes, the fast path's read buffer, which refuses a
// longer head (net/http reads up to MaxHeaderBytes). It peeks, so the
// bytes stay in the socket. A connection it cannot peek at is HTTP/1 on
// the fast path. (A later request on a fast connection is the fast
// path's: a bare LF there waits for ReadHeaderTimeout, a head longer
// than headBuf gets 431; neither is ever forwarded.)
func peekFallback(c net.Conn, headBuf int) (bool, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, err
	}
	const want = len("PRI ")
	var small [1024]byte
	for {
		n, err := peek(rc, small[:])
		switch {
		case err != nil:
			return false, err
		case !strings.HasPrefix(h2cPreface, string(small[:min(n, want)])):
			if bareLF(small[:n]) {
				return true, nil
			}
			if n < len(small) || bytes.Contains(small[:n], []byte("\r\n\r\n")) {
				return false, nil // the head ends here, or is still arriving
			}
			return longHeadPeek(rc, headBuf)
		case n >= want:
			return true, nil
		}
		// A first segment shorter than "PRI ": wait for the rest.
		time.Sleep(time.Millisecond)
	}
}

// longHeadPeek peeks at up to size bytes, for a first head that did not
// end in the first 1 KiB (rare: most heads are shorter).
func longHeadPeek(rc syscall.RawConn, size int) (bool, error) {
	bp := peekBuffers.Get().(*[]byte)
	defer peekBuffers.Put(bp)
	if len(*bp) < size {
		*bp = make([]byte, size)
	}
	n, err := peek(rc, (*bp)[:size])
	if err != nil {
		return false, err
	}
	return longHead((*bp)[:n], size), nil
}

// peek reads what the socket holds into buf without taking it, waiting
// for at least a byte; io.EOF when the peer closed.
func peek(rc syscall.RawConn, buf []byte) (int, error) {
	var n int
	var rerr error
	err := rc.Read(func(fd uintptr) bool {
		n, _, rerr = syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK)
		return rerr != syscall.EAGAIN
	})
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, rerr
	case n <= 0:
		return 0, io.EOF
	}
	return n, nil
}

// peekBuffers holds longHeadPeek's buffers, the size of a connection's
// read buffer on the fast path.
var peekBuffers = sync.Pool{New: func() any { return new([]byte) }}

// longHead reports whether the head that b begins does not fit a buffer
// of size bytes: b fills the buffer and the head's end is not in it. (A
// head still arriving in a short first segment stays on the fast path.)
func longHead(b []byte, size int) bool {
	return len(b) >= size && bytes.Index(b, []byte("\r\n\r\n")) < 0
}

// bareLF reports whether a line of b, up to the end of its first head,
// ends with "\n" alone.
func bareLF(b []byte) bool {
	if end := bytes.Index(b, []byte("\r\n\r\n")); end >= 0 {
		b = b[:end]
	}
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			return true
		}
	}
	return false
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
		body = rechunk(io.MultiReader(bytes.NewReader(read), ctx.RequestBodyStream()), h)
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

// rechunk returns a chunked encoding of a body fasthttp decoded, with the
// trailers h announced and received once the body ended.
func rechunk(r io.Reader, h *fasthttp.RequestHeader) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		cw := httputil.NewChunkedWriter(pw)
		_, err := io.Copy(cw, r)
		if err == nil {
			err = cw.Close()
		}
		if err == nil {
			var end []byte
			for _, k := range h.PeekTrailerKeys() {
				if v := h.PeekTrailer(string(k)); len(v) > 0 {
					end = append(append(append(append(end, k...), ": "...), v...), "\r\n"...)
				}
			}
			_, err = pw.Write(append(end, "\r\n"...))
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
