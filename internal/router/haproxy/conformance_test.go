package haproxy_test

import (
	"log/slog"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/router/haproxy"
	"github.com/bluejay-deploy/bluejay/internal/router/haproxy/haproxytest"
	"github.com/bluejay-deploy/bluejay/internal/router/routertest"
)

// TestConformance runs the routers' conformance suite against a real
// HAProxy per subtest.
func TestConformance(t *testing.T) {
	routertest.Run(t, func(t *testing.T) routertest.Harness {
		d := haproxytest.New(t)
		rt, err := haproxy.New(d.Router, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return routertest.Harness{Router: rt, URL: d.URL(), Features: routertest.All}
	})
}
