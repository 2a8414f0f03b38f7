package engine

import (
	"fmt"
	"time"
)

// machine decides one step of a rollout. Its blue-green half: deploy the new version
// beside the old, wait until it is ready, smoke-test it, optionally
// preview it on a share of traffic, switch all traffic at once, watch it,
// and flip back to the still-warm old version on trouble.
type machine struct {
	r   Rollout
	obs Observation
	now time.Time
}

// run steps a rollout of either strategy: blue-green and canary share
// their gates (readiness, smoke tests) and their endings.
func run(r Rollout, obs Observation, now time.Time) Decision {
	if r.Strategy == StrategyRolling && r.From.Label == "" {
		r.Strategy = StrategyBlueGreen // a first version is deployed whole
	}
	r.Reason = seen(r.Reason)
	b := machine{r: r, obs: obs, now: now}
	if d, ok := b.blind(); ok {
		return d
	}
	if obs.Command == CmdContract {
		return b.complement(b.contractCommand())
	}
	d, ok := b.holdCommand()
	if !ok {
		d = b.decide()
		d = b.routeGate(d)
		d = b.progressDeadline(d)
	}
	b.endHooks(&d)
	b.contract(&d)
	return b.unseen(b.complement(d))
}

// complement adds to d the actions that keep the decided phase's
// versions running.
func (b machine) complement(d Decision) Decision {
	if b.r.Strategy == StrategyRolling {
		return b.rollingMissing(d)
	}
	d.Actions = append(b.missing(d), d.Actions...)
	if acts := b.baselineActions(d); len(acts) > 0 {
		d.Actions, d.Settled = append(d.Actions, acts...), false
	}
	return d
}

// decide is the strategy's decision for the rollout's phase.
func (b machine) decide() Decision {
	if b.r.Strategy == StrategyRolling {
		return b.rolling()
	}
	var d Decision
	switch b.r.Phase {
	case "", PhaseDeploying:
		d = b.deploying()
	case PhaseSmoke:
		d = b.smoke()
	case PhasePreview:
		d = b.preview()
	case PhasePaused:
		d = b.paused()
	case PhaseProgressing:
		d = b.progressing()
	case PhaseWatching:
		d = b.watching()
	case PhaseCompleted:
		d = b.completed()
	default:
		d = b.ended()
	}
	return d
}

// deploying waits for every instance of the new version to be ready.
func (b machine) deploying() Decision {
	if d, ok := b.command(); ok {
		return d
	}
	if d, ok := b.preRollout(); ok {
		return d
	}
	n, p := b.obs.New, b.r.Params
	switch {
	case n.Exited > 0:
		return b.fail(fmt.Sprintf("%s did not start: %s", b.r.To.Label, n.Problem), nil)
	case n.Ready >= p.Replicas:
		return b.ready()
	case b.now.Sub(b.r.PhaseSince) >= p.ReadyTimeout:
		return b.fail(fmt.Sprintf("%s not ready after %s: %d/%d instances ready%s",
			b.r.To.Label, p.ReadyTimeout, n.Ready, p.Replicas, problem(n)), b.readyNumbers())
	}
	return b.stay(PhaseDeploying, fmt.Sprintf("waiting for %s to be ready: %d/%d instances",
		b.r.To.Label, n.Ready, p.Replicas), b.readyNumbers())
}

// ready moves a ready new version to its smoke tests, or past them.
func (b machine) ready() Decision {
	if b.r.Params.Smoke {
		d := b.to(PhaseSmoke, fmt.Sprintf("%s ready (%d/%d instances); running smoke tests",
			b.r.To.Label, b.obs.New.Ready, b.r.Params.Replicas), b.stableOnly())
		d.Numbers = b.readyNumbers()
		d.Actions = []Action{{Kind: ActSmoke, Version: b.r.To.Label}}
		return d
	}
	return b.gatesPassed(fmt.Sprintf("%s ready (%d/%d instances), no smoke tests configured",
		b.r.To.Label, b.obs.New.Ready, b.r.Params.Replicas))
}

