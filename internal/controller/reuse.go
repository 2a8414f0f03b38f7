package controller

import (
	"context"
	"fmt"
	"slices"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/platform"
)

// Instances of a version still running when a rollout of it begins (a
// rolled-back canary kept by abortScaleDownDelay, say) serve the new
// rollout only when they run exactly what it would start — the same
// command, args, env and build — and never failed a gate. Otherwise they
// are stopped and fresh ones started (the stop goes first: deploy waits
// for it). The rollout's event log says which, and why.

// reuseOrRenew applies that rule to the new version of the rollout just
// adopted; prev are the service's earlier rollouts, newest first.
func (l *loop) reuseOrRenew(ctx context.Context, prev []engine.Rollout) {
	v := l.r.To
	if _, owns := l.svc.Platform.(platform.Owner); !owns {
		return // static targets run elsewhere: nothing of ours to renew
	}
	running, err := l.running(v.Label)
	if err != nil {
		l.stop(ctx, v.Label, fmt.Sprintf("%v: cannot tell whether they may be reused; starting fresh ones", err))
		return
	}
	if len(running) == 0 {
		return
	}
	why, err := l.staleInstances(prev, v, running)
	if err != nil {
		why = fmt.Sprintf("cannot tell what %s's running instances were started with (%v)", v.Label, err)
	}
	if why == "" {
		l.record(ctx, fmt.Sprintf("reusing %s's %d running instance(s): started with the same command, args and env, and they never failed a gate",
			v.Label, len(running)))
		return
	}
	l.stop(ctx, v.Label, why+"; starting fresh ones")
}

// staleInstances says why running instances of v may not serve a new
// rollout of it; "" if they may.
func (l *loop) staleInstances(prev []engine.Rollout, v platform.Version, running []platform.Instance) (string, error) {
	for _, r := range prev {
		if r.To.Label != v.Label {
			continue
		}
		switch {
		case r.Phase == engine.PhaseFailed || r.Phase == engine.PhaseRolledBack:
			return fmt.Sprintf("%s's running instances failed a gate in rollout #%d (%s: %s)", v.Label, r.ID, r.Phase, r.Reason), nil
		case !slices.Equal(r.To.Args, v.Args) || r.To.BuildOf() != v.BuildOf():
			return fmt.Sprintf("%s's running instances were started with args %q in rollout #%d, this rollout asks for %q",
				v.Label, r.To.Args, r.ID, v.Args), nil
		}
		break // the newest rollout of v decides
	}
	sp, ok := l.svc.Platform.(platform.Specs)
	if !ok {
		return "", nil
	}
	want, err := sp.SpecOf(v)
	if err != nil {
		return "", err
	}
	for _, in := range running {
		if in.Spec != want {
			return fmt.Sprintf("%s was started with another command, args or env than %s's now", in.ID, v.Label), nil
		}
	}
	return "", nil
}

// running lists a version's running instances.
func (l *loop) running(label string) ([]platform.Instance, error) {
	insts, err := l.instances(label)
	if err != nil {
		return nil, err
	}
	var out []platform.Instance
	for _, in := range insts {
		if in.State == platform.StateRunning {
			out = append(out, in)
		}
	}
	return out, nil
}
