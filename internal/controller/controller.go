package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/checks"
	"github.com/bluejay-deploy/bluejay/internal/hooks"
	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store"
)

// Errors the API maps to statuses.
var (
	// ErrUnknownService: no service of that name is configured.
	ErrUnknownService = errors.New("unknown service")
	// ErrInvalid: the request cannot be carried out as given.
	ErrInvalid = errors.New("invalid request")
	// ErrConflict: the request conflicts with the service's state.
	ErrConflict = errors.New("conflict")
	// ErrStandby: this controller does not lead (several share an etcd
	// store and another was elected); the leader takes commands.
	ErrStandby = errors.New("this controller is not acting: it is a standby (another bluejay on the same etcd leads; send commands there) or still starting")
)

// Drainer waits until addresses have no in-flight requests. The builtin
// proxy is one; nil means instances are stopped without waiting.
type Drainer interface {
	WaitDrained(ctx context.Context, addrs []string) error
}

// Service is one configured service with the platform that runs it.
type Service struct {
	Spec     spec.Service
	Platform platform.Platform
}

// Controller runs every service's loop.
type Controller struct {
	// Store persists rollouts, events and routes. Required.
	Store store.Store
	// Router applies traffic splits. Required.
	Router router.Router
	// Metrics measures versions. Required.
	Metrics metrics.Metrics
	// FreshMetrics says the metrics source started with this controller
	// (the in-process proxy): counters persisted by a previous run do not
	// carry over, so an analysis step under way at start begins again.
	// False: the source outlives the controller (a separate proxy,
	// Prometheus), and the step resumes counting from its start.
	FreshMetrics bool
	// Queries evaluates the queries of analysis templates that have them
	// (Prometheus). Nil: such templates' analyses end in Error.
	Queries metrics.Querier
	// Drainer, if set, is waited on before a version's instances stop.
	// If it also implements checks.Outcomes (the builtin proxy), its
	// requests' outcomes are the probes' passive health: an instance
	// that serves successes is probed less often, and one whose request
	// failed is probed at once (checks.FailureNotifier).
	Drainer Drainer
	// DrainTimeout bounds the wait for draining. Zero means 30s.
	DrainTimeout time.Duration
	// Client runs health probes and smoke tests. Nil means: HTTP/1.1
	// probes on one checks.Prober shared by every service, which keeps
	// one idle connection per instance (up to 64 to an address that
	// instances share) for 30s with no goroutine or buffer of its own (a
	// probe every second reuses it rather than opening a connection each
	// time; issue 22: with thousands of instances, connecting was most of
	// a probe's CPU, and net/http's two goroutines and buffers per kept
	// connection most of the memory); smoke tests and h2c probes on a
	// net/http client that keeps connections the same way. An instance
	// that stops closes its connections, and the next probe dials afresh.
	Client *http.Client
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// After returns a channel that receives once d has passed on the
	// clock Now reads: the service loops' timers. Nil means the real
	// clock's timers. A test that sets Now to a fake clock may set After
	// to the same clock's, so that the loops sleep on it too.
	After func(d time.Duration) <-chan time.Time
	// Tick is the shortest period of a service loop's step when nothing
	// else wakes it, while the loop drives work that no event ends (an
	// analysis, a scale-down, a drain); the rest of an active rollout
	// steps every 5 ticks, and deadlines (a watch's end) wake the loop
	// when due. Zero means 200ms.
	Tick time.Duration
	// Resync is how often a service with nothing to do steps when no
	// event wakes it (a readiness flip, a failed request, a command):
	// to notice what no event reports. Zero means 30s.
	Resync time.Duration
	// Logger receives structured logs. Nil means slog.Default().
	Logger *slog.Logger
	// Templates are the analysis templates by name, with defaults applied.
	Templates map[string]spec.AnalysisTemplate
	// HostMemory is the host's memory in bytes, for the memory share of
	// analysis; 0 leaves the share at 0.
	HostMemory int64
	// Notifier, if set, is told about every event persisted.
	Notifier Notifier
	// Hooks runs the services' hooks. Nil means a runner in bluejay's
	// working directory with http.DefaultClient.
	Hooks *hooks.Runner
	// ShutdownTimeout bounds how long Run, once its context ends, waits
	// for the background work it started (stops, scale-downs, smoke
	// tests, hooks, health monitors), which ends with the context too.
	// Zero means 30s.
	ShutdownTimeout time.Duration
	// Standby, if set, reports whether this controller stands by while
	// another bluejay leads (several on one etcd store): commands are then
	// answered ErrStandby at once. Nil means it never stands by.
	Standby func() bool

	probeOnce  sync.Once
	probe      *http.Client // the default Client, made once
	proberOnce sync.Once
	prober     *checks.Prober // the default HTTP/1.1 prober, made once

	mu       sync.Mutex
	ready    chan struct{} // closed by Run once routes are restored (Ready)
	services map[string]*loop
	order    []string
	wg       sync.WaitGroup // the service loops
	jobs     sync.WaitGroup // the loops' background work (spawn)
	reload   reloadState    // config reloads (reload.go)
}

