// Package server assembles a running bluejay from a config: the store,
// the builtin proxy, the platforms, the controller and the admin API. It
// is what `bluejay serve` and `bluejay demo` run.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/dataplane"
	"github.com/bluejay-deploy/bluejay/internal/hooks"
	"github.com/bluejay-deploy/bluejay/internal/leader"
	"github.com/bluejay-deploy/bluejay/internal/lockfile"
	"github.com/bluejay-deploy/bluejay/internal/metrics"
	metricsbuiltin "github.com/bluejay-deploy/bluejay/internal/metrics/builtin"
	"github.com/bluejay-deploy/bluejay/internal/metrics/prom"
	promsource "github.com/bluejay-deploy/bluejay/internal/metrics/prometheus"
	"github.com/bluejay-deploy/bluejay/internal/notify"
	"github.com/bluejay-deploy/bluejay/internal/platform"
	dockerplatform "github.com/bluejay-deploy/bluejay/internal/platform/docker"
	kubeplatform "github.com/bluejay-deploy/bluejay/internal/platform/kubernetes"
	"github.com/bluejay-deploy/bluejay/internal/platform/process"
	"github.com/bluejay-deploy/bluejay/internal/platform/static"
	routerbuiltin "github.com/bluejay-deploy/bluejay/internal/router/builtin"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store"
	"github.com/bluejay-deploy/bluejay/internal/throttle"
	"github.com/bluejay-deploy/bluejay/internal/web"
)

// Server is one bluejay process: controller and admin API, and the proxy
// unless proxy.control says a separate `bluejay proxy` runs it.
type Server struct {
	cfg        *spec.Config
	log        *slog.Logger
	store      store.Store
	storeName  string              // how logs name the store: its file, or etcd's endpoints and prefix
	dp         *dataPlane          // the in-process proxy; nil with proxy.control or an external router
	external   externalRouter      // router.nginx or router.haproxy; nil for the builtin proxy
	elector    *leader.Elector     // with the etcd store: one serve leads; nil on SQLite
	remote     *dataplane.Client   // the separate proxy; nil without proxy.control
	follower   *dataplane.Follower // keeps the in-process proxy's table the store's; nil without the elector
	processes  *process.Platform
	kube       *kubeplatform.Platform   // services on platform.kubernetes; nil without
	docker     *dockerplatform.Platform // services on platform.docker; nil without
	controller *controller.Controller
	notifier   *notify.Notifier // nil without notifications
	adminLn    net.Listener
	// instancesLock is the process platform's state file's lock, held
	// from adopting the instances until Run returns; nil before.
	instancesLock *lockfile.Lock
	leading       atomic.Bool // with the etcd store: this serve won the election
	// background are the goroutines Run starts beside the servers and the
	// controller (prune, the targets file, the notifier, following the
	// store): Run waits for them before the store closes.
	background sync.WaitGroup
	reloader   reloader // config reloads (reload.go)
}

