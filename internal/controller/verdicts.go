package controller

import "github.com/bluejay-deploy/bluejay/internal/engine"

// An analysis' verdict counts (failureLimit's Failures, the Error streak
// of consecutiveErrorLimit) are persisted with the step, like its
// counters (Rollout.StepCounts): a controller that restarts mid-step
// carries them on instead of starting again from none (the bug: a canary
// one Fail from its failureLimit got a fresh allowance after a crash).

// verdicts are the current step's analyses' counts, for the rollout: the
// runs' while they judge its step, else those persisted (an ended
// rollout keeps the counts it ended on).
func (l *loop) verdicts() (step, background engine.VerdictCounts) {
	return l.stepRun.counts(l.r, l.r.StepVerdicts), l.bgRun.counts(l.r, l.r.BackgroundVerdicts)
}

// counts are the run's verdict counts if it judges r's current step, else
// persisted.
func (run *analysisRun) counts(r engine.Rollout, persisted engine.VerdictCounts) engine.VerdictCounts {
	if run == nil || run.key.rollout != r.ID || run.key.step != r.Step || !run.key.stepSince.Equal(r.StepSince) {
		return persisted
	}
	o := run.obs
	return engine.VerdictCounts{Intervals: o.Intervals, Failures: o.Failures, ConsecutiveErrors: o.ConsecutiveErrors}
}

// resumeCounts starts a new run's counts from those persisted with its
// step, once.
func (run *analysisRun) resumeCounts(c engine.VerdictCounts) {
	if run == nil || run.resumed {
		return
	}
	run.resumed = true
	run.obs.Intervals, run.obs.Failures, run.obs.ConsecutiveErrors = c.Intervals, c.Failures, c.ConsecutiveErrors
}
