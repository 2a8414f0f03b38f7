package engine

import (
	"fmt"
	"slices"
	"strings"
)

// The canary half of the machine: after the shared gates (readiness and
// smoke tests), the canary goes through its steps — setWeight, pause,
// analysis, checks — guarded at every step by a lost instance or a
// failing background analysis, either of which sets its weight to 0 in
// the same decision.

// startSteps begins the canary's steps once its gates passed.
func (b machine) startSteps(why string) Decision {
	return b.enter(0, why, b.r.Weights)
}

// progressing runs the current step.
func (b machine) progressing() Decision {
	if d, ok := b.canaryCommand(); ok {
		return d
	}
	if d, ok := b.guard(); ok {
		return d
	}
	steps := b.r.Params.Steps
	if b.r.Step >= len(steps) {
		return b.complete("all steps done")
	}
	s := steps[b.r.Step]
	switch s.Kind {
	case StepSetWeight:
		set := func(why string) Decision { return b.enter(b.r.Step+1, why, b.canarySplit(s.Weight)) }
		why := fmt.Sprintf("%s now takes %d%% of traffic", b.r.To.Label, s.Weight)
		if s.Weight < 100 {
			return set(why)
		}
		wait := b.stay(PhaseProgressing, fmt.Sprintf("%s: %s", b.stepName(b.r.Step), s), nil)
		return b.confirm(why, wait, set)
	case StepPause:
		return b.pauseStep(s)
	case StepAnalysis:
		return b.analysisStep(s)
	case StepChecks:
		return b.checksStep()
	case StepSetMirrorRoute:
		d := b.enter(b.r.Step+1, fmt.Sprintf("%d%% of requests are now copied to %s", s.MirrorPercent, b.r.To.Label), b.r.Weights)
		if d.Phase == PhaseProgressing || d.Phase == PhasePaused {
			d.MirrorPercent = s.MirrorPercent
		}
		return d
	case StepSetHeaderRoute:
		d := b.enter(b.r.Step+1, fmt.Sprintf("requests with %s now go to %s", s.Route, b.r.To.Label), b.r.Weights)
		if d.Phase == PhaseProgressing || d.Phase == PhasePaused {
			d.HeaderRoutes = append(slices.Clone(b.r.HeaderRoutes), *s.Route)
		}
		return d
	}
	return b.rollback(fmt.Sprintf("unknown step kind %q", s.Kind), nil)
}

// enter makes step i the one under way, completing after the last.
func (b machine) enter(i int, why string, weights map[string]int) Decision {
	steps := b.r.Params.Steps
	if i >= len(steps) {
		return b.complete(why)
	}
	d := b.to(PhaseProgressing, fmt.Sprintf("%s; %s: %s", why, b.stepName(i), steps[i]), weights)
	d.Step = i
	d.RestartStep = true
	return d
}

func (b machine) stepName(i int) string {
	return fmt.Sprintf("step %d/%d", i+1, len(b.r.Params.Steps))
}

// complete sends all traffic to the canary, once the prePromotion hook
// passed (it waits after the last step); the old version stays warm.
func (b machine) complete(why string) Decision {
	wait := b.to(PhaseProgressing, why, b.r.Weights)
	wait.Step = len(b.r.Params.Steps)
	return b.confirm(why, wait, func(why string) Decision {
		d := b.to(PhaseCompleted, fmt.Sprintf("%s; %s is stable, %s stays warm for %s",
			why, b.r.To.Label, b.r.From.Label, b.r.Params.ScaleDownDelay), b.newOnly())
		d.Step = len(b.r.Params.Steps)
		return d
	})
}

func (b machine) pauseStep(s CanaryStep) Decision {
	if s.Duration == 0 {
		d := b.to(PhasePaused, fmt.Sprintf("%s: paused at %d%% until promote", b.stepName(b.r.Step), b.r.Weights[b.r.To.Label]), b.r.Weights)
		return d
	}
	if b.now.Sub(b.r.StepSince) >= s.Duration {
		return b.enter(b.r.Step+1, fmt.Sprintf("paused %s", s.Duration), b.r.Weights)
	}
	return b.stay(PhaseProgressing, b.r.Reason, nil)
}

func (b machine) checksStep() Decision {
	s := b.obs.Smoke
	switch {
	case s == nil:
		d := b.stay(PhaseProgressing, b.r.Reason, nil)
		d.Actions = []Action{{Kind: ActSmoke, Version: b.r.To.Label}}
		return d
	case !s.Passed:
		return b.rollback("checks failed: "+s.Reason, nil)
	}
	return b.enter(b.r.Step+1, "checks passed", b.r.Weights)
}

// analysisStep applies an analysis template's limits to its verdicts.
func (b machine) analysisStep(s CanaryStep) Decision {
	a, lim := b.obs.Analysis, s.Analysis
	if d, ok := b.overLimits(a, lim, "analysis "+lim.Template); ok {
		return d
	}
	elapsed := b.now.Sub(b.r.StepSince)
	ended := a != nil && a.Intervals > 0 &&
		(s.Duration == 0 && a.Verdict == VerdictPass || s.Duration > 0 && elapsed >= s.Duration)
	if !ended {
		d := b.stay(PhaseProgressing, b.analysisProgress(s, a), nil)
		if a != nil {
			d.Numbers = a.Numbers
		}
		return d
	}
	if a.Verdict == VerdictPass {
		d := b.enter(b.r.Step+1, fmt.Sprintf("analysis %s passed: %s", lim.Template, a.Reason), b.r.Weights)
		d.Numbers = a.Numbers
		return d
	}
	return b.inconclusive(a, lim)
}