// New opens the store, binds the listeners and adopts the instances a
// previous run left, so that a busy port or an unreadable store fails
// before any instance starts.
func New(cfg *spec.Config, log *slog.Logger) (*Server, error) {
	// The store first: a second serve on it is refused before it changes
	// anything (a generated token file included).
	st, storeName, err := openStore(cfg, true)
	if err != nil {
		return nil, err
	}
	if err := resolveAdminToken(cfg, log); err != nil {
		st.Close()
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, store: st, storeName: storeName, processes: process.New()}
	rc, err := kubeConfig(cfg)
	if err == nil {
		s.kube, err = newKubePlatform(cfg, rc)
	}
	if err == nil {
		s.docker, err = newDockerPlatform(cfg, log)
	}
	if err == nil {
		s.external, err = newExternalRouter(cfg, log, rc)
	}
	if err != nil {
		s.closeOnError()
		return nil, err
	}
	switch {
	case s.external != nil:
		// The user's router serves users: bluejay runs no proxy.
	case cfg.Proxy.Control == "":
		if s.dp, err = newDataPlaneWith(cfg.Proxy, edgeOptions(st), log); err != nil {
			s.closeOnError()
			return nil, err
		}
	default:
		s.remote = &dataplane.Client{URL: "http://" + cfg.Proxy.Control, Token: cfg.Admin.Token, Logger: log}
	}
	if s.adminLn, err = net.Listen("tcp", cfg.Admin.Listen); err != nil {
		s.closeOnError()
		return nil, fmt.Errorf("admin.listen: %w", err)
	}
	if err := s.prepareAdmin(); err != nil {
		s.closeOnError()
		return nil, err
	}
	s.processes.SetStateFile(instanceStateFile(cfg))
	s.controller = s.newController()
	if s.elector = s.newElector(); s.elector != nil {
		if s.dp != nil {
			s.follower = &dataplane.Follower{Store: s.store, Proxy: s.dp.proxy, Logger: s.log}
		}
		return s, nil // instances are adopted once this serve leads
	}
	if err := s.lockInstances(); err != nil {
		s.closeOnError()
		return nil, err
	}
	n, err := s.processes.Adopt(context.Background())
	if err != nil {
		s.closeOnError()
		return nil, err
	}
	if n > 0 {
		log.Info("adopted the instances a previous run left running", "instances", n)
	}
	if err := s.adoptContainers(context.Background()); err != nil {
		s.closeOnError()
		return nil, err
	}
	return s, nil
}

func (s *Server) closeOnError() {
	if s.kube != nil {
		s.kube.Close()
	}
	if s.docker != nil {
		s.docker.Close()
	}
	if s.dp != nil {
		s.dp.ln.Close()
	}
	if s.adminLn != nil {
		s.adminLn.Close()
	}
	s.instancesLock.Release()
	s.store.Close()
}

func (s *Server) newController() *controller.Controller {
	c := &controller.Controller{Store: s.store, DrainTimeout: s.cfg.Proxy.DrainTimeout.D(), Logger: s.log,
		Templates: s.cfg.Analysis, Standby: s.standby}
	if s.dp != nil {
		c.Router, c.Metrics, c.Drainer = &routerbuiltin.Router{Proxy: s.dp.proxy}, &metricsbuiltin.Metrics{Proxy: s.dp.proxy}, s.dp.proxy
		// A failed request wakes the service's loop, so that a failing
		// canary is judged as its failures arrive.
		s.dp.proxy.OnError = func(service, _ string) { c.Notify(service) }
		c.FreshMetrics = true // its counters start with this process
	} else if s.external != nil {
		c.Router, c.Drainer = s.external, s.external
		if m, err := externalMetrics(s.cfg); err == nil {
			c.Metrics = m
		} else {
			s.log.Error("prometheus", "err", err)
		}
	} else {
		c.Router, c.Metrics, c.Drainer = s.remote, s.remote, s.remote
	}
	if s.external == nil {
		c.Metrics = s.fleet(c.Metrics)
	}
	if mem, err := process.HostMemory(); err == nil {
		c.HostMemory = mem
	}
	c.Hooks = &hooks.Runner{Dir: s.cfg.Dir}
	if p := s.cfg.Prometheus; p != nil {
		// The address was validated; New fails only on a malformed one.
		if q, err := promsource.New(p.Address, p.Timeout.D()); err == nil {
			c.Queries = q
		} else {
			s.log.Error("prometheus", "err", err)
		}
	}
	if len(s.cfg.Notifications) > 0 {
		s.notifier = notify.New(s.cfg.Notifications)
		s.notifier.Logger = s.log
		c.Notifier = s.notifier
	}
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
		s.keepStatic(svc.Name, p)
		return p
	}
	if svc.Platform.Kubernetes != nil {
		return s.kube
	}
	if svc.Platform.Docker != nil {
		return s.docker
	}
	pc := svc.Platform.Process
	s.processes.Configure(svc.Name, process.Config{Command: pc.Command, Env: pc.Env, Dir: pc.Dir,
		LogDir: pc.LogDir, Replicas: pc.Replicas, StopGrace: pc.StopGrace.D(), Logger: s.log})
	return s.processes
}

