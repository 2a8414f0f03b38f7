package api_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/metrics/prom"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// newMetricsAPI serves the admin API with /metrics over a real proxy that
// has forwarded one request to web's v1, and returns the backend's
// address.
func newMetricsAPI(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "version=v1")
	}))
	t.Cleanup(backend.Close)
	addr := strings.TrimPrefix(backend.URL, "http://")
	p := &proxy.Proxy{Logger: slog.New(slog.DiscardHandler)}
	p.SetRoute(router.Route{Service: "web", Backends: []router.Backend{{Version: "v1", Weight: 100, Addrs: []string{addr}}}})
	p.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "http://example.com/", nil))

	reg := prom.NewRegistry(&prom.Collector{Proxy: p})
	srv := httptest.NewServer((&api.Server{Token: token, Logger: slog.New(slog.DiscardHandler), Metrics: prom.Handler(reg)}).Handler())
	t.Cleanup(srv.Close)
	return srv, addr
}

func TestMetricsNeedTheToken(t *testing.T) {
	srv, _ := newMetricsAPI(t)
	for _, auth := range []string{"", "Bearer wrong", token} {
		if code, body := call(t, srv, http.MethodGet, "/metrics", auth, ""); code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: got %d, want 401\n%s", auth, code, body)
		}
	}
}

func TestMetricsExposeTheProxy(t *testing.T) {
	srv, addr := newMetricsAPI(t)
	code, body := call(t, srv, http.MethodGet, "/metrics", "Bearer "+token, "")
	if code != http.StatusOK {
		t.Fatalf("got %d, want 200\n%s", code, body)
	}
	for _, s := range []string{
		`bluejay_requests_total{addr="` + addr + `",code="2xx",service="web",version="v1"} 1`,
		`bluejay_requests_total{addr="` + addr + `",code="5xx",service="web",version="v1"} 0`,
		`bluejay_inflight_requests{addr="` + addr + `",service="web",version="v1"} 0`,
		`bluejay_request_duration_seconds_count{service="web",version="v1"} 1`,
		`bluejay_ejections_total{service="web",version="v1"} 0`,
		"go_goroutines ",
	} {
		if !strings.Contains(body, s) {
			t.Errorf("/metrics lacks %s", s)
		}
	}
}

func TestNoMetricsHandlerNoRoute(t *testing.T) {
	srv := httptest.NewServer((&api.Server{Token: token}).Handler())
	defer srv.Close()
	if code, _ := call(t, srv, http.MethodGet, "/metrics", "Bearer "+token, ""); code != http.StatusNotFound {
		t.Errorf("got %d, want 404 when Metrics is nil", code)
	}
}
