// Package server assembles a running bluejay from a config: the store,
// the builtin proxy, the platforms, the controller and the admin API. It
// is what `bluejay serve` and `bluejay demo` run.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/controller"
	metricsbuiltin "github.com/bluejay-deploy/bluejay/internal/metrics/builtin"
	"github.com/bluejay-deploy/bluejay/internal/metrics/prom"
	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/platform/process"
	"github.com/bluejay-deploy/bluejay/internal/platform/static"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
	routerbuiltin "github.com/bluejay-deploy/bluejay/internal/router/builtin"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store/sqlite"
)

// Server is one bluejay process: proxy, controller and admin API.
type Server struct {
	cfg        *spec.Config
	log        *slog.Logger
	store      *sqlite.Store
	proxy      *proxy.Proxy
	processes  *process.Platform
	controller *controller.Controller
	proxyLn    net.Listener
	adminLn    net.Listener
	tls        *tls.Config // the proxy's, nil without proxy.tls
}

// New opens the store and binds both listeners, so that a busy port or
// an unreadable store fails before any instance starts.
func New(cfg *spec.Config, log *slog.Logger) (*Server, error) {
	st, err := sqlite.Open(cfg.Store.Path)
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", cfg.Store.Path, err)
	}
	s := &Server{cfg: cfg, log: log, store: st, processes: process.New(),
		proxy: &proxy.Proxy{Timeout: cfg.Proxy.Timeout.D(), VersionHeader: cfg.Proxy.VersionHeader, Logger: log}}
	for _, t := range cfg.Proxy.TrustedProxies {
		pf, _ := spec.ParseTrusted(t) // validated by spec.Load
		s.proxy.TrustedProxies = append(s.proxy.TrustedProxies, pf)
	}
	if t := cfg.Proxy.TLS; t != nil {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("proxy.tls: %w", err)
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if s.proxyLn, err = net.Listen("tcp", cfg.Proxy.Listen); err != nil {
		st.Close()
		return nil, fmt.Errorf("proxy.listen: %w", err)
	}
	if s.adminLn, err = net.Listen("tcp", cfg.Admin.Listen); err != nil {
		s.proxyLn.Close()
		st.Close()
		return nil, fmt.Errorf("admin.listen: %w", err)
	}
	s.controller = s.newController()
	return s, nil
}

func (s *Server) newController() *controller.Controller {
	c := &controller.Controller{Store: s.store, Router: &routerbuiltin.Router{Proxy: s.proxy},
		Metrics: &metricsbuiltin.Metrics{Proxy: s.proxy}, Drainer: s.proxy,
		DrainTimeout: s.cfg.Proxy.DrainTimeout.D(), Logger: s.log, Templates: s.cfg.Analysis}
	if mem, err := process.HostMemory(); err == nil {
		c.HostMemory = mem
	}
	// A failed request wakes the service's loop, so that a failing canary
	// is judged as its failures arrive.
	s.proxy.OnError = func(service, _ string) { c.Notify(service) }
	for _, svc := range s.cfg.Services {
		c.Add(controller.Service{Spec: svc, Platform: s.platform(svc)})
	}
	return c
}

// platform returns the adapter that runs the service's versions.
func (s *Server) platform(svc spec.Service) platform.Platform {
	if st := svc.Platform.Static; st != nil {
		p := static.New()
		for version, addrs := range st.Targets {
			p.SetTargets(svc.Name, version, addrs)
		}
		return p
	}
	pc := svc.Platform.Process
	s.processes.Configure(svc.Name, process.Config{Command: pc.Command, Env: pc.Env, Dir: pc.Dir,
		LogDir: pc.LogDir, Replicas: pc.Replicas, StopGrace: pc.StopGrace.D(), Logger: s.log})
	return s.processes
}

// ProxyAddr and AdminAddr are the bound addresses.
func (s *Server) ProxyAddr() string { return s.proxyLn.Addr().String() }

// AdminAddr is the admin API's bound address.
func (s *Server) AdminAddr() string { return s.adminLn.Addr().String() }

// Run serves until ctx is done, then shuts down gracefully: the proxy
// finishes in-flight requests, the controller stops, instances stop.
func (s *Server) Run(ctx context.Context) error {
	defer s.store.Close()
	proxySrv := s.proxyServer()
	admin := &api.Server{Controller: s.controller, Token: s.cfg.Admin.Token, Logger: s.log, Metrics: s.metrics()}
	adminSrv := &http.Server{Handler: admin.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 3)
	go func() { errc <- s.serveProxy(proxySrv) }()
	go func() { errc <- serve(adminSrv, s.adminLn) }()
	cctx, stopController := context.WithCancel(context.WithoutCancel(ctx))
	controllerDone := make(chan struct{})
	go func() {
		defer close(controllerDone)
		errc <- s.controller.Run(cctx)
	}()
	s.log.Info("bluejay serving", "proxy", s.ProxyAddr(), "admin", s.AdminAddr(), "store", s.store.Path())

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	return errors.Join(err, s.shutdown(proxySrv, adminSrv, func() { stopController(); <-controllerDone }))
}

// proxyServer is the users' HTTP server: HTTP/1.1 with keep-alive, HTTP/2
// over TLS when proxy.tls is set, and HTTP/2 without TLS when proxy.h2c
// is; with the header limits and timeouts of the config.
func (s *Server) proxyServer() *http.Server {
	pc := s.cfg.Proxy
	srv := &http.Server{Handler: s.proxy, MaxHeaderBytes: pc.MaxHeaderBytes,
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

// serveProxy serves users, over TLS when proxy.tls is set.
func (s *Server) serveProxy(srv *http.Server) error {
	if s.tls != nil {
		srv.TLSConfig = s.tls
		if err := srv.ServeTLS(s.proxyLn, "", ""); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
	return serve(srv, s.proxyLn)
}

// metrics returns the /metrics handler: the proxy's counters, every
// service's rollout, and the process's go_ and process_ series.
func (s *Server) metrics() http.Handler {
	return prom.Handler(prom.NewRegistry(&prom.Collector{Proxy: s.proxy, Rollouts: prom.RolloutsFunc(s.rollouts)}))
}

// rollouts returns each service's latest rollout and live weights, for
// the metrics.
func (s *Server) rollouts() []prom.RolloutState {
	var out []prom.RolloutState
	for _, name := range s.controller.Services() {
		st, err := s.controller.Status(name)
		if err != nil {
			continue // removed since Services
		}
		out = append(out, prom.RolloutState{Service: name, ID: st.Rollout.ID, Phase: st.Rollout.Phase, Weights: st.Weights})
	}
	return out
}

func serve(srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) shutdown(proxySrv, adminSrv *http.Server, stopController func()) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Proxy.DrainTimeout.D()+5*time.Second)
	defer cancel()
	s.log.Info("bluejay shutting down: draining the proxy")
	err := proxySrv.Shutdown(ctx)
	err = errors.Join(err, adminSrv.Shutdown(ctx))
	stopController()
	return errors.Join(err, s.processes.StopAll(ctx))
}
