package server

import (
	"fmt"
	"log/slog"

	"k8s.io/client-go/rest"

	"github.com/bluejay-deploy/bluejay/internal/controller"
	promsource "github.com/bluejay-deploy/bluejay/internal/metrics/prometheus"
	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/router/haproxy"
	"github.com/bluejay-deploy/bluejay/internal/router/nginx"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// externalRouter is a router the user runs (NGINX, HAProxy, a Kubernetes
// Gateway): it serves
// users itself, so bluejay runs no proxy, and the instances keep serving
// behind it when bluejay stops.
type externalRouter interface {
	router.Router
	controller.Drainer
}

// newExternalRouter returns the configured external router, or nil when
// the builtin proxy routes.
func newExternalRouter(cfg *spec.Config, log *slog.Logger, rc *rest.Config) (externalRouter, error) {
	switch {
	case cfg.Router.Nginx != nil:
		rt, err := nginx.New(*cfg.Router.Nginx, log)
		if err != nil {
			return nil, fmt.Errorf("router.nginx: %w", err)
		}
		return rt, nil
	case cfg.Router.HAProxy != nil:
		rt, err := haproxy.New(*cfg.Router.HAProxy, log)
		if err != nil {
			return nil, fmt.Errorf("router.haproxy: %w", err)
		}
		return rt, nil
	case cfg.Router.GatewayAPI != nil:
		return newGatewayRouter(cfg, rc)
	}
	return nil, nil
}

// externalMetrics counts versions' requests from Prometheus: an external
// router's traffic never passes bluejay's proxy. validate requires
// prometheus: with an external router.
func externalMetrics(cfg *spec.Config) (*promsource.Counts, error) {
	p := cfg.Prometheus
	src, err := promsource.New(p.Address, p.Timeout.D())
	if err != nil {
		return nil, err
	}
	return &promsource.Counts{Source: src, Requests: p.Counts.Requests, Errors: p.Counts.Errors}, nil
}