// smoke waits for the smoke tests' result.
func (b machine) smoke() Decision {
	if d, ok := b.command(); ok {
		return d
	}
	if d, ok := b.lostInstance(); ok {
		return d
	}
	s := b.obs.Smoke
	switch {
	case s == nil:
		d := b.stay(PhaseSmoke, b.r.Reason, nil)
		d.Actions = []Action{{Kind: ActSmoke, Version: b.r.To.Label}}
		return d
	case !s.Passed:
		return b.fail("smoke test failed: "+s.Reason, nil)
	}
	return b.gatesPassed(fmt.Sprintf("%s passed its smoke tests", b.r.To.Label))
}

// gatesPassed decides what follows readiness and smoke tests: the
// preview, a pause for promotion, or the switch.
func (b machine) gatesPassed(why string) Decision {
	p := b.r.Params
	switch {
	case b.r.From.Label == "":
		return b.confirm(why, b.stay(b.phase(), why, nil), func(why string) Decision {
			if b.r.Weights[b.r.To.Label] != 100 {
				// Route first, complete once the router confirmed it: a
				// refused route never reads "takes all traffic".
				d := b.stay(b.phase(), why+"; routing all traffic to "+b.r.To.Label, nil)
				d.Weights = b.newOnly()
				return d
			}
			return b.to(PhaseCompleted, why+"; first version of the service takes all traffic", b.newOnly())
		})
	case b.r.Strategy == StrategyCanary:
		return b.startSteps(why)
	case b.r.Strategy == StrategyRolling:
		return b.gatesPassedRolling(why)
	case p.PreviewWeight > 0:
		return b.to(PhasePreview, fmt.Sprintf("%s; previewing on %d%% of traffic for %s",
			why, p.PreviewWeight, p.PreviewDuration), b.split(p.PreviewWeight))
	case !p.AutoPromote:
		return b.to(PhasePaused, why+"; waiting for promote", b.stableOnly())
	}
	return b.switchOver(why)
}

// switchOver sends all traffic to the new version, once the prePromotion
// hook passed; the old one stays warm.
func (b machine) switchOver(why string) Decision {
	wait := b.stay(b.phase(), why, nil)
	if wait.Phase == PhasePaused {
		wait.Hold = nil // a person's promote: paused() goes on with the switch
	}
	return b.confirm(why, wait, func(why string) Decision {
		reason := fmt.Sprintf("%s; switched all traffic to %s, watching for %s (%s stays warm)",
			why, b.r.To.Label, b.r.Params.Watch, b.r.From.Label)
		return b.to(PhaseWatching, reason, b.split(100))
	})
}

// phase is the rollout's phase, Deploying for a rollout not yet stepped.
func (b machine) phase() Phase {
	if b.r.Phase == "" {
		return PhaseDeploying
	}
	return b.r.Phase
}

// preview judges the new version on its share of traffic.
func (b machine) preview() Decision {
	if d, ok := b.command(); ok {
		return d
	}
	if d, ok := b.judge("preview"); ok {
		return d
	}
	if b.promoting() {
		return b.switchOver("promoted")
	}
	p := b.r.Params
	if b.now.Sub(b.r.PhaseSince) < p.PreviewDuration {
		return b.stay(PhasePreview, b.r.Reason, b.trafficNumbers())
	}
	if !b.enoughTraffic() {
		return b.stay(PhasePreview, b.waitingForTraffic("preview", p.PreviewDuration), b.trafficNumbers())
	}
	return b.previewPassed(fmt.Sprintf("preview passed: %s", b.trafficSummary()))
}

// previewPassed moves on from a preview: to the switch, or to a pause
// for promote without AutoPromote.
func (b machine) previewPassed(why string) Decision {
	var d Decision
	if !b.r.Params.AutoPromote {
		d = b.to(PhasePaused, why+"; waiting for promote", b.r.Weights)
	} else {
		d = b.switchOver(why)
	}
	d.Numbers = b.trafficNumbers()
	return d
}

