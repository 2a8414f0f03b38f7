package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/bluejay-deploy/bluejay/internal/edge"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store"
	"github.com/bluejay-deploy/bluejay/internal/store/etcd"
)

// dataPlane is the builtin proxy with its users' listener: run inside
// `bluejay serve`, or alone by `bluejay proxy`.
type dataPlane struct {
	cfg   spec.ProxyConfig
	proxy *proxy.Proxy
	ln    net.Listener
	tls   *tls.Config // nil without proxy.tls
	srv   *http.Server
	fast  *proxy.FastServer // serves ln without TLS; nil: srv does (BLUEJAY_HTTP1=net)
	edge  *edge.Edge        // certificates, HSTS, the HTTP listener's handler
	log   *slog.Logger

	httpLn  net.Listener // proxy.httpListen; nil without it
	httpSrv *http.Server
	httpErr chan error // the HTTP listener's end
}

// newDataPlane builds the proxy from the config and binds its listeners.
func newDataPlane(cfg spec.ProxyConfig, log *slog.Logger) (*dataPlane, error) {
	return newDataPlaneWith(cfg, edge.Options{}, log)
}

// edgeOptions keeps ACME's certificates and locks in the store when it
// is etcd, so that a fleet's proxies share them.
func edgeOptions(st store.Store) edge.Options {
	if e, ok := st.(*etcd.Store); ok {
		return edge.Options{Storage: edge.NewEtcdStorage(e.Client(), e.Prefix()+"/acme")}
	}
	return edge.Options{}
}

// newDataPlaneWith is newDataPlane with the edge's options.
func newDataPlaneWith(cfg spec.ProxyConfig, eo edge.Options, log *slog.Logger) (*dataPlane, error) {
	if log == nil {
		log = slog.Default()
	}
	d := &dataPlane{cfg: cfg, log: log, proxy: &proxy.Proxy{Timeout: cfg.Timeout.D(), VersionHeader: cfg.VersionHeader, Logger: log,
		BodyTimeout: cfg.BodyTimeout.D(), BodyBuffer: bodyBuffer(cfg.MaxBodyBuffer), MaxBodyBytes: int64(cfg.MaxBodyBytes),
		Upgrades: append([]string{}, cfg.Upgrades...)}} // [] is none, not the default
	for _, t := range cfg.TrustedProxies {
		pf, _ := spec.ParseTrusted(t) // validated by spec.Load
		d.proxy.TrustedProxies = append(d.proxy.TrustedProxies, pf)
	}
	var err error
	if d.edge, err = edge.New(cfg, eo, log); err != nil {
		return nil, err
	}
	d.tls = d.edge.TLSConfig()
	if d.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("proxy.listen: %w", err)
	}
	d.srv = d.server()
	if d.tls == nil && os.Getenv("BLUEJAY_HTTP1") != "net" {
		// Plain HTTP/1.x takes the fast path; h2c and upgrades are handed
		// to srv, which keeps its handler and protocols.
		d.fast = d.proxy.NewFastServer(proxy.FastOptions{MaxHeaderBytes: cfg.MaxHeaderBytes,
			ReadHeaderTimeout: cfg.ReadHeaderTimeout.D(), IdleTimeout: cfg.IdleTimeout.D(), Fallback: d.srv})
	}
	if cfg.HTTPListen != "" {
		if d.httpLn, err = net.Listen("tcp", cfg.HTTPListen); err != nil {
			d.ln.Close()
			return nil, fmt.Errorf("proxy.httpListen: %w", err)
		}
		d.httpSrv = &http.Server{Handler: d.edge.HTTPHandler(d.proxy, d.ln.Addr().String()), MaxHeaderBytes: cfg.MaxHeaderBytes,
			ReadHeaderTimeout: cfg.ReadHeaderTimeout.D(), IdleTimeout: cfg.IdleTimeout.D()}
	}
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
	srv := &http.Server{Handler: d.edge.HSTS(d.proxy), MaxHeaderBytes: pc.MaxHeaderBytes,
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

// serve serves users until shutdown, over TLS when proxy.tls is set,
// with the HTTP listener beside it and ACME at work.
func (d *dataPlane) serve() error {
	if d.httpSrv != nil {
		d.httpErr = make(chan error, 1)
		go func() { d.httpErr <- serve(d.httpSrv, d.httpLn) }()
	}
	if err := d.edge.Start(context.Background()); err != nil {
		d.log.Error("ACME: starting certificate management", "err", err)
	}
	if d.tls != nil {
		d.srv.TLSConfig = d.tls
		if err := d.srv.ServeTLS(d.ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
	if d.fast != nil {
		return d.fast.Serve(d.ln)
	}
	return serve(d.srv, d.ln)
}

// shutdown stops accepting users, waits for in-flight requests, then
// stops the proxy's goroutines (mirror workers, janitor) and waits for
// them.
func (d *dataPlane) shutdown(ctx context.Context) error {
	var err error
	if d.fast != nil {
		err = d.fast.Shutdown(ctx) // srv too
		d.ln.Close()               // never served if serve never ran
	} else {
		err = d.srv.Shutdown(ctx)
	}
	if d.httpSrv != nil {
		err = errors.Join(err, d.httpSrv.Shutdown(ctx))
		d.httpLn.Close() // never served if serve never ran
		if d.httpErr != nil {
			err = errors.Join(err, <-d.httpErr)
		}
	}
	d.edge.Stop()
	d.proxy.Close()
	return err
}

// httpAddr is the HTTP listener's bound address, "" without one.
func (d *dataPlane) httpAddr() string {
	if d.httpLn == nil {
		return ""
	}
	return d.httpLn.Addr().String()
}

// addr is the users' bound address.
func (d *dataPlane) addr() string { return d.ln.Addr().String() }