// Add registers a service before Run.
func (c *Controller) Add(s Service) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.services == nil {
		c.services = make(map[string]*loop)
	}
	c.services[s.Spec.Name] = newLoop(c, s)
	c.order = append(c.order, s.Spec.Name)
}

// Run re-applies every stored route, then runs one loop per service until
// ctx is done; it waits for the loops to return.
func (c *Controller) Run(ctx context.Context) error {
	if err := c.restoreRoutes(ctx); err != nil {
		return err
	}
	for _, name := range c.order {
		l := c.services[name]
		if err := l.load(ctx); err != nil {
			return fmt.Errorf("loading service %s: %w", name, err)
		}
	}
	close(c.readyChan())
	ctx = c.probeScheduler(ctx)
	for _, name := range c.order {
		c.startLoop(ctx, c.services[name])
	}
	c.spawn(func() { c.declareOnStart(ctx) })
	<-ctx.Done()
	c.wg.Wait()
	c.waitJobs()
	return nil
}

// spawn runs f on a goroutine of its own that Run waits for before it
// returns, so that no background work outlives the controller (and the
// store it writes to, which its owner closes once Run returned). f must
// end soon after the loop's context does.
func (c *Controller) spawn(f func()) {
	c.jobs.Add(1)
	go func() {
		defer c.jobs.Done()
		f()
	}()
}

// waitJobs waits for the spawned work, at most ShutdownTimeout.
func (c *Controller) waitJobs() {
	done := make(chan struct{})
	go func() { c.jobs.Wait(); close(done) }()
	timeout := c.ShutdownTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		c.logger().Error("shutting down: background work (a stop, a hook, a smoke test) did not end in time; leaving it",
			"timeout", timeout)
	}
}

// Ready is closed once Run has re-applied the stored routes and loaded
// every service's rollout: a proxy that starts serving before then would
// answer 404 for services it does not know yet.
func (c *Controller) Ready() <-chan struct{} { return c.readyChan() }

func (c *Controller) readyChan() chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready == nil {
		c.ready = make(chan struct{})
	}
	return c.ready
}

// restoreRoutes applies the routes persisted by the previous run, so that
// traffic flows as the store says before any loop has looked around.
func (c *Controller) restoreRoutes(ctx context.Context) error {
	routes, err := c.Store.ListRoutes(ctx)
	if err != nil {
		return fmt.Errorf("reading routes: %w", err)
	}
	var restored []router.Route
	for _, r := range routes {
		l, ok := c.services[r.Service]
		if !ok {
			c.logger().Warn("stored route for a service no longer configured", "service", r.Service)
			continue
		}
		if live := l.liveRoute(r); !live.Equal(r) {
			// Instances that died while bluejay was down (or that it could
			// not adopt) leave the split before any request is sent there.
			c.logger().Warn("stored route points at instances that no longer run; removing them",
				"service", r.Service, "stored", r.Weights())
			if err := c.Store.PutRoute(ctx, live); err != nil {
				return fmt.Errorf("restoring route of %s: %w", r.Service, err)
			}
			r = live
		}
		restored = append(restored, r)
		l.maintenance, l.hold = r.Maintenance, r.Hold
		for _, b := range r.Backends {
			for _, a := range b.Addrs {
				l.inst(a).on(instRestored, c.now())
			}
		}
	}
	c.apply(ctx, restored)
	return nil
}

// apply applies restored routes, in one change where the router can
// (an NGINX reload for all). A router that fails (a separate proxy not up
// yet) is not fatal: the loops apply their routes at their first step, and
// the proxy, following the store, converges anyway.
func (c *Controller) apply(ctx context.Context, routes []router.Route) {
	if b, ok := c.Router.(router.Batch); ok && len(routes) > 0 {
		if err := b.SetRoutes(ctx, routes); err != nil {
			c.logger().Error("restoring routes; the service loops will apply them", "err", err)
			return
		}
		for _, r := range routes {
			c.services[r.Service].applied = r
		}
		return
	}
	for _, r := range routes {
		if err := c.Router.SetRoute(ctx, r); err != nil {
			c.logger().Error("restoring a route; the service loop will apply it", "service", r.Service, "err", err)
			continue
		}
		c.services[r.Service].applied = r
	}
}

