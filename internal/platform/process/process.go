package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/platform"
)

// DefaultStopGrace is the StopGrace used when a Config leaves it zero.
const DefaultStopGrace = 10 * time.Second

// ErrUnknownService is returned by Deploy for a service that was never
// configured.
var ErrUnknownService = errors.New("service not configured for the process platform")

// Config says how to run one service's versions.
type Config struct {
	// Command is the program and its arguments. Each element is a Go
	// template with {{.Port}}, {{.Version}}, {{.Service}} and
	// {{.Instance}}. The program is looked up in PATH unless it contains
	// a slash; a relative path is relative to Dir. Required.
	Command []string
	// Env adds variables to bluejay's own environment for the instances;
	// values are templated like Command. Default none.
	Env map[string]string
	// Dir is the instances' working directory. Default "": bluejay's.
	Dir string
	// LogDir receives one SERVICE-VERSION-N.log per instance, appended
	// to across restarts; it is created if missing. Default "": the
	// instances' output is discarded.
	LogDir string
	// Replicas is how many instances each version runs. Default 0 means 1.
	Replicas int
	// StopGrace is how long an instance has to exit after SIGTERM before
	// it gets SIGKILL. Default 0 means DefaultStopGrace (10s).
	StopGrace time.Duration
	// Logger receives instance starts, exits and stops. Default nil
	// means slog.Default().
	Logger *slog.Logger
}

func (c Config) replicas() int { return max(c.Replicas, 1) }

func (c Config) stopGrace() time.Duration {
	if c.StopGrace <= 0 {
		return DefaultStopGrace
	}
	return c.StopGrace
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

// Platform runs versions of services as local child processes. Configure
// each service before deploying it. The zero value is not usable; call
// New. A Platform is safe for concurrent use.
type Platform struct {
	// mu guards the maps and every instance's info and stopping fields.
	// Deploy holds it while it starts processes (fork and exec are quick),
	// which serialises Deploys and Stops of a version.
	mu       sync.Mutex
	configs  map[string]Config
	versions map[key][]*instance // indexed by replica; nil: a slot to fill
	// wanted is every version Deploy was asked to run and Stop was not,
	// with its replica count: recorded in the state file before any
	// instance starts, so that a bluejay killed half-way through a
	// Deploy starts the rest on Adopt.
	wanted map[key]platform.Version
	// stateFile records the running instances for Adopt; "" records nothing.
	stateFile string
}

var (
	_ platform.Platform = (*Platform)(nil)
	_ platform.Owner    = (*Platform)(nil)
)

// OwnsInstances marks the platform as running its instances itself: an
// address it does not report running does not run.
func (p *Platform) OwnsInstances() {}

type key struct{ service, version string }

// New returns a Platform with no services configured.
func New() *Platform {
	return &Platform{configs: map[string]Config{}, versions: map[key][]*instance{}, wanted: map[key]platform.Version{}}
}

// Configure sets how the service's versions run. It affects instances
// started afterwards; running ones keep their command until they are
// restarted or stopped.
func (p *Platform) Configure(service string, cfg Config) {
	cfg.Command = slices.Clone(cfg.Command)
	cfg.Env = maps.Clone(cfg.Env)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.configs[service] = cfg
}

// Deploy starts the version's missing instances, one per replica, and
// restarts those that exited (counting the restart). It returns once the
// processes are started, not ready. A template error, a missing program
// or an unknown service is an error; instances started before the error
// keep running until Stop.
func (p *Platform) Deploy(ctx context.Context, v platform.Version) error {
	if err := checkNames(v.Service, v.Label); err != nil {
		return fmt.Errorf("deploying %s %s: %w", v.Service, v.Label, err)
	}
	extra, cfg, err := p.deploy(ctx, v)
	p.stopExtra(ctx, cfg, extra) // outside p.mu: stopping waits for exits
	return err
}

// deploy starts the missing instances under p.mu and trims extra ones,
// which it returns for the caller to stop.
func (p *Platform) deploy(ctx context.Context, v platform.Version) ([]*instance, Config, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cfg, ok := p.configs[v.Service]
	if !ok {
		return nil, cfg, fmt.Errorf("deploying %s %s: %w", v.Service, v.Label, ErrUnknownService)
	}
	k := key{v.Service, v.Label}
	n := cfg.replicas()
	if v.Replicas > 0 {
		n = v.Replicas
	}
	want := v
	want.Replicas = n
	p.wanted[k] = want
	if err := p.saveLocked(); err != nil { // the intent first: see wanted
		return nil, cfg, fmt.Errorf("deploying %s %s: %w", v.Service, v.Label, err)
	}
	extra := p.trim(k, n)
	return extra, cfg, p.startMissing(ctx, cfg, v, k, n)
}

// startMissing starts instances 0..n-1 of k that do not run. The caller
// holds p.mu.
func (p *Platform) startMissing(ctx context.Context, cfg Config, v platform.Version, k key, n int) error {
	for i := range n {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("deploying %s %s: %w", v.Service, v.Label, err)
		}
		insts := p.versions[k]
		var prev *instance // nil: never started, or not found alive at adoption
		if i < len(insts) {
			prev = insts[i]
			if prev != nil && prev.info.State == platform.StateRunning {
				continue
			}
		}
		inst, err := p.start(cfg, v, i, prev)
		if err != nil {
			return fmt.Errorf("deploying %s: %w", instanceID(v.Service, v.Label, i), err)
		}
		if i < len(insts) {
			insts[i] = inst
		} else {
			p.versions[k] = append(insts, inst)
		}
		if err := p.saveLocked(); err != nil {
			return fmt.Errorf("deploying %s: %w", instanceID(v.Service, v.Label, i), err)
		}
	}
	return nil
}

