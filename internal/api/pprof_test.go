package api_test

import (
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/controller"
)

// TestPprof: the runtime profiles are served only when Pprof is set, and
// then only with the token.
func TestPprof(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	for _, on := range []bool{false, true} {
		srv := httptest.NewServer((&api.Server{Controller: &controller.Controller{Logger: quiet}, Token: token, Logger: quiet,
			Pprof: on}).Handler())
		t.Cleanup(srv.Close)
		status, body := call(t, srv, "GET", "/debug/pprof/heap?debug=1", "Bearer "+token, "")
		switch {
		case !on && status != 404:
			t.Fatalf("pprof off: GET /debug/pprof/heap: %d, want 404", status)
		case on && (status != 200 || !strings.Contains(body, "heap profile")):
			t.Fatalf("pprof on: GET /debug/pprof/heap: %d %.200s, want 200 and a heap profile", status, body)
		}
		if on {
			if status, body := call(t, srv, "GET", "/debug/pprof/heap", "Bearer wrong", ""); status != 401 {
				t.Fatalf("pprof on, wrong token: %d %.200s, want 401", status, body)
			}
			if status, body := call(t, srv, "GET", "/debug/pprof/goroutine?debug=1", "", ""); status != 401 {
				t.Fatalf("pprof on, no token: %d %.200s, want 401", status, body)
			}
		}
	}
}