// paused holds the split until a person promotes or aborts.
func (b machine) paused() Decision {
	if b.r.Strategy == StrategyCanary {
		return b.canaryPaused()
	}
	if d, ok := b.command(); ok {
		return d
	}
	if b.r.Weights[b.r.To.Label] > 0 {
		if d, ok := b.judge("pause"); ok {
			return d
		}
	} else if d, ok := b.lostInstance(); ok {
		return d
	}
	if b.promoting() && b.r.Hold == nil {
		return b.switchOver("promoted")
	}
	return b.stay(PhasePaused, b.r.Reason, nil)
}

// watching judges the new version with all traffic until the window ends.
func (b machine) watching() Decision {
	if d, ok := b.command(); ok {
		return d
	}
	if d, ok := b.judge("watch"); ok {
		return d
	}
	if d, ok := b.watchAgainstBefore(); ok {
		return d
	}
	p, n := b.r.Params, b.obs.New
	elapsed := b.now.Sub(b.r.PhaseSince)
	switch {
	case elapsed < p.Watch:
		return b.stay(PhaseWatching, b.r.Reason, b.trafficNumbers())
	case n.Ready < p.Replicas && elapsed < p.Watch+p.ReadyTimeout:
		return b.stay(PhaseWatching, fmt.Sprintf("watch window over, waiting for %s to be ready: %d/%d instances",
			b.r.To.Label, n.Ready, p.Replicas), b.readyNumbers())
	case n.Ready < p.Replicas:
		return b.flipBack(fmt.Sprintf("%s not ready: %d/%d instances%s", b.r.To.Label, n.Ready, p.Replicas, problem(n)), b.readyNumbers())
	case !b.enoughTraffic():
		return b.stay(PhaseWatching, b.waitingForTraffic("watch", p.Watch), b.trafficNumbers())
	}
	d := b.to(PhaseCompleted, fmt.Sprintf("watched %s: %s; %s is stable, %s stays warm for %s",
		p.Watch, b.trafficSummary(), b.r.To.Label, b.r.From.Label, p.ScaleDownDelay), b.newOnly())
	d.Numbers = b.trafficNumbers()
	return d
}

// completed keeps the old version warm for the scale-down delay, then
// stops it. Until then a rollback is a traffic flip.
func (b machine) completed() Decision {
	if b.obs.Command == CmdRollback {
		return b.rollbackCompleted()
	}
	if b.obs.Command != "" {
		return b.reject("the rollout has completed")
	}
	d := b.stay(PhaseCompleted, b.r.Reason, nil)
	d.Weights = b.newOnly()
	switch {
	case b.r.From.Label == "" || !b.obs.Old.Started && !b.oldWarm():
		d.Settled = true
	case b.obs.Old.Started && !b.oldWarm():
		d.Actions = []Action{{Kind: ActStop, Version: b.r.From.Label,
			Reason: fmt.Sprintf("scale-down delay %s passed", b.r.Params.ScaleDownDelay)}}
	}
	return d
}

func (b machine) rollbackCompleted() Decision {
	switch {
	case b.r.From.Label == "":
		return b.reject("there is no previous version to roll back to")
	case !b.oldWarm() || b.obs.Old.Ready == 0:
		return b.reject(fmt.Sprintf("%s is no longer warm (scale-down delay %s passed); deploy it again",
			b.r.From.Label, b.r.Params.ScaleDownDelay))
	}
	return b.flipBack("rollback requested after completion", nil)
}

// ended stops the losing new version of a rollout that did not complete.
func (b machine) ended() Decision {
	if b.obs.Command != "" {
		return b.reject("the rollout has ended")
	}
	d := b.stay(b.r.Phase, b.r.Reason, nil)
	d.Weights = b.stableOnly()
	switch {
	case !b.obs.New.Started:
		d.Settled = true
	case b.now.Sub(b.r.PhaseSince) >= b.r.Params.AbortScaleDownDelay:
		d.Actions = []Action{{Kind: ActStop, Version: b.r.To.Label, Reason: "the rollout ended " + string(b.r.Phase)}}
	}
	return d
}

// command applies a person's command to an active rollout.
func (b machine) command() (Decision, bool) {
	switch b.obs.Command {
	case "":
		return Decision{}, false
	case CmdAbort, CmdRollback:
		return b.abort(), true
	case CmdPromote:
		return b.promote(), true
	case CmdResume:
		return b.reject("it waits for promote; resume continues a rollout paused by pause or by its progress deadline"), true
	}
	return b.reject(fmt.Sprintf("unknown command %q", b.obs.Command)), true
}

