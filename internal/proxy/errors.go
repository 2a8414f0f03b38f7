package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
)

// StatusClientClosedRequest is the status the proxy records when the
// client went away before the upstream answered (nginx's 499). The client
// never sees it: the proxy closes the connection (or resets the HTTP/2
// stream) without an answer.
const StatusClientClosedRequest = 499

var (
	errNoRoute    = errors.New("no route")
	errNoInstance = errors.New("no ready instance")
)

// fail is the proxy's one error handler: every failure to forward a
// request ends here. It picks the status, records the request as finished
// for the version that failed, a 502 or 504 as its error, logs, and
// answers with a short plain-text body. u is the upstream that failed, nil
// when none was picked.
func (p *Proxy) fail(w http.ResponseWriter, r *http.Request, service string, u *upstream, err error) {
	status := statusFor(r.Context(), err)
	if u != nil {
		u.finish(r.Context(), status == http.StatusBadGateway || status == http.StatusGatewayTimeout)
		u.setVersionHeader(w.Header())
	}
	p.logFailure(r.Context(), status, service, u, err)
	if status == StatusClientClosedRequest {
		// Nothing goes on the wire: the client left, or half-closed its
		// side and would read an answer it must never see.
		panic(http.ErrAbortHandler)
	}
	http.Error(w, failureText(status, service), status)
}

// statusFor picks the status for a failure to forward a request whose
// context is ctx. The client going away wins over what it caused upstream.
func statusFor(ctx context.Context, err error) int {
	var ne net.Error
	switch {
	case errors.Is(err, errNoRoute):
		return http.StatusNotFound
	case errors.Is(err, errNoInstance):
		return http.StatusServiceUnavailable
	case errors.Is(ctx.Err(), context.Canceled):
		return StatusClientClosedRequest
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout
	default:
		return http.StatusBadGateway
	}
}

func failureText(status int, service string) string {
	switch status {
	case http.StatusNotFound:
		return "no route"
	case http.StatusServiceUnavailable:
		return "no ready instance for service " + service
	case StatusClientClosedRequest:
		return "client closed request"
	default:
		return http.StatusText(status)
	}
}

// logFailure logs upstream failures as warnings. A missing route is the
// client's doing and a gone client is routine, so those log at debug and
// info.
func (p *Proxy) logFailure(ctx context.Context, status int, service string, u *upstream, err error) {
	level := slog.LevelWarn
	switch status {
	case http.StatusNotFound:
		level = slog.LevelDebug
	case StatusClientClosedRequest:
		level = slog.LevelInfo
	}
	attrs := []slog.Attr{slog.String("service", service), slog.Int("status", status)}
	if u != nil {
		attrs = append(attrs, slog.String("version", u.version), slog.String("addr", u.addr))
	}
	attrs = append(attrs, slog.Any("err", err))
	p.logger().LogAttrs(ctx, level, "proxy: request failed", attrs...)
}