// ProxyAddr is the proxy's bound address; "" when a separate `bluejay
// proxy` serves users.
func (s *Server) ProxyAddr() string {
	if s.dp == nil {
		return ""
	}
	return s.dp.addr()
}

// AdminAddr is the admin API's bound address.
func (s *Server) AdminAddr() string { return s.adminLn.Addr().String() }

// Run serves until ctx is done, then shuts down gracefully: the proxy
// finishes in-flight requests, the controller stops, and the instances
// stop — unless a separate proxy still routes to them, in which case they
// keep serving and the next run adopts them.
func (s *Server) Run(ctx context.Context) error {
	defer s.store.Close()
	defer func() { s.instancesLock.Release() }() // taken by lead, with etcd, after this defer
	// One budget of wrong tokens per client, whichever door it knocks on.
	guesses := &throttle.Throttle{Logger: s.log}
	ui := s.dashboard()
	ui.Throttle = guesses
	admin := &api.Server{Controller: s.controller, Token: s.cfg.Admin.Token, Logger: s.log, Metrics: s.metrics(),
		Authorize: ui.Authorize, Throttle: guesses, Reload: s.Reload, Config: s.ConfigState,
		Pprof: s.cfg.Admin.Pprof}
	mux := http.NewServeMux()
	mux.Handle("/", admin.Handler())
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	mux.Handle("/ui/", ui)
	mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
	if s.dp != nil {
		// The applied table, beside the stored one, for checks and tests.
		mux.Handle("/v1/dataplane/", guesses.Guard(&dataplane.Handler{Proxy: s.dp.proxy, Token: s.cfg.Admin.Token, Logger: s.log}))
	}
	var h http.Handler = mux
	if s.cfg.Admin.TLS != nil {
		h = hsts(mux)
	}
	adminSrv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: controlReadTimeout,
		IdleTimeout: controlIdleTimeout}
	errc := make(chan error, 8) // room for every sender: none blocks once Run stopped reading
	cctx, stopController := context.WithCancel(context.WithoutCancel(ctx))
	// The notifier stops after the controller, so that it sends the
	// controller's last events too (its queue is flushed on stopping).
	nctx, stopNotifier := context.WithCancel(context.WithoutCancel(ctx))
	defer stopNotifier()
	controllerDone := make(chan struct{})
	go func() {
		defer close(controllerDone)
		if s.elector != nil {
			if err := s.lead(cctx, errc); err != nil {
				if cctx.Err() == nil {
					errc <- err
				}
				return
			}
		}
		errc <- s.controller.Run(cctx)
	}()
	if s.follower != nil {
		// Leader or standby, the proxy routes as the store says.
		if err := s.followStore(cctx); err != nil {
			stopController()
			s.dp.proxy.Close()
			return err
		}
		go func() { errc <- s.dp.serve() }()
	} else if s.dp != nil {
		// Users wait in the listener's backlog until the stored routes are
		// in the table, rather than get 404 from an empty one.
		go func() {
			select {
			case <-s.controller.Ready():
				errc <- s.dp.serve()
			case <-cctx.Done():
			}
		}()
	}
	go func() { errc <- serve(adminSrv, s.adminLn) }()
	s.background.Go(func() { s.prune(cctx) })
	if p := s.cfg.Prometheus; p != nil && p.TargetsFile != "" {
		s.background.Go(func() { s.writeTargets(cctx, p.TargetsFile) })
	}
	if s.notifier != nil {
		s.background.Go(func() { s.notifier.Run(nctx) })
	}
	if s.external != nil {
		s.log.Info("bluejay serving; an external router serves users", "router", s.cfg.Router.Name(), "admin", s.AdminAddr(),
			"store", s.storeName)
	} else if s.remote != nil {
		s.background.Go(func() { s.remote.FollowErrors(cctx, s.controller.Notify) })
		s.log.Info("bluejay serving; a separate proxy serves users", "control", s.cfg.Proxy.Control,
			"admin", s.AdminAddr(), "store", s.storeName)
	} else {
		s.log.Info("bluejay serving", "proxy", s.ProxyAddr(), "admin", s.AdminAddr(), "store", s.storeName)
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	err = errors.Join(err, s.shutdown(adminSrv, func() { stopController(); <-controllerDone; stopNotifier() }))
	s.waitBackground()
	return err
}

