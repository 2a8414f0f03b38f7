package checks

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// HealthStatus is what a Monitor knows of one instance.
type HealthStatus struct {
	// Ready says whether the instance may take traffic.
	Ready bool `json:"ready"`
	// Passes and Failures count the consecutive probes that passed or
	// failed; one of them is always 0.
	Passes   int `json:"passes"`
	Failures int `json:"failures"`
	// LastError is the last probe's error, "" if it passed.
	LastError string `json:"lastError,omitempty"`
	// LastProbe is when the last probe finished; zero before the first.
	LastProbe time.Time `json:"lastProbe,omitzero"`
	// Inconclusive counts the probes since the last pass that timed out
	// while the prober itself ran late (see proberLate), which count
	// neither as passes nor as failures; at most maxInconclusive.
	Inconclusive int `json:"inconclusive,omitempty"`
}

// observe returns s after a probe that ended at at with err, and whether
// readiness flipped. It is the hysteresis: readiness turns on after
// healthy consecutive passes and off after unhealthy consecutive failures.
func (s HealthStatus) observe(err error, at time.Time, healthy, unhealthy int) (HealthStatus, bool) {
	s.LastProbe = at
	was := s.Ready
	if err == nil {
		s.Passes, s.Failures, s.LastError, s.Inconclusive = s.Passes+1, 0, "", 0
		s.Ready = s.Ready || s.Passes >= healthy
	} else {
		s.Passes, s.Failures, s.LastError = 0, s.Failures+1, err.Error()
		s.Ready = s.Ready && s.Failures < unhealthy
	}
	return s, s.Ready != was
}

// Monitor probes a set of instance addresses on an interval and tracks
// each one's readiness. Its probes run on a Scheduler shared with other
// Monitors. Its methods are safe for concurrent use.
type Monitor struct {
	cfg     spec.Health
	client  *http.Client
	prober  *Prober // if set, HTTP probes go through it rather than client
	changes chan struct{}
	// probeFn replaces probe in tests; nil means probe.
	probeFn func(ctx context.Context, cfg spec.Health, addr string) error

	mu      sync.Mutex
	targets map[string]*target
	// sched and runCtx are Run's scheduler and context while Run runs,
	// nil otherwise; targets are scheduled only while they are set.
	sched  *Scheduler
	runCtx context.Context
	probes sync.WaitGroup // probes under way, waited for by Run
}

// target is one watched address of one Monitor: its readiness, kept by
// the Monitor, and its place in the Scheduler, kept by the Scheduler.
// A target is scheduled from Watch (or Run) to Forget (or Run's end) and
// never again: an address watched again is a new target.
type target struct {
	m    *Monitor
	addr string
	ctx  context.Context // the Monitor's Run context, for the probes

	status HealthStatus // under m.mu
	grpc   grpcConn     // kept for a gRPC health check

	// Under the scheduler's mu.
	due       time.Time          // the next probe, while in the heap
	index     int                // in the heap; -1 when not there
	queued    bool               // due, waiting for a worker
	gone      bool               // forgotten: never scheduled again
	interval  time.Duration      // the last interval used (for Kick)
	lastStart time.Time          // when the last probe started
	cancel    context.CancelFunc // ends the probe under way; nil if none
}

// NewMonitor returns a Monitor that probes with cfg and client (unused
// when cfg.GRPC asks for a gRPC health check). Zero
// fields of cfg take the spec defaults (path /healthz, interval 1s,
// timeout 1s but not above the interval, thresholds 2 and 3); a nil
// client means http.DefaultClient.
func NewMonitor(cfg spec.Health, client *http.Client) *Monitor {
	return &Monitor{
		cfg:     healthDefaults(cfg),
		client:  noRedirects(client),
		changes: make(chan struct{}, 1),
		targets: make(map[string]*target),
	}
}

// NewMonitorProber returns a Monitor like NewMonitor's whose HTTP probes
// go through p, which Monitors may share (the controller's one Prober).
func NewMonitorProber(cfg spec.Health, p *Prober) *Monitor {
	m := NewMonitor(cfg, nil)
	m.prober = p
	return m
}

func healthDefaults(cfg spec.Health) spec.Health {
	if cfg.Path == "" {
		cfg.Path = "/healthz"
	}
	if cfg.Interval <= 0 {
		cfg.Interval = spec.Duration(time.Second)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = spec.Duration(time.Second)
	}
	cfg.Timeout = min(cfg.Timeout, cfg.Interval)
	if cfg.HealthyThreshold < 1 {
		cfg.HealthyThreshold = 2
	}
	if cfg.UnhealthyThreshold < 1 {
		cfg.UnhealthyThreshold = 3
	}
	return cfg
}

// Run probes every watched address every interval until ctx is done;
// then it waits for the probes under way to stop. The probes run on the
// Scheduler of ctx (WithScheduler), else on one of Run's own. Run is
// called once.
func (m *Monitor) Run(ctx context.Context) {
	s := schedulerFrom(ctx)
	var own sync.WaitGroup
	if s == nil {
		s = NewScheduler(SchedulerOptions{MinWorkers: 1, MaxWorkers: 8})
		own.Go(func() { s.Run(ctx) })
	}
	m.mu.Lock()
	m.sched, m.runCtx = s, ctx
	for _, t := range m.targets {
		m.schedule(t)
	}
	m.mu.Unlock()

	<-ctx.Done()
	m.mu.Lock()
	for _, t := range m.targets {
		s.remove(t)
	}
	m.sched, m.runCtx = nil, nil
	m.mu.Unlock()
	// No worker starts a probe of a removed target, so none is added.
	m.probes.Wait()
	own.Wait()
	m.mu.Lock()
	for _, t := range m.targets {
		t.grpc.close()
	}
	m.mu.Unlock()
}

