package engine

import (
	"fmt"
	"time"
)

// The progress deadline, the same for every strategy: a rollout that has
// made no progress — no phase change, no step change, no change of a
// rolling rollout's counts — for ProgressDeadline past what its current
// phase or step plans to take is rolled back (Failed if no user traffic
// reached the new version yet), or paused for a person. Nothing waits
// forever. Time spent Paused does not count: leaving Paused is progress,
// and resume moves the clocks past the pause.

// progressDeadline replaces a decision that makes no progress with the
// deadline's, once the deadline has passed. Every other decision — a
// failure, a command, a step — goes first.
func (b machine) progressDeadline(d Decision) Decision {
	limit := b.deadline()
	if limit <= 0 || !b.r.Phase.Active() || b.r.Phase == PhasePaused || d.Rejected != "" || b.progresses(d) {
		return d
	}
	planned := b.planned()
	if b.now.Sub(b.r.PhaseSince) < planned+limit {
		return d
	}
	why := fmt.Sprintf("no progress for %s (progressDeadline", limit)
	if planned > 0 {
		why += fmt.Sprintf(", past the planned %s", planned)
	}
	why += fmt.Sprintf(") in %s: %s", b.where(), d.Reason)
	if b.awaitingTraffic() {
		return b.noTraffic(limit, planned)
	}
	if b.r.Params.PauseOnDeadline {
		return b.hold(why+"; paused: resume to try again, promote to go on, abort to roll back", true)
	}
	return b.giveUp(why)
}

// deadline is the rollout's progress deadline; 0 means none.
func (b machine) deadline() time.Duration {
	p := b.r.Params
	if p.ProgressDeadline == 0 && p.Rolling != nil {
		return p.Rolling.ProgressDeadline
	}
	return p.ProgressDeadline
}

// progresses reports whether d moves the rollout on.
func (b machine) progresses(d Decision) bool {
	return d.Phase != b.r.Phase || d.Step != b.r.Step || d.RestartStep ||
		d.NewCount != b.r.NewCount || d.OldCount != b.r.OldCount
}

// planned is how long the current phase or step means to take, which the
// deadline comes on top of: a long watch window, a timed pause or a
// fixed-length analysis is never cut short by it.
func (b machine) planned() time.Duration {
	p := b.r.Params
	switch b.r.Phase {
	case PhaseDeploying:
		return p.ReadyTimeout
	case PhasePreview:
		return p.PreviewDuration
	case PhaseWatching:
		return p.Watch + p.ReadyTimeout
	case PhaseProgressing:
		switch {
		case p.Rolling != nil: // a batch's instances start, become ready and stay ready
			return p.ReadyTimeout + p.Rolling.MinHealthyTime
		case b.r.Step < len(p.Steps):
			return p.Steps[b.r.Step].Duration
		}
	}
	return 0
}

// giveUp ends a rollout that stopped making progress: a flip back when
// the new version took user traffic, Failed otherwise.
func (b machine) giveUp(why string) Decision {
	if b.r.Strategy != StrategyRolling {
		return b.rollback(why, nil)
	}
	if b.r.Phase == PhaseProgressing {
		return b.revert(why, nil)
	}
	d := b.fail(why, nil) // the first batch never took traffic
	d.NewCount, d.OldCount = 0, b.replicas()
	d.Actions = append(d.Actions, b.scale(b.r.From.Label, b.replicas()))
	return d
}

// awaitingTraffic reports whether the rollout is a blue-green preview or
// watch held back only by too little traffic to judge.
func (b machine) awaitingTraffic() bool {
	if b.r.Strategy != StrategyBlueGreen || b.enoughTraffic() {
		return false
	}
	return b.r.Phase == PhasePreview || b.r.Phase == PhaseWatching
}

// noTraffic decides a preview or watch that reached the progress deadline
// without MinRequests requests: no data is neither a pass nor a failure,
// so it pauses for a person (promote goes on, abort rolls back, resume
// watches again), or goes on as if it passed when the user chose
// onNoTraffic: complete. It never rolls back: the new version did nothing
// wrong that anyone saw.
func (b machine) noTraffic(limit, planned time.Duration) Decision {
	t, p := b.obs.Traffic, b.r.Params
	why := fmt.Sprintf("no traffic came: %s served %d/%d requests (minRequests) in %s for %s (progressDeadline %s past the planned %s)",
		b.r.To.Label, t.Requests, p.MinRequests, b.r.Phase, b.now.Sub(b.r.PhaseSince).Round(time.Second), limit, planned)
	if !p.CompleteOnNoTraffic {
		d := b.hold(why+"; paused: promote to go on without the data, abort to roll back, resume to watch again", true)
		d.Numbers = b.trafficNumbers()
		return d
	}
	why += "; onNoTraffic complete"
	if b.r.Phase == PhasePreview {
		return b.previewPassed(why)
	}
	d := b.to(PhaseCompleted, fmt.Sprintf("%s: %s is stable, %s stays warm for %s",
		why, b.r.To.Label, b.r.From.Label, p.ScaleDownDelay), b.newOnly())
	d.Numbers = b.trafficNumbers()
	return d
}
