package nginx_test

import (
	"log/slog"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/router/nginx"
	"github.com/bluejay-deploy/bluejay/internal/router/nginx/nginxtest"
	"github.com/bluejay-deploy/bluejay/internal/router/routertest"
)

var quiet = slog.New(slog.DiscardHandler)

// start runs a real NGINX for t with a router over it.
func start(t *testing.T) (*nginxtest.Daemon, *nginx.Router) {
	t.Helper()
	d := nginxtest.New(t)
	rt, err := nginx.New(d.Router, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return d, rt
}

// TestConformance runs the router conformance suite against a real NGINX.
func TestConformance(t *testing.T) {
	routertest.Run(t, func(t *testing.T) routertest.Harness {
		d, rt := start(t)
		return routertest.Harness{Router: rt, URL: d.URL(), Features: routertest.All}
	})
}
