package builtin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/metrics/builtin"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

func TestCountsFromProxy(t *testing.T) {
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	}))
	defer failing.Close()
	p := &proxy.Proxy{}
	p.SetRoute(router.Route{Service: "web", Backends: []router.Backend{
		{Version: "v1", Weight: 100, Addrs: []string{strings.TrimPrefix(failing.URL, "http://")}},
	}})
	for _, path := range []string{"/", "/fail", "/"} {
		p.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}

	m := &builtin.Metrics{Proxy: p}
	tests := []struct {
		version string
		want    metrics.Counts
	}{
		{"v1", metrics.Counts{Requests: 3, Errors: 1, Users: 1, FailedUsers: 1}}, // one client, which saw the failure
		{"never-seen", metrics.Counts{}},
	}
	for _, tt := range tests {
		got, err := m.Counts(context.Background(), "web", tt.version)
		if err != nil || got != tt.want {
			t.Errorf("Counts(web, %s) = %+v, %v; want %+v, nil", tt.version, got, err, tt.want)
		}
	}
}

func TestWindowFromProxy(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	}))
	defer backend.Close()
	now := time.Unix(1_700_000_000, 0)
	p := &proxy.Proxy{Now: func() time.Time { return now }}
	p.SetRoute(router.Route{Service: "web", Backends: []router.Backend{
		{Version: "v1", Weight: 100, Addrs: []string{strings.TrimPrefix(backend.URL, "http://")}},
	}})
	for _, path := range []string{"/", "/fail", "/"} {
		p.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}

	var m metrics.Metrics = &builtin.Metrics{Proxy: p}
	w, ok := m.(metrics.Windowed)
	if !ok {
		t.Fatal("builtin.Metrics is not metrics.Windowed")
	}
	got, err := w.Window(context.Background(), "web", "v1", now, now.Add(time.Second))
	if err != nil || got.Requests != 3 || got.Errors != 1 || len(got.Latencies) != 3 {
		t.Errorf("Window = %+v, %v; want 3 requests, 1 error, 3 latencies, nil", got, err)
	}
	if got, _ := w.Window(context.Background(), "web", "v1", now.Add(time.Second), now.Add(2*time.Second)); got.Requests != 0 {
		t.Errorf("Window of the next second = %+v, want no requests", got)
	}
}