// overLimits rolls back an analysis past its failure or error limit.
func (b machine) overLimits(a *AnalysisObs, lim *AnalysisLimits, what string) (Decision, bool) {
	switch {
	case a == nil:
	case a.Failures > lim.FailureLimit:
		return b.rollback(fmt.Sprintf("%s failed (%d failures, limit %d): %s", what, a.Failures, lim.FailureLimit, a.Reason), a.Numbers), true
	case a.ConsecutiveErrors > lim.ConsecutiveErrorLimit:
		return b.rollback(fmt.Sprintf("%s could not measure (%d errors in a row, limit %d): %s",
			what, a.ConsecutiveErrors, lim.ConsecutiveErrorLimit, a.Reason), a.Numbers), true
	}
	return Decision{}, false
}

// inconclusive handles an analysis that ended without a Pass: it runs
// again until the limit, then pauses for a person (or aborts).
func (b machine) inconclusive(a *AnalysisObs, lim *AnalysisLimits) Decision {
	n := b.r.Inconclusives + 1
	why := fmt.Sprintf("analysis %s ended %s (%d of limit %d): %s", lim.Template, a.Verdict, n, lim.InconclusiveLimit, a.Reason)
	var d Decision
	switch {
	case n <= lim.InconclusiveLimit:
		d = b.stay(PhaseProgressing, why+"; running it again", a.Numbers)
		d.RestartStep = true
	case lim.AbortOnInconclusive:
		d = b.rollback(why, a.Numbers)
	default:
		d = b.to(PhasePaused, "waiting for promote or abort (never promoting on too little data): "+why, b.r.Weights)
		d.Numbers = a.Numbers
	}
	d.Inconclusives = n
	return d
}

func (b machine) analysisProgress(s CanaryStep, a *AnalysisObs) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s: analysis %s", b.stepName(b.r.Step), s.Analysis.Template)
	if s.Duration > 0 {
		fmt.Fprintf(&sb, " %s of %s", b.now.Sub(b.r.StepSince).Round(100_000_000), s.Duration)
	}
	if a == nil || a.Verdict == "" {
		return sb.String() + ": measuring"
	}
	return fmt.Sprintf("%s: %s: %s", sb.String(), a.Verdict, a.Reason)
}

// guard rolls a canary back when an instance is lost or the background
// analysis fails, whatever the step.
func (b machine) guard() (Decision, bool) {
	if d, ok := b.lostInstance(); ok {
		return d, true
	}
	if lim := b.r.Params.Background; lim != nil {
		return b.overLimits(b.obs.Background, lim, "background analysis "+lim.Template)
	}
	return Decision{}, false
}

// canaryPaused waits for promote or abort, still guarded.
func (b machine) canaryPaused() Decision {
	if d, ok := b.canaryCommand(); ok {
		return d
	}
	if d, ok := b.guard(); ok {
		return d
	}
	return b.stay(PhasePaused, b.r.Reason, nil)
}

// canaryCommand applies promote, promote --full, abort and rollback to
// a canary under way.
func (b machine) canaryCommand() (Decision, bool) {
	switch b.obs.Command {
	case CmdPromote:
		return b.enter(b.r.Step+1, fmt.Sprintf("promoted past %s (%s)", b.stepName(b.r.Step), b.currentStep()), b.r.Weights), true
	case CmdPromoteFull:
		return b.complete(fmt.Sprintf("promoted fully at %s", b.stepName(b.r.Step))), true
	case CmdResume: // paused by the engine: run the step again
		if b.r.Step < len(b.r.Params.Steps) && b.r.Params.Steps[b.r.Step].Kind == StepPause {
			return b.reject(fmt.Sprintf("%s is a pause: promote goes past it", b.stepName(b.r.Step))), true
		}
		d := b.to(PhaseProgressing, fmt.Sprintf("resumed: %s again: %s", b.stepName(b.r.Step), b.currentStep()), b.r.Weights)
		d.RestartStep = true
		return d, true
	}
	return b.command()
}

func (b machine) currentStep() string {
	if b.r.Step < len(b.r.Params.Steps) {
		return b.r.Params.Steps[b.r.Step].String()
	}
	return "done"
}

// canarySplit gives the canary pct percent and, with a dedicated
// baseline, the baseline as much (up to what the stable version has).
func (b machine) canarySplit(pct int) map[string]int {
	base := b.r.BaselineLabel()
	if base == "" || pct >= 100 {
		return b.split(pct)
	}
	bw := min(pct, 100-pct)
	return map[string]int{b.r.From.Label: 100 - pct - bw, base: bw, b.r.To.Label: pct}
}

// baselineActions keeps a dedicated baseline running while the canary
// goes through its steps and stops it once they are over.
func (b machine) baselineActions(d Decision) []Action {
	base := b.r.BaselineLabel()
	if base == "" {
		return nil
	}
	inSteps := d.Phase == PhaseProgressing || d.Phase == PhasePaused
	switch {
	case inSteps && !b.obs.Baseline.Started:
		return []Action{{Kind: ActDeploy, Version: base, Reason: "the canary's dedicated baseline"}}
	case !inSteps && b.obs.Baseline.Started:
		return []Action{{Kind: ActStop, Version: base, Reason: "the canary's steps are over"}}
	}
	return nil
}

// rollback sets the canary's weight to 0 in this very decision.
func (b machine) rollback(why string, numbers map[string]float64) Decision {
	if b.trafficMoved() {
		return b.flipBack(why, numbers)
	}
	return b.fail(why, numbers)
}

// Verdicts the analysis runner reports.
const (
	VerdictPass         = "Pass"
	VerdictFail         = "Fail"
	VerdictInconclusive = "Inconclusive"
	VerdictError        = "Error"
)
