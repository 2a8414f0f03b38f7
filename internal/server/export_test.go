package server

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// DataPlane is the data plane as `bluejay serve` and `bluejay proxy` run
// it, for the tests of package server_test that drive its listener alone.
type DataPlane = dataPlane

// NewDataPlane is newDataPlane.
func NewDataPlane(cfg spec.ProxyConfig, log *slog.Logger) (*DataPlane, error) {
	return newDataPlane(cfg, log)
}

// Serve is serve, Shutdown shutdown, Addr addr.
func (d *dataPlane) Serve() error                       { return d.serve() }
func (d *dataPlane) Shutdown(ctx context.Context) error { return d.shutdown(ctx) }
func (d *dataPlane) Addr() string                       { return d.addr() }

// Proxy is the data plane's proxy.
func (d *dataPlane) Proxy() *proxy.Proxy { return d.proxy }

// HTTPServer is the users' server, whose settings a reference server
// copies.
func (d *dataPlane) HTTPServer() *http.Server { return d.srv }