// Instances returns copies of the version's instances, running and
// exited, in replica order (web-v2-0, web-v2-1, ...). It returns an empty
// slice for a version that does not run, and never an error: it knows
// its processes.
func (p *Platform) Instances(service, version string) ([]platform.Instance, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	insts := p.versions[key{service, version}]
	out := make([]platform.Instance, 0, len(insts))
	for _, inst := range insts {
		if inst != nil {
			out = append(out, inst.info)
		}
	}
	return out, nil
}

// Stop forgets the version, sends SIGTERM to each instance's process
// group, waits up to the service's StopGrace, then sends SIGKILL, and
// returns once every process exited. If ctx ends first, the instances
// are killed at once and Stop returns ctx's error. Stopping a version
// that does not run is not an error.
func (p *Platform) Stop(ctx context.Context, service, version string) error {
	p.mu.Lock()
	k := key{service, version}
	insts := p.versions[k]
	delete(p.versions, k)
	delete(p.wanted, k)
	insts = slices.DeleteFunc(insts, func(inst *instance) bool { return inst == nil })
	for _, inst := range insts {
		inst.stopping = true // so the waiter does not report an unexpected exit
	}
	grace := p.configs[service].stopGrace()
	_ = p.saveLocked() // logged; the exit, stop or adoption happened anyway
	p.mu.Unlock()

	errs := make([]error, len(insts))
	var wg sync.WaitGroup
	for i, inst := range insts {
		wg.Go(func() { errs[i] = inst.stop(ctx, grace) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// trim forgets the instances of k numbered n and above and returns them
// for stopExtra. The caller holds p.mu.
func (p *Platform) trim(k key, n int) []*instance {
	insts := p.versions[k]
	if len(insts) <= n {
		return nil
	}
	extra := slices.DeleteFunc(slices.Clone(insts[n:]), func(inst *instance) bool { return inst == nil })
	p.versions[k] = insts[:n:n]
	for _, inst := range extra {
		inst.stopping = true
	}
	_ = p.saveLocked() // logged; the exit, stop or adoption happened anyway
	return extra
}

// stopExtra stops instances trimmed by a Deploy with fewer replicas,
// without p.mu.
func (p *Platform) stopExtra(ctx context.Context, cfg Config, extra []*instance) {
	var wg sync.WaitGroup
	for _, inst := range extra {
		wg.Go(func() {
			if err := inst.stop(ctx, cfg.stopGrace()); err != nil {
				cfg.logger().Warn("stopping an extra instance", "id", inst.info.ID, "err", err)
			}
		})
	}
	wg.Wait()
}

// StopAll stops every version of every service, as Stop does, for
// bluejay's shutdown.
func (p *Platform) StopAll(ctx context.Context) error {
	p.mu.Lock()
	keys := slices.Collect(maps.Keys(p.versions))
	p.mu.Unlock()

	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() { errs[i] = p.Stop(ctx, k.service, k.version) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// checkNames rejects service and version names that cannot be part of a
// log file name.
func checkNames(service, version string) error {
	for _, s := range []string{service, version} {
		if s == "" || s == "." || s == ".." || strings.ContainsAny(s, `/\`) {
			return fmt.Errorf("invalid name %q: want a non-empty name without slashes", s)
		}
	}
	return nil
}

func instanceID(service, version string, index int) string {
	return fmt.Sprintf("%s-%s-%d", service, version, index)
}