func (b machine) abort() Decision {
	why := fmt.Sprintf("%s requested", b.obs.Command)
	if b.trafficMoved() {
		return b.flipBack(why, nil)
	}
	d := b.to(PhaseAborted, why+fmt.Sprintf("; %s never took user traffic", b.r.To.Label), b.stableOnly())
	d.Actions = b.stopNew(why)
	return d
}

func (b machine) promote() Decision {
	phase := b.r.Phase
	if h := b.r.Hold; h != nil && phase == PhasePaused {
		phase = h.Phase // promote as in the phase it was paused in
	}
	switch phase {
	case PhasePreview, PhasePaused:
		return b.switchOver("promoted")
	case PhaseWatching:
		return b.to(PhaseCompleted, fmt.Sprintf("promoted during the watch (%s); %s is stable",
			b.trafficSummary(), b.r.To.Label), b.newOnly())
	}
	return b.reject(fmt.Sprintf("%s has not passed its gates yet (phase %s)", b.r.To.Label, b.r.Phase))
}

// judge fails a new version that lost an instance or serves too many
// errors. The error budget is MaxErrorRate of at least MinRequests
// requests, so a plainly broken version fails before MinRequests arrive
// while a single error in a handful of requests does not.
func (b machine) judge(stage string) (Decision, bool) {
	if d, ok := b.lostInstance(); ok {
		return d, true
	}
	t, p := b.obs.Traffic, b.r.Params
	budget := p.MaxErrorRate * float64(max(t.Requests, p.MinRequests))
	if float64(t.Errors) <= budget {
		return Decision{}, false
	}
	return b.flipBack(fmt.Sprintf("%s failed: %s, above maxErrorRate %.2f%%",
		stage, b.trafficSummary(), p.MaxErrorRate*100), b.trafficNumbers()), true
}

// enoughTraffic reports whether the new version served MinRequests
// requests in the current phase: below that its error rate proves
// nothing, so a preview or a watch cannot pass on it.
func (b machine) enoughTraffic() bool {
	return b.obs.Traffic.Requests >= b.r.Params.MinRequests
}

// waitingForTraffic is the reason of a preview or watch whose window is
// over without the traffic to judge it: it goes on watching until
// MinRequests arrive or the progress deadline (noTraffic) decides.
func (b machine) waitingForTraffic(stage string, window time.Duration) string {
	return fmt.Sprintf("%s window of %s over but too little traffic came to judge %s: %d/%d requests (minRequests); watching until it does",
		stage, window, b.r.To.Label, b.obs.Traffic.Requests, b.r.Params.MinRequests)
}

// lostInstance fails a new version whose instance exited or stopped
// passing readiness after it had passed.
func (b machine) lostInstance() (Decision, bool) {
	n := b.obs.New
	if n.Exited == 0 && n.Failing == 0 {
		return Decision{}, false
	}
	why := fmt.Sprintf("%s lost an instance: %s", b.r.To.Label, n.Problem)
	if b.trafficMoved() {
		return b.flipBack(why, b.readyNumbers()), true
	}
	return b.fail(why, b.readyNumbers()), true
}

// fail ends a rollout whose new version never took user traffic.
func (b machine) fail(why string, numbers map[string]float64) Decision {
	d := b.to(PhaseFailed, why, b.stableOnly())
	d.Numbers = numbers
	d.Actions = b.stopNew(why)
	return d
}

// flipBack returns all traffic to the warm old version.
func (b machine) flipBack(why string, numbers map[string]float64) Decision {
	d := b.to(PhaseRolledBack, fmt.Sprintf("%s; flipped all traffic back to %s", why, b.r.From.Label), b.stableOnly())
	d.Numbers = numbers
	d.Actions = b.stopNew(why)
	return d
}

// stopNew stops the new version at once, unless AbortScaleDownDelay
// keeps it running out of the split for a while (ended stops it then).
func (b machine) stopNew(why string) []Action {
	if b.r.Params.AbortScaleDownDelay > 0 {
		return nil
	}
	return []Action{{Kind: ActStop, Version: b.r.To.Label, Reason: why}}
}

