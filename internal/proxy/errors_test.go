package proxy_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
)

// logBuffer is a concurrency-safe log sink for a test.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogged() (*proxy.Proxy, *logBuffer) {
	logs := &logBuffer{}
	h := slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	return &proxy.Proxy{Logger: slog.New(h), VersionHeader: "X-Version"}, logs
}

// closedAddr returns an address where nothing listens any more.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestConnectionRefusedIs502(t *testing.T) {
	p, logs := newLogged()
	addr := closedAddr(t)
	p.SetRoute(route("web", be("v1", 100, addr)))

	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusBadGateway {
		t.Errorf("got %d %q, want 502", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("X-Version"); got != "v1" {
		t.Errorf("X-Version = %q, want v1, the version that failed", got)
	}
	if c := requestsErrors(p.Counts("web", "v1")); c != (metrics.Counts{Requests: 1, Errors: 1}) {
		t.Errorf("counts = %+v, want 1 request, 1 error", c)
	}
	for _, kv := range []string{"level=WARN", "service=web", "version=v1", "addr=" + addr, "status=502", "err="} {
		if !strings.Contains(logs.String(), kv) {
			t.Errorf("log lacks %s:\n%s", kv, logs)
		}
	}
}

func TestSlowUpstreamIs504(t *testing.T) {
	p, _ := newLogged()
	p.Timeout = 50 * time.Millisecond
	slow := newBlocking(t, "slow")
	p.SetRoute(route("web", be("v1", 100, slow.addr)))

	if code, body := send(t, p, "example.com", "/"); code != http.StatusGatewayTimeout {
		t.Errorf("got %d %q, want 504", code, body)
	}
	if c := requestsErrors(p.Counts("web", "v1")); c != (metrics.Counts{Requests: 1, Errors: 1}) {
		t.Errorf("counts = %+v, want 1 request, 1 error", c)
	}
}

// TestClientGoneIs499 pins that a client gone is recorded as 499 and
// sent nothing: the 499 once went on the wire, where a client that had
// only half-closed its side read "HTTP/1.1 499 status code 499".
func TestClientGoneIs499(t *testing.T) {
	p, logs := newLogged()
	slow := newBlocking(t, "slow")
	p.SetRoute(route("web", be("v1", 100, slow.addr)))

	ctx, cancel := context.WithCancel(context.Background())
	rec := httptest.NewRecorder()
	served := make(chan bool)
	go func() {
		served <- serveAborting(p, rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil))
	}()
	<-slow.started
	cancel()

	if aborted := <-served; !aborted || rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" {
		t.Errorf("aborted = %t, answer %d %q %v; want the handler aborted with nothing written", aborted, rec.Code, rec.Body, rec.Header())
	}
	if c := requestsErrors(p.Counts("web", "v1")); c != (metrics.Counts{Requests: 1, Errors: 0}) {
		t.Errorf("counts = %+v, want 1 request and no error: a gone client is not the version's fault", c)
	}
	if !strings.Contains(logs.String(), "status=499") {
		t.Errorf("log lacks status=499:\n%s", logs)
	}
}

// serveAborting serves r with h as an HTTP server would, reporting
// whether h aborted with http.ErrAbortHandler (the server then closes the
// connection without an answer).
func serveAborting(h http.Handler, w http.ResponseWriter, r *http.Request) (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			aborted = true
		}
	}()
	h.ServeHTTP(w, r)
	return false
}

func TestUpstream5xxCountsAsError(t *testing.T) {
	p := &proxy.Proxy{}
	status := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := map[string]int{"/500": 500, "/503": 503, "/404": 404}[r.URL.Path]
		w.WriteHeader(max(code, 200))
	}))
	p.SetRoute(route("web", be("v1", 100, status)))
	for _, path := range []string{"/500", "/503", "/404", "/"} {
		send(t, p, "example.com", path)
	}
	if c := requestsErrors(p.Counts("web", "v1")); c != (metrics.Counts{Requests: 4, Errors: 2}) {
		t.Errorf("counts = %+v, want 4 requests, 2 errors (the 5xx)", c)
	}
}

func TestCountsSurviveSetRoute(t *testing.T) {
	p := &proxy.Proxy{}
	addr := backend(t, "v1")
	p.SetRoute(route("web", be("v1", 100, addr)))
	send(t, p, "example.com", "/")
	p.SetRoute(route("web", be("v1", 100, addr, backend(t, "v1"))))
	send(t, p, "example.com", "/")
	if c := p.Counts("web", "v1"); c.Requests != 2 {
		t.Errorf("requests = %d, want 2 across SetRoute", c.Requests)
	}
	if c := p.Counts("web", "unknown"); c != (metrics.Counts{}) {
		t.Errorf("unknown version counts = %+v, want zero", c)
	}
}
