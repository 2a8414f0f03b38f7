package checks

import (
	"context"
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
}

// observe returns s after a probe that ended at at with err, and whether
// readiness flipped. It is the hysteresis: readiness turns on after
// healthy consecutive passes and off after unhealthy consecutive failures.
func (s HealthStatus) observe(err error, at time.Time, healthy, unhealthy int) (HealthStatus, bool) {
	s.LastProbe = at
	was := s.Ready
	if err == nil {
		s.Passes, s.Failures, s.LastError = s.Passes+1, 0, ""
		s.Ready = s.Ready || s.Passes >= healthy
	} else {
		s.Passes, s.Failures, s.LastError = 0, s.Failures+1, err.Error()
		s.Ready = s.Ready && s.Failures < unhealthy
	}
	return s, s.Ready != was
}

// Monitor probes a set of instance addresses on an interval and tracks
// each one's readiness. Its methods are safe for concurrent use.
type Monitor struct {
	cfg     spec.Health
	client  *http.Client
	changes chan struct{}

	mu      sync.Mutex
	targets map[string]*target
	// runCtx is Run's context while Run runs, nil otherwise; loops start
	// only while it is set.
	runCtx context.Context
	loops  sync.WaitGroup
}

// target is one watched address.
type target struct {
	status HealthStatus
	// stop ends the address's probe loop; nil while none runs.
	stop context.CancelFunc
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

// Run probes every watched address every interval, each in its own
// goroutine, until ctx is done; then it waits for the probes to stop.
// Run is called once.
func (m *Monitor) Run(ctx context.Context) {
	m.mu.Lock()
	m.runCtx = ctx
	for addr, t := range m.targets {
		m.start(addr, t)
	}
	m.mu.Unlock()

	<-ctx.Done()
	m.mu.Lock()
	m.runCtx = nil
	m.mu.Unlock()
	m.loops.Wait()
}

// Watch starts probing addrs; each is probed at once and is not ready
// until it passes HealthyThreshold probes. Watching an address already
// watched changes nothing.
func (m *Monitor) Watch(addrs ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, addr := range addrs {
		if _, ok := m.targets[addr]; ok {
			continue
		}
		t := &target{}
		m.targets[addr] = t
		if m.runCtx != nil {
			m.start(addr, t)
		}
	}
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
		if t.stop != nil {
			t.stop()
		}
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

// start runs addr's probe loop under Run's context. m.mu is held.
func (m *Monitor) start(addr string, t *target) {
	ctx, stop := context.WithCancel(m.runCtx)
	t.stop = stop
	m.loops.Go(func() {
		defer stop()
		m.loop(ctx, addr, t)
	})
}

// loop probes addr at once and then every interval until ctx is done.
func (m *Monitor) loop(ctx context.Context, addr string, t *target) {
	interval := m.config().Interval.D()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		err := m.probe(ctx, addr)
		if ctx.Err() != nil {
			return // stopped mid-probe: the result says nothing of addr
		}
		m.record(addr, t, err)
		if i := m.config().Interval.D(); i != interval { // SetConfig
			interval = i
			tick.Reset(i)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (m *Monitor) probe(ctx context.Context, addr string) error {
	cfg := m.config()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout.D())
	defer cancel()
	if g := cfg.GRPC; g != nil {
		return GRPCProbe(ctx, addr, g.Service)
	}
	return Probe(ctx, m.client, addr, cfg.Path)
}

// SetConfig changes the probes' settings (a config reload): each
// address's next probe uses them, and its readiness so far is kept, so
// that a ready instance stays in the route.
func (m *Monitor) SetConfig(cfg spec.Health) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cfg = healthDefaults(cfg)
}

func (m *Monitor) config() spec.Health {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg
}

// record applies a probe's result to t, unless addr was forgotten (or
// forgotten and watched again) meanwhile.
func (m *Monitor) record(addr string, t *target, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.targets[addr] != t {
		return
	}
	var flipped bool
	t.status, flipped = t.status.observe(err, time.Now(), m.cfg.HealthyThreshold, m.cfg.UnhealthyThreshold)
	if flipped {
		m.notify()
	}
}
