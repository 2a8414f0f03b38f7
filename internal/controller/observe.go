package controller

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/platform"
)

// observe gathers what the engine needs for one step.
func (l *loop) observe(ctx context.Context, cmd engine.Command, now time.Time) engine.Observation {
	obs := engine.Observation{
		New:      l.versionObs(l.r.To.Label),
		Old:      l.versionObs(l.r.From.Label),
		Baseline: l.versionObs(l.r.BaselineLabel()),
		Smoke:    l.smoke,
		Command:  cmd,
		Hooks:    l.hookObs(),
		Route:    l.unrouted,
	}
	obs.Traffic = l.counts(ctx, l.r.To.Label).Sub(l.phaseBase)
	obs.Analysis, obs.Background = l.analyses(ctx, now)
	return obs
}

// versionObs counts a version's instances by state and readiness, and
// starts health probes for any instance not yet watched.
func (l *loop) versionObs(label string) engine.VersionObs {
	var v engine.VersionObs
	if label == "" {
		return v
	}
	switch rec := l.ver(label); rec.state {
	case versionBroken:
		return engine.VersionObs{Started: true, Exited: 1, Problem: rec.problem}
	case versionStopping:
		// Being stopped: what runs now is about to go. A rollout that
		// wants the version again waits for the stop, then deploys it.
		return v
	}
	insts, err := l.instances(label)
	if err != nil {
		// Not seen is not gone: the engine holds rather than taking the
		// version for stopped (and rolling a healthy one back).
		return engine.VersionObs{Unknown: err.Error()}
	}
	v.Started = len(insts) > 0
	for _, in := range insts {
		l.count(&v, in)
	}
	return v
}

func (l *loop) count(v *engine.VersionObs, in platform.Instance) {
	if in.State != platform.StateRunning {
		v.Exited++
		if !l.selfReady() {
			l.monitor.Forget(in.Addr)
		}
		setProblem(v, fmt.Sprintf("%s exited: %s", in.ID, in.LastExit))
		return
	}
	v.Running++
	key, ready, lastErr := l.readiness(in)
	rec := l.inst(key)
	switch {
	case ready:
		rec.on(instPasses, l.c.now())
	case lastErr != "" || rec.state == instReady || rec.state == instFailing:
		rec.on(instFails, l.c.now())
	default:
		rec.on(instUnprobed, l.c.now())
	}
	switch {
	case ready:
		v.Ready++
		if l.available(rec) {
			v.Available++
		}
	case rec.state == instFailing:
		v.Failing++
		setProblem(v, fmt.Sprintf("%s not ready: %s", in.ID, lastErr))
	case lastErr != "" && v.Probe == "":
		v.Probe = fmt.Sprintf("%s: %s", in.ID, lastErr)
	}
}

// readiness reads a running instance's readiness: from the platform when
// it reports readiness (keyed by the instance, as instances may share an
// address), else from bluejay's probes of its address, which it starts.
func (l *loop) readiness(in platform.Instance) (key string, ready bool, lastErr string) {
	if l.selfReady() {
		if !in.Ready {
			lastErr = "the platform reports it unready"
		}
		return in.ID, in.Ready, lastErr
	}
	l.monitor.Watch(in.Addr)
	st := l.monitor.Status(in.Addr)
	return in.Addr, st.Ready, st.LastError
}

// readinessKeys are the keys readiness keeps of instances (see
// readiness).
func (l *loop) readinessKeys(ins []platform.Instance) []string {
	keys := make([]string, len(ins))
	for i, in := range ins {
		keys[i] = in.Addr
		if l.selfReady() {
			keys[i] = in.ID
		}
	}
	return keys
}

// forgetReadiness drops what was known of instances that are gone, so
// that an instance that comes back under the same key (a Deployment's
// pod index, a static target) starts afresh, not as one that lost its
// readiness.
func (l *loop) forgetReadiness(keys []string) {
	for _, k := range keys {
		delete(l.insts, k)
	}
}

// selfReady reports whether the platform reports readiness itself
// (platform.Readiness): bluejay then probes nothing and drains nothing.
func (l *loop) selfReady() bool {
	_, ok := l.svc.Platform.(platform.Readiness)
	return ok
}

// available reports whether a ready instance has stayed ready for the
// rolling strategy's MinHealthyTime (any ready instance, otherwise).
func (l *loop) available(in *instanceRec) bool {
	if p := l.r.Params.Rolling; p != nil {
		return in.state == instReady && l.c.now().Sub(in.readySince) >= p.MinHealthyTime
	}
	return true
}

// draining reports whether a scale-down has instances out of the route.
func (l *loop) draining() bool {
	for _, in := range l.insts {
		if in.state == instDraining {
			return true
		}
	}
	return false
}

func setProblem(v *engine.VersionObs, p string) {
	if v.Problem == "" {
		v.Problem = p
	}
}

// readyAddrs lists the addresses of a version's ready instances, each
// once (a platform's instances may share their Service's address).
func (l *loop) readyAddrs(label string) []string {
	insts, err := l.instances(label)
	if err != nil {
		return l.appliedAddrs(label) // unknown: the route keeps what it had
	}
	var out []string
	for _, in := range insts {
		ready := in.Ready
		if !l.selfReady() {
			ready = l.ready(in.Addr) && l.inst(in.Addr).state != instDraining
		}
		if in.State == platform.StateRunning && ready && !slices.Contains(out, in.Addr) {
			out = append(out, in.Addr)
		}
	}
	return out
}

// ready reports whether addr may take traffic. An address from the route
// restored at start keeps its traffic until a probe fails or readiness is
// established, so that restarting bluejay does not blank a route whose
// instances (on the static platform, say) kept running.
func (l *loop) ready(addr string) bool {
	st := l.monitor.Status(addr)
	rec := l.inst(addr)
	switch {
	case rec.state != instPresumed:
	case st.Ready:
		rec.on(instPasses, l.c.now())
	case st.Failures > 0:
		rec.on(instFails, l.c.now())
	}
	return st.Ready || rec.state == instPresumed
}

// addrs lists the addresses of all of a version's instances.
func (l *loop) addrs(label string) []string {
	insts, err := l.instances(label)
	if err != nil {
		return l.appliedAddrs(label)
	}
	var out []string
	for _, in := range insts {
		out = append(out, in.Addr)
	}
	return out
}

// instances lists a version's instances through the platform, logging a
// failure to list them once.
func (l *loop) instances(label string) ([]platform.Instance, error) {
	insts, err := l.svc.Platform.Instances(l.svc.Spec.Name, label)
	l.failing("listing instances of "+label, err, slog.LevelWarn)
	if err != nil {
		return nil, fmt.Errorf("cannot list %s's instances: %w", label, err)
	}
	return insts, nil
}

// appliedAddrs are the version's addresses in the route last applied.
func (l *loop) appliedAddrs(label string) []string {
	for _, b := range l.applied.Backends {
		if b.Version == label {
			return slices.Clone(b.Addrs)
		}
	}
	return nil
}
