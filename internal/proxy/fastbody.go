package proxy

import (
	"context"
	"io"
	"sync"
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