// Watch starts probing addrs; each is probed at once (give or take the
// scheduler's jitter) and is not ready until it passes HealthyThreshold
// probes. Watching an address already watched changes nothing.
func (m *Monitor) Watch(addrs ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, addr := range addrs {
		if _, ok := m.targets[addr]; ok {
			continue
		}
		t := &target{m: m, addr: addr, index: -1}
		m.targets[addr] = t
		if m.sched != nil {
			m.schedule(t)
		}
	}
}

// schedule adds t to Run's scheduler. m.mu is held.
func (m *Monitor) schedule(t *target) {
	t.ctx = m.runCtx
	m.sched.add(t, m.cfg.Interval.D())
}

// Forget stops probing addrs and forgets their status. Forgetting a
// ready address signals Changes, since it is no longer ready.
func (m *Monitor) Forget(addrs ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, addr := range addrs {
		t, ok := m.targets[addr]
		if !ok {
			continue
		}
		if m.sched != nil {
			m.sched.remove(t)
		}
		t.grpc.close()
		delete(m.targets, addr)
		if t.status.Ready {
			m.notify()
		}
	}
}

// Ready reports whether addr is watched and ready.
func (m *Monitor) Ready(addr string) bool { return m.Status(addr).Ready }

// Status returns what the monitor knows of addr; the zero HealthStatus
// if addr is not watched.
func (m *Monitor) Status(addr string) HealthStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.targets[addr]; ok {
		return t.status
	}
	return HealthStatus{}
}

// Changes returns a channel that receives a value after any watched
// address's readiness flips. Flips that come while a value is pending
// are merged into it, so the receiver re-reads every address it cares
// about.
func (m *Monitor) Changes() <-chan struct{} { return m.changes }

func (m *Monitor) notify() {
	select {
	case m.changes <- struct{}{}:
	default:
	}
}

// runProbe probes t for the scheduler s, which started it at start, lag
// after it was due, records the result and schedules the next probe.
func (m *Monitor) runProbe(s *Scheduler, t *target, start time.Time, lag time.Duration) {
	cfg := m.config()
	ctx, cancel := context.WithTimeout(t.ctx, cfg.Timeout.D())
	defer cancel()
	s.mu.Lock()
	gone := t.gone
	t.cancel = cancel
	s.mu.Unlock()
	if gone {
		return
	}
	var err error
	if m.probeFn != nil {
		err = m.probeFn(ctx, cfg, t.addr)
	} else {
		err = m.probe(ctx, cfg, t)
	}
	s.mu.Lock()
	t.cancel, gone = nil, t.gone
	s.mu.Unlock()
	if gone || t.ctx.Err() != nil {
		return // stopped mid-probe: the result says nothing of addr
	}
	end := s.clock.Now()
	timedOut := err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded)
	inconclusive := timedOut && proberLate(cfg.Timeout.D(), lag, end.Sub(start))
	stretch := m.record(t, err, inconclusive, end)
	s.next(t, start, end, m.config().Interval.D(), stretch)
}

// proberLate reports whether a probe with timeout that started lag after
// it was due and took took ran late by the prober's own doing: it started
// more than a tenth of its timeout late (the scheduler or its workers were
// behind) or ended more than a tenth of its timeout after its deadline
// (the process was too busy to run it when its deadline passed). A
// timeout of such a probe says as much of the prober as of the instance.
func proberLate(timeout, lag, took time.Duration) bool {
	return lag > timeout/10 || took > timeout+timeout/10
}

// maxInconclusive is how many probes in a row, since the last pass, may
// be inconclusive: the next late timeout counts as a failure, so that an
// instance that truly hangs goes out of the route after at most
// maxInconclusive+UnhealthyThreshold probes, however busy the prober.
const maxInconclusive = 3

func (m *Monitor) probe(ctx context.Context, cfg spec.Health, t *target) error {
	if g := cfg.GRPC; g != nil {
		return t.grpc.probe(ctx, t.addr, g.Service)
	}
	if m.prober != nil {
		return m.prober.Probe(ctx, t.addr, cfg.Path)
	}
	return Probe(ctx, m.client, t.addr, cfg.Path)
}

// SetConfig changes the probes' settings (a config reload): each
// address's next probe uses them and comes within the new interval, and
// its readiness so far is kept, so that a ready instance stays in the
// route.
func (m *Monitor) SetConfig(cfg spec.Health) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cfg = healthDefaults(cfg)
	if m.sched != nil {
		for _, t := range m.targets {
			m.sched.shorten(t, m.cfg.Interval.D())
		}
	}
}

func (m *Monitor) config() spec.Health {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg
}

// record applies a probe's result to t, unless t was forgotten
// meanwhile, and reports whether the next probe may be stretched by
// passive health: t is ready and passed this probe.
func (m *Monitor) record(t *target, err error, inconclusive bool, at time.Time) (stretch bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.targets[t.addr] != t {
		return false
	}
	if inconclusive && t.status.Inconclusive < maxInconclusive {
		t.status.Inconclusive++
		t.status.LastProbe = at
		return false
	}
	var flipped bool
	t.status, flipped = t.status.observe(err, at, m.cfg.HealthyThreshold, m.cfg.UnhealthyThreshold)
	if flipped {
		m.notify()
	}
	return err == nil && t.status.Ready
}
