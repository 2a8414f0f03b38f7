package controller

import (
	"context"
	"fmt"
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
	if e := l.deployErr[label]; e != "" {
		return engine.VersionObs{Started: true, Exited: 1, Problem: e}
	}
	insts := l.svc.Platform.Instances(l.svc.Spec.Name, label)
	v.Started = len(insts) > 0
	for _, in := range insts {
		l.count(&v, in)
	}
	return v
}

func (l *loop) count(v *engine.VersionObs, in platform.Instance) {
	if in.State != platform.StateRunning {
		v.Exited++
		l.monitor.Forget(in.Addr)
		setProblem(v, fmt.Sprintf("%s exited: %s", in.ID, in.LastExit))
		return
	}
	v.Running++
	l.monitor.Watch(in.Addr)
	st := l.monitor.Status(in.Addr)
	switch {
	case st.Ready:
		v.Ready++
		l.everReady[in.Addr] = true
		if l.available(in.Addr) {
			v.Available++
		}
	case l.everReady[in.Addr]:
		delete(l.readySince, in.Addr)
		v.Failing++
		setProblem(v, fmt.Sprintf("%s not ready: %s", in.ID, st.LastError))
	case st.LastError != "" && v.Probe == "":
		v.Probe = fmt.Sprintf("%s: %s", in.ID, st.LastError)
	}
}

// available reports whether a ready address has stayed ready for the
// rolling strategy's MinHealthyTime (any ready address, otherwise).
func (l *loop) available(addr string) bool {
	now := l.c.now()
	since, ok := l.readySince[addr]
	if !ok {
		l.readySince[addr] = now
		since = now
	}
	if p := l.r.Params.Rolling; p != nil {
		return now.Sub(since) >= p.MinHealthyTime
	}
	return true
}

func setProblem(v *engine.VersionObs, p string) {
	if v.Problem == "" {
		v.Problem = p
	}
}

// readyAddrs lists the addresses of a version's ready instances.
func (l *loop) readyAddrs(label string) []string {
	var out []string
	for _, in := range l.svc.Platform.Instances(l.svc.Spec.Name, label) {
		if in.State == platform.StateRunning && l.ready(in.Addr) && !l.draining[in.Addr] {
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
	if st.Ready || st.Failures > 0 {
		delete(l.presumed, addr)
	}
	return st.Ready || l.presumed[addr]
}

// addrs lists the addresses of all of a version's instances.
func (l *loop) addrs(label string) []string {
	var out []string
	for _, in := range l.svc.Platform.Instances(l.svc.Spec.Name, label) {
		out = append(out, in.Addr)
	}
	return out
}