// liveRoute returns r without the addresses a platform that owns its
// instances does not report running.
func (l *loop) liveRoute(r router.Route) router.Route {
	if _, ok := l.svc.Platform.(platform.Owner); !ok {
		return r
	}
	out := r
	out.Backends = make([]router.Backend, len(r.Backends))
	for i, b := range r.Backends {
		insts, err := l.svc.Platform.Instances(r.Service, b.Version)
		if err != nil {
			// Unknown: keep what the store says until it can be checked.
			l.c.logger().Warn("restoring a route: cannot list instances", "service", r.Service, "version", b.Version, "err", err)
			out.Backends[i] = b
			continue
		}
		running := map[string]bool{}
		for _, in := range insts {
			if in.State == platform.StateRunning {
				running[in.Addr] = true
			}
		}
		b.Addrs = slices.DeleteFunc(slices.Clone(b.Addrs), func(a string) bool { return !running[a] })
		out.Backends[i] = b
	}
	return out
}

func (c *Controller) service(name string) (*loop, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.services[name]
	if !ok {
		return nil, unknownService(name, c.order)
	}
	return l, nil
}

// Notify wakes the service's loop at once, e.g. when the proxy saw a
// failed request, so that a failing canary is judged as failures arrive
// rather than at the next tick. It never blocks.
func (c *Controller) Notify(service string) {
	c.mu.Lock()
	l := c.services[service]
	c.mu.Unlock()
	if l == nil {
		return
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Services lists the configured service names in config order.
func (c *Controller) Services() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.order...)
}

func (c *Controller) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Controller) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

func (c *Controller) tick() time.Duration {
	if c.Tick > 0 {
		return c.Tick
	}
	return 200 * time.Millisecond
}

// probeScheduler starts the scheduler that runs every service's health
// probes, with the proxy's outcomes as passive health when Drainer is the
// builtin proxy, and returns ctx carrying it to the services' monitors.
func (c *Controller) probeScheduler(ctx context.Context) context.Context {
	var opts checks.SchedulerOptions
	if o, ok := c.Drainer.(checks.Outcomes); ok {
		opts.Outcomes = o
	}
	s := checks.NewScheduler(opts)
	if n, ok := c.Drainer.(checks.FailureNotifier); ok {
		n.NotifyFailures(s.Kick)
	}
	c.spawn(func() {
		s.Run(ctx)
		c.httpProber().Close() // no probe is under way: its idle connections
	})
	return checks.WithScheduler(ctx, s)
}

func (c *Controller) resync() time.Duration {
	if c.Resync > 0 {
		return c.Resync
	}
	return 30 * time.Second
}

func (c *Controller) drainTimeout() time.Duration {
	if c.DrainTimeout > 0 {
		return c.DrainTimeout
	}
	return 30 * time.Second
}

// newMonitor returns the health monitor of s: on the controller's
// Prober when Client is nil and s speaks HTTP/1.1, else with checkClient.
func (c *Controller) newMonitor(s spec.Service) *checks.Monitor {
	if c.Client == nil && s.Protocol != spec.ProtocolH2C && s.Protocol != spec.ProtocolGRPC {
		return checks.NewMonitorProber(s.Health, c.httpProber())
	}
	return checks.NewMonitor(s.Health, checkClient(c, s))
}

func (c *Controller) httpProber() *checks.Prober {
	c.proberOnce.Do(func() { c.prober = checks.NewProber(checks.ProberOptions{}) })
	return c.prober
}

// checkClient is the client of s's HTTP probes and smoke tests: the
// controller's, speaking HTTP/2 without TLS to an h2c or gRPC service.
func checkClient(c *Controller, s spec.Service) *http.Client {
	if s.Protocol == spec.ProtocolH2C || s.Protocol == spec.ProtocolGRPC {
		return checks.HTTP2Client(c.client())
	}
	return c.client()
}

func (c *Controller) client() *http.Client {
	if c.Client != nil {
		return c.Client
	}
	c.probeOnce.Do(func() {
		c.probe = &http.Client{Transport: &http.Transport{
			Proxy:        nil, // instances are reached directly, whatever HTTP_PROXY says
			MaxIdleConns: 0,   // no limit over all instances
			// One per instance in use; more for instances that share an
			// address (a Service's), whose probes may run at once: up to
			// the probe scheduler's workers, so that none dials.
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		}}
	})
	return c.probe
}
