package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// dataPlane is the builtin proxy with its users' listener: run inside
// `bluejay serve`, or alone by `bluejay proxy`.
type dataPlane struct {
	cfg   spec.ProxyConfig
	proxy *proxy.Proxy
	ln    net.Listener
	tls   *tls.Config                     // nil without proxy.tls
	cert  atomic.Pointer[tls.Certificate] // proxy.tls's, swapped by a reload (setCert)
	srv   *http.Server
}

// newDataPlane builds the proxy from the config and binds its listener.
func newDataPlane(cfg spec.ProxyConfig, log *slog.Logger) (*dataPlane, error) {
	d := &dataPlane{cfg: cfg, proxy: &proxy.Proxy{Timeout: cfg.Timeout.D(), VersionHeader: cfg.VersionHeader, Logger: log,
		BodyTimeout: cfg.BodyTimeout.D(), BodyBuffer: bodyBuffer(cfg.MaxBodyBuffer), MaxBodyBytes: int64(cfg.MaxBodyBytes),
		Upgrades: append([]string{}, cfg.Upgrades...)}} // [] is none, not the default
	for _, t := range cfg.TrustedProxies {
		pf, _ := spec.ParseTrusted(t) // validated by spec.Load
		d.proxy.TrustedProxies = append(d.proxy.TrustedProxies, pf)
	}
	if t := cfg.TLS; t != nil {
		if err := d.setCert(t); err != nil {
			return nil, err
		}
		d.tls = &tls.Config{GetCertificate: d.certificate, MinVersion: tls.VersionTLS12}
	}
	var err error
	if d.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("proxy.listen: %w", err)
	}
	d.srv = d.server()
	return d, nil
}

// bodyBuffer maps proxy.maxBodyBuffer, where 0 buffers nothing, to
// Proxy.BodyBuffer, where 0 is the default.
func bodyBuffer(n int) int64 {
	if n == 0 {
		return -1
	}
	return int64(n)
}

// server is the users' HTTP server: HTTP/1.1 with keep-alive, HTTP/2
// over TLS when proxy.tls is set, and HTTP/2 without TLS when proxy.h2c
// is; with the header limits and timeouts of the config.
func (d *dataPlane) server() *http.Server {
	pc := d.cfg
	srv := &http.Server{Handler: d.proxy, MaxHeaderBytes: pc.MaxHeaderBytes,
		ReadHeaderTimeout: pc.ReadHeaderTimeout.D(), IdleTimeout: pc.IdleTimeout.D()}
	if pc.H2C {
		var protocols http.Protocols
		protocols.SetHTTP1(true)
		protocols.SetUnencryptedHTTP2(true)
		if pc.TLS != nil {
			protocols.SetHTTP2(true)
		}
		srv.Protocols = &protocols
	}
	return srv
}

// serve serves users until shutdown, over TLS when proxy.tls is set.
func (d *dataPlane) serve() error {
	if d.tls != nil {
		d.srv.TLSConfig = d.tls
		if err := d.srv.ServeTLS(d.ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
	return serve(d.srv, d.ln)
}

// shutdown stops accepting users, waits for in-flight requests, then
// stops the proxy's goroutines (mirror workers, janitor) and waits for
// them.
func (d *dataPlane) shutdown(ctx context.Context) error {
	err := d.srv.Shutdown(ctx)
	d.proxy.Close()
	return err
}

// addr is the users' bound address.
func (d *dataPlane) addr() string { return d.ln.Addr().String() }
