package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// HTTP/2 and gRPC upstreams (router.ProtocolH2C, router.ProtocolGRPC).
//
// Such routes go upstream through a transport of their own that speaks
// HTTP/2 without TLS by prior knowledge, with the default transport's
// timeouts, and flush every write at once so that streams stream; the
// request's trailers follow its body upstream.
//
// A gRPC call fails in its trailers: the response is a 200 whose
// grpc-status comes after the messages (or in the headers of a
// trailers-only answer). So a gRPC call's outcome is recorded when the
// response body ends, not at its headers: its latency runs to the end of
// the call, a stream's included. A call counts as an error of its version
// when its grpc-status is one of the route's error codes, when the upstream
// ends the stream without a grpc-status or breaks it, or, as for any
// request, on a 5xx or a failure to reach the instance. Its class is then
// ClassGRPC; a call whose client went away mid-stream is ClassCanceled and
// not an error.

// grpcCodes is a set of grpc-status codes (0 to 16), a bit each.
type grpcCodes uint32

func newGRPCCodes(list []uint32) grpcCodes {
	if list == nil {
		list = router.DefaultGRPCErrorCodes
	}
	var set grpcCodes
	for _, c := range list {
		if c < 32 {
			set |= 1 << c
		}
	}
	return set
}

func (s grpcCodes) has(code uint64) bool { return code < 32 && s&(1<<code) != 0 }

// newH2CTransport returns the transport of h2c and gRPC routes: the
// default transport's settings, speaking HTTP/2 only, without TLS.
func newH2CTransport(headerTimeout time.Duration) *http.Transport {
	t := newTransport(headerTimeout)
	t.Protocols = new(http.Protocols)
	t.Protocols.SetUnencryptedHTTP2(true)
	return t
}

// speak makes the backend's upstreams speak the route's protocol.
func (b *backend) speak(r router.Route) {
	if r.Protocol != router.ProtocolH2C && r.Protocol != router.ProtocolGRPC {
		return
	}
	for _, u := range b.upstreams {
		u.rp.Transport = u.p.getShared().h2c
		u.rp.FlushInterval = -1 // every message of a stream goes out at once
		u.rp.ModifyResponse = u.modifyH2Response
		u.rp.Rewrite = u.rewriteH2
		if r.Protocol == router.ProtocolGRPC {
			codes := newGRPCCodes(r.GRPCErrorCodes)
			u.grpc = &codes
		}
	}
}

// rewriteH2 is the Rewrite of h2c and gRPC upstreams: rewrite, and the
// request's trailers go upstream. The inbound body fills them in when it
// ends; ReverseProxy's Clone copied the map before that, so without
// sharing it they would go out empty.
func (u *upstream) rewriteH2(pr *httputil.ProxyRequest) {
	u.rewrite(pr)
	pr.Out.Trailer = pr.In.Trailer
}

// modifyH2Response is the ModifyResponse of h2c and gRPC upstreams. A
// gRPC call's outcome is recorded when its body ends (see grpcBody); any
// other answer goes to modifyResponse.
func (u *upstream) modifyH2Response(res *http.Response) error {
	trailersOnly(res)
	if u.grpc == nil || res.StatusCode != http.StatusOK && res.Trailer.Get("Grpc-Status") == "" {
		return u.modifyResponse(res)
	}
	ctx := context.Background()
	if res.Request != nil {
		ctx = res.Request.Context()
	}
	res.Body = &grpcBody{ReadCloser: res.Body, u: u, ctx: ctx, res: res}
	u.setVersionHeader(res.Header)
	return nil
}

// grpcTrailers are the fields of a gRPC call's status.
var grpcTrailers = []string{"Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin"}

// trailersOnly turns a trailers-only gRPC answer (its status in the
// headers of a response without body) into headers followed by trailers,
// which gRPC clients read alike. Passed on as it came, its status would
// arrive as trailers only if the proxy's response ended with its headers,
// but ReverseProxy flushes the headers of a streamed response on a timer
// of its own, racing the end of the response: when the flush won, the
// client got no status ("server closed the stream without sending
// trailers").
func trailersOnly(res *http.Response) {
	if res.Header.Get("Grpc-Status") == "" {
		return
	}
	if res.Trailer == nil {
		res.Trailer = http.Header{}
	}
	for _, k := range grpcTrailers {
		if v, ok := res.Header[k]; ok {
			res.Trailer[k] = v
			delete(res.Header, k)
		}
	}
}

// errEndedEarly is a gRPC response body closed before its end: the
// client went away, or the copy to it failed.
var errEndedEarly = errors.New("closed before the end of the call")

// errNoStatus is a gRPC call that ended without a grpc-status.
var errNoStatus = errors.New("the call ended without a grpc-status")

// endCall records a gRPC call that ended with status (the grpc-status,
// "" if none) or broke with err: its class, and finish.
func (u *upstream) endCall(ctx context.Context, status string, err error) {
	switch {
	case err != nil && ctx.Err() != nil, errors.Is(err, errEndedEarly):
		u.instance.codes[ClassCanceled].Add(1)
		u.finish(ctx, false)
		return
	case err != nil:
		u.instance.codes[ClassError].Add(1)
	case status == "":
		err = errNoStatus
		u.instance.codes[ClassGRPC].Add(1)
	default:
		code, perr := strconv.ParseUint(strings.TrimSpace(status), 10, 32)
		if perr == nil && !u.grpc.has(code) {
			u.instance.codes[Class2xx].Add(1)
			u.finish(ctx, false)
			return
		}
		err = errors.New("grpc-status " + router.GRPCCodeName(code))
		if perr != nil {
			err = errors.New("grpc-status " + strconv.Quote(status))
		}
		u.instance.codes[ClassGRPC].Add(1)
	}
	u.finish(ctx, true)
	u.p.logger().LogAttrs(ctx, slog.LevelWarn, "proxy: gRPC call failed", slog.String("service", u.service),
		slog.String("version", u.version), slog.String("addr", u.addr), slog.Any("err", err))
}

// grpcBody is a gRPC response body that records the call's outcome when
// it ends: at EOF, by the trailers; at a read error; or when closed
// first. ReverseProxy reads and closes it on the request's goroutine.
type grpcBody struct {
	io.ReadCloser
	u    *upstream
	ctx  context.Context
	res  *http.Response
	done bool
}

func (b *grpcBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.done {
		b.done = true
		if err == io.EOF {
			b.u.endCall(b.ctx, b.res.Trailer.Get("Grpc-Status"), nil)
		} else {
			b.u.endCall(b.ctx, "", err)
		}
	}
	return n, err
}

func (b *grpcBody) Close() error {
	err := b.ReadCloser.Close()
	if !b.done {
		b.done = true
		b.u.endCall(b.ctx, "", errEndedEarly)
	}
	return err
}
