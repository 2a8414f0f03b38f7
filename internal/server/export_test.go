package server

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/bluejay-deploy/bluejay/internal/edge"
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

// NewDataPlaneWith is newDataPlaneWith.
func NewDataPlaneWith(cfg spec.ProxyConfig, eo edge.Options, log *slog.Logger) (*DataPlane, error) {
	return newDataPlaneWith(cfg, eo, log)
}

// HTTPAddr is httpAddr.
func (d *dataPlane) HTTPAddr() string { return d.httpAddr() }

// Serve is serve, Shutdown shutdown, Addr addr.
func (d *dataPlane) Serve() error                       { return d.serve() }
func (d *dataPlane) Shutdown(ctx context.Context) error { return d.shutdown(ctx) }
func (d *dataPlane) Addr() string                       { return d.addr() }

// Proxy is the data plane's proxy.
func (d *dataPlane) Proxy() *proxy.Proxy { return d.proxy }

// HTTPServer is the users' server, whose settings a reference server
// copies.
func (d *dataPlane) HTTPServer() *http.Server { return d.srv }
