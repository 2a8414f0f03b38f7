package engine

import (
	"fmt"
	"time"
)

// A person's pause and resume, for every strategy. pause holds an active
// rollout where it stands: the phase becomes Paused, the weights, step
// and counts stay, and the rollout remembers where it was (Rollout.Hold).
// resume returns it there without skipping anything, with its clocks
// moved later by the time it spent paused, so that a pause counts toward
// no duration (a preview, a watch, a timed pause step) and no deadline.
// While held, the guards still apply: a lost instance or a failing new
// version with traffic is rolled back as before.

// holdCommand applies pause and resume, and refuses a promote that would
// skip the gates of a rollout held before them.
func (b machine) holdCommand() (Decision, bool) {
	switch b.obs.Command {
	case CmdPause:
		switch {
		case !b.r.Phase.Active():
			return b.reject("the rollout has ended"), true
		case b.r.Phase == PhasePaused:
			return b.reject("it is already paused: " + b.r.Reason), true
		}
		return b.hold(fmt.Sprintf("paused by request in %s; resume to go on", b.where()), false), true
	case CmdResume:
		switch {
		case b.r.Phase != PhasePaused:
			return b.reject("it is not paused"), true
		case b.r.Hold != nil:
			return b.resume(), true
		}
	case CmdPromote, CmdPromoteFull:
		if h := b.r.Hold; h != nil && b.r.Phase == PhasePaused && (h.Phase == PhaseDeploying || h.Phase == PhaseSmoke) {
			return b.reject(fmt.Sprintf("%s has not passed its gates yet (paused in %s): resume it", b.r.To.Label, h.Phase)), true
		}
	}
	return Decision{}, false
}

// hold pauses the rollout where it stands. A fresh hold (the progress
// deadline's) gives the rollout its whole planned time again on resume.
func (b machine) hold(why string, fresh bool) Decision {
	d := b.to(PhasePaused, why, b.r.Weights)
	h := &Hold{Phase: b.r.Phase, Reason: b.r.Reason, Since: b.now, PhaseSince: b.r.PhaseSince, StepSince: b.r.StepSince}
	if fresh {
		h.PhaseSince, h.StepSince = b.now, b.now
	}
	d.Hold = h
	return d
}

// resume returns a held rollout to where it was. An analysis step starts
// again: measurements from before the pause are not mixed with after.
func (b machine) resume() Decision {
	h := b.r.Hold
	held := b.now.Sub(h.Since)
	d := b.to(h.Phase, fmt.Sprintf("resumed after %s paused: %s", held.Round(time.Second), h.Reason), b.r.Weights)
	if h.Phase == PhaseProgressing && b.r.Strategy == StrategyCanary && b.r.Step < len(b.r.Params.Steps) &&
		b.r.Params.Steps[b.r.Step].Kind == StepAnalysis {
		d.RestartStep = true
		return d
	}
	d.PhaseSince, d.StepSince = later(h.PhaseSince, held), later(h.StepSince, held)
	return d
}

func later(t time.Time, d time.Duration) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Add(d)
}

// where names the rollout's place for reasons: "step 3/6 (analysis
// errors 1m)" for a canary under way, else its phase.
func (b machine) where() string {
	if b.r.Strategy == StrategyCanary && b.r.Phase == PhaseProgressing && b.r.Step < len(b.r.Params.Steps) {
		return fmt.Sprintf("%s (%s)", b.stepName(b.r.Step), b.r.Params.Steps[b.r.Step])
	}
	return string(b.r.Phase)
}
