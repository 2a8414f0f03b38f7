package engine

import "time"

// NextDeadline returns the earliest moment after now at which Step could
// decide r differently by the passing of time alone: the end of a
// readiness wait, a preview, a watch, a timed canary step, a scale-down
// delay or the progress deadline. Zero means no time-based transition is
// ahead: only a change in what is observed (readiness, traffic, a
// command, a finished action) can move r.
//
// It errs early, never late: a moment that turns out to decide nothing
// costs one step, a missed one a transition that waits for the next
// event. The controller sets its service loop's timer to it (issue 22:
// loops that are woken rather than polled).
func NextDeadline(r Rollout, now time.Time) time.Time {
	var next time.Time
	at := func(since time.Time, d time.Duration) {
		if since.IsZero() || d <= 0 {
			return
		}
		t := since.Add(d)
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	p := r.Params
	for _, d := range []time.Duration{p.ReadyTimeout, p.PreviewDuration, p.Watch, p.Watch + p.ReadyTimeout,
		p.ScaleDownDelay, p.AbortScaleDownDelay} {
		at(r.PhaseSince, d)
	}
	if p.Rolling != nil {
		at(r.PhaseSince, p.ReadyTimeout+p.Rolling.MinHealthyTime)
	}
	if r.Step < len(p.Steps) {
		at(r.StepSince, p.Steps[r.Step].Duration)
	}
	if r.Phase.Active() && r.Phase != PhasePaused {
		if limit := (machine{r: r}).deadline(); limit > 0 {
			at(r.PhaseSince, (machine{r: r, now: now}).planned()+limit)
		}
	}
	return next
}