func (b machine) reject(why string) Decision {
	d := b.stay(b.r.Phase, b.r.Reason, nil)
	cmd := string(b.obs.Command)
	if b.obs.Command == CmdPromoteFull {
		cmd = "promote --full"
	}
	d.Rejected = fmt.Sprintf("cannot %s: %s", cmd, why)
	return d
}

func (b machine) to(p Phase, reason string, weights map[string]int) Decision {
	d := Decision{Phase: p, Reason: reason, Weights: weights, Step: b.r.Step, Inconclusives: b.r.Inconclusives,
		NewCount: b.r.NewCount, OldCount: b.r.OldCount, Hooks: b.r.Hooks}
	if p == PhasePaused && b.r.Phase == PhasePaused {
		d.Hold = b.r.Hold
	}
	if p == PhaseProgressing || p == PhasePaused { // only while the canary's steps run
		d.HeaderRoutes, d.MirrorPercent = b.r.HeaderRoutes, b.r.MirrorPercent
	}
	return d
}

func (b machine) stay(p Phase, reason string, numbers map[string]float64) Decision {
	d := b.to(p, reason, b.r.Weights)
	d.Numbers = numbers
	return d
}

// missing deploys the versions that should run in the decided phase but
// do not (after a restart of bluejay, say).
func (b machine) missing(d Decision) []Action {
	var acts []Action
	if b.oldWanted(d.Phase) && !b.obs.Old.Started {
		acts = append(acts, Action{Kind: ActDeploy, Version: b.r.From.Label, Reason: "the old version must stay warm"})
	}
	if (d.Phase.Active() || d.Phase == PhaseCompleted) && !b.obs.New.Started && b.preRolloutDone(d) {
		acts = append(acts, Action{Kind: ActDeploy, Version: b.r.To.Label, Reason: "deploying " + b.r.To.Label})
	}
	return acts
}

// oldWanted reports whether the old version should run in phase p.
func (b machine) oldWanted(p Phase) bool {
	if b.r.From.Label == "" {
		return false
	}
	return p != PhaseCompleted || b.r.Phase == PhaseCompleted && b.oldWarm()
}

// oldWarm reports whether the scale-down delay is still running.
func (b machine) oldWarm() bool {
	return b.now.Sub(b.r.PhaseSince) < b.r.Params.ScaleDownDelay
}

func (b machine) trafficMoved() bool { return b.r.Weights[b.r.To.Label] > 0 }

func (b machine) stableOnly() map[string]int {
	if b.r.From.Label == "" {
		return map[string]int{}
	}
	return map[string]int{b.r.From.Label: 100}
}

func (b machine) newOnly() map[string]int { return map[string]int{b.r.To.Label: 100} }

// split gives the new version pct percent and keeps the old one in the
// route (at weight 0 when pct is 100) so that it can take traffic back.
func (b machine) split(pct int) map[string]int {
	return map[string]int{b.r.From.Label: 100 - pct, b.r.To.Label: pct}
}

func (b machine) trafficSummary() string {
	t := b.obs.Traffic
	return fmt.Sprintf("%d/%d requests failed (%.2f%%)", t.Errors, t.Requests, t.ErrorRate()*100)
}

func (b machine) trafficNumbers() map[string]float64 {
	t, p := b.obs.Traffic, b.r.Params
	return map[string]float64{
		"requests": float64(t.Requests), "errors": float64(t.Errors), "errorRate": t.ErrorRate(),
		"maxErrorRate": p.MaxErrorRate, "minRequests": float64(p.MinRequests),
	}
}

func (b machine) readyNumbers() map[string]float64 {
	n := b.obs.New
	return map[string]float64{"ready": float64(n.Ready), "replicas": float64(b.r.Params.Replicas),
		"running": float64(n.Running), "exited": float64(n.Exited), "failing": float64(n.Failing)}
}

func problem(n VersionObs) string {
	switch {
	case n.Problem != "":
		return " (" + n.Problem + ")"
	case n.Probe != "":
		return " (last probe " + n.Probe + ")"
	}
	return ""
}
