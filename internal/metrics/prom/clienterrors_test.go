package prom_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bluejay-deploy/bluejay/internal/metrics/prom"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// brokenBody fails as a client's malformed chunked body does.
type brokenBody struct{}

func (brokenBody) Read([]byte) (int, error) { return 0, errors.New("malformed chunked encoding") }

func TestCollectorClientErrors(t *testing.T) {
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	p := &proxy.Proxy{Now: clk.Now, Logger: slog.New(slog.DiscardHandler), MaxBodyBytes: 4}
	addr := backend(t, clk, 0, 200)
	p.SetRoute(router.Route{Service: "web", Backends: []router.Backend{{Version: "v1", Weight: 100, Addrs: []string{addr}}}})
	for _, body := range []io.Reader{brokenBody{}, brokenBody{}, strings.NewReader("too long")} {
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "http://example.com/", body))
		if rec.Code != http.StatusBadRequest && rec.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("answer %d, want 400 or 413", rec.Code)
		}
	}
	want := `# HELP bluejay_proxy_client_errors_total Requests that failed by a fault of the client's while the proxy read them (malformed framing, a truncated or stalled body, a body over maxBodyBytes, a client gone), by reason; they count against no version.
# TYPE bluejay_proxy_client_errors_total counter
bluejay_proxy_client_errors_total{reason="malformed",service="web"} 2
bluejay_proxy_client_errors_total{reason="too_large",service="web"} 1
# HELP bluejay_requests_total Requests the proxy forwarded to an instance that finished, by the class of the answer: 1xx to 5xx from the instance, error for the proxy's own 502 and 504, canceled for a client that went away (499), grpc for a gRPC call that ended with one of its service's error codes.
# TYPE bluejay_requests_total counter
` + requests("v1", addr, nil) // none: the client's faults are no version's
	c := &prom.Collector{Proxy: p}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "bluejay_proxy_client_errors_total", "bluejay_requests_total"); err != nil {
		t.Error(err)
	}
}