// backgroundTimeout bounds the wait for Run's background goroutines once
// their context ended: the notifier's flush (5s) and a little more.
const backgroundTimeout = 10 * time.Second

// waitBackground waits for the background goroutines, at most
// backgroundTimeout, before Run closes the store.
func (s *Server) waitBackground() {
	done := make(chan struct{})
	go func() { s.background.Wait(); close(done) }()
	t := time.NewTimer(backgroundTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Error("shutting down: background work did not end in time; closing the store anyway", "timeout", backgroundTimeout)
	}
	if s.notifier != nil && s.notifier.Dropped() > 0 {
		s.log.Warn("notifications dropped during this run", "dropped", s.notifier.Dropped())
	}
}

// The admin and control listeners' timeouts: a request is a few hundred
// bytes, so reading one takes well under controlReadTimeout (streams and
// long waits clear their read deadline), and an idle keep-alive
// connection is closed after controlIdleTimeout.
const (
	controlReadTimeout = 30 * time.Second
	controlIdleTimeout = 2 * time.Minute
)

// hsts tells browsers to reach the admin listener over TLS only, for a
// year: it is set only when the listener serves TLS.
func hsts(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		h.ServeHTTP(w, r)
	})
}

// dashboard returns the web dashboard served at /ui/, behind the admin
// token (its login form) like the API.
func (s *Server) dashboard() *web.Handler {
	ui := &web.Handler{Token: s.cfg.Admin.Token, Secure: s.cfg.Admin.TLS != nil, Templates: s.cfg.Analysis, Logger: s.log}
	if w, ok := s.controller.Metrics.(metrics.Windowed); ok {
		ui.Window = w
	}
	return ui
}

// metrics returns the /metrics handler: the proxy's counters, every
// service's rollout, and the process's go_ and process_ series.
func (s *Server) metrics() http.Handler {
	col := &prom.Collector{Rollouts: prom.RolloutsFunc(s.rollouts)}
	if s.dp != nil {
		col.Proxy = s.dp.proxy
	}
	if s.follower != nil {
		col.Watch = s.follower
	}
	return prom.Handler(prom.NewRegistry(col))
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

func (s *Server) shutdown(adminSrv *http.Server, stopController func()) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Proxy.DrainTimeout.D()+5*time.Second)
	defer cancel()
	var err error
	if s.dp != nil {
		s.log.Info("bluejay shutting down: draining the proxy")
		err = s.dp.shutdown(ctx)
		s.dp.ln.Close() // not served yet if the controller never got ready
	}
	err = errors.Join(err, adminSrv.Shutdown(ctx))
	stopController()
	if s.kube != nil {
		s.kube.Close() // the Deployments keep running: they are the cluster's
	}
	if s.docker != nil {
		s.docker.Close() // the containers keep running: the next serve adopts them
	}
	if s.dp == nil || s.elector != nil {
		s.log.Info("bluejay stopped; the instances keep serving (another proxy or controller may route to them) and the next leader adopts them")
		return err
	}
	return errors.Join(err, s.processes.StopAll(ctx))
}
