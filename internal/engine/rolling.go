package engine

import "fmt"

// The rolling half of the machine replaces the old version's instances
// with new ones a batch at a time, as a Kubernetes Deployment does: at
// most Replicas+MaxSurge instances run, at least Replicas-MaxUnavailable
// are available, and a new instance counts as available once it has been
// ready for MinHealthyTime. The first batch is gated like any new
// version (readiness, smoke tests) before it takes traffic; a batch that
// loses an instance halts the rollout and, with AutoRevert, puts the old
// version back. Traffic is shared by ready instance counts.

func (b machine) rolling() Decision {
	var d Decision
	switch b.r.Phase {
	case "", PhaseDeploying, PhaseSmoke:
		d = b.firstBatch()
	case PhaseProgressing:
		d = b.batches()
	case PhasePaused:
		d = b.halted()
	case PhaseCompleted:
		d = b.completed()
	default:
		d = b.ended()
		d.Actions = append(d.Actions, b.scale(b.r.From.Label, b.replicas()))
	}
	return d
}

// rollingMissing deploys the old version when it should serve but does
// not run (after a restart of bluejay, say).
func (b machine) rollingMissing(d Decision) Decision {
	if b.oldWanted(d.Phase) && !b.obs.Old.Started && d.OldCount > 0 {
		d.Actions = append([]Action{{Kind: ActDeploy, Version: b.r.From.Label, Reason: "the old version must keep serving"}}, d.Actions...)
	}
	return d
}

func (b machine) replicas() int { return b.r.Params.Replicas }

// firstBatch starts MaxSurge new instances, out of the split, and gates
// them with readiness and the smoke tests.
func (b machine) firstBatch() Decision {
	batch := min(b.replicas(), max(1, b.r.Params.Rolling.MaxSurge))
	gate := b // the gates judge the batch as if it were the whole version
	gate.r.Params.Replicas = batch
	var d Decision
	if b.r.Phase == PhaseSmoke {
		d = gate.smoke()
	} else {
		d = gate.deploying()
	}
	d.Actions = dropKind(d.Actions, ActDeploy)
	if !b.preRolloutDone(d) && !d.Phase.Terminal() { // nothing new runs before preRollout passed
		d.NewCount, d.OldCount = 0, b.replicas()
		return d
	}
	if d.Phase.Terminal() {
		d.NewCount, d.OldCount = 0, b.replicas()
		d.Actions = append(d.Actions, b.scale(b.r.From.Label, b.replicas()))
		return d
	}
	d.NewCount, d.OldCount = batch, b.replicas()
	if d.Phase == PhaseDeploying || d.Phase == PhaseSmoke {
		d.Actions = append([]Action{b.scale(b.r.To.Label, batch)}, d.Actions...)
	}
	return d
}

// gatesPassedRolling starts the batches once the first one passed its gates.
func (b machine) gatesPassedRolling(why string) Decision {
	d := b.to(PhaseProgressing, fmt.Sprintf("%s; replacing instances %d at a time", why, b.r.Params.Rolling.MaxSurge), b.r.Weights)
	d.RestartStep = true
	return d
}

// batches moves the counts on as new instances become available.
func (b machine) batches() Decision {
	if d, ok := b.rollingCommand(); ok {
		return d
	}
	if n := b.obs.New; n.Exited > 0 || n.Failing > 0 {
		return b.halt(fmt.Sprintf("%s lost an instance: %s", b.r.To.Label, n.Problem), b.readyNumbers())
	}
	n, old := b.targets()
	if old < b.r.OldCount && b.awaits(HookPrePromotion) {
		wait := b.moveTo(n, b.r.OldCount)
		wait.Reason = b.batchReason(n, b.r.OldCount)
		return b.confirm(fmt.Sprintf("%d/%d new instances available", b.obs.New.Available, b.replicas()), wait,
			func(why string) Decision {
				d := b.moveTo(n, old)
				d.Reason = why + "; " + b.batchReason(n, old)
				return d
			})
	}
	return b.moveTo(n, old)
}

// moveTo sets the instance counts, completing once every instance is new
// and available.
func (b machine) moveTo(n, old int) Decision {
	if n == b.replicas() && b.obs.New.Available >= n && old == 0 {
		d := b.to(PhaseCompleted, fmt.Sprintf("all %d instances replaced by %s and available", n, b.r.To.Label), b.newOnly())
		d.NewCount, d.OldCount = n, 0
		return d
	}
	d := b.stay(PhaseProgressing, b.r.Reason, b.readyNumbers())
	d.Weights = b.byInstances(min(b.obs.Old.Ready, old))
	if n != b.r.NewCount || old != b.r.OldCount {
		d.Reason = b.batchReason(n, old)
		d.RestartStep = true // progress: the deadline starts again
	}
	d.NewCount, d.OldCount = n, old
	d.Actions = []Action{b.scale(b.r.To.Label, n), b.scale(b.r.From.Label, old)}
	return d
}

func (b machine) batchReason(n, old int) string {
	return fmt.Sprintf("batch: %s %d/%d instances (%d available), %s %d", b.r.To.Label, n, b.replicas(),
		b.obs.New.Available, b.r.From.Label, old)
}

// targets are the next instance counts: as many new instances as the
// surge allows beside the old ones left, and as few old ones as the
// available instances allow.
func (b machine) targets() (newCount, oldCount int) {
	p, n := b.r.Params.Rolling, b.replicas()
	newCount = max(b.r.NewCount, min(n, n+p.MaxSurge-b.r.OldCount))
	available := b.obs.New.Available + min(b.obs.Old.Ready, b.r.OldCount)
	removable := min(max(available-(n-p.MaxUnavailable), 0), b.r.OldCount)
	return newCount, b.r.OldCount - removable
}

// byInstances shares traffic by ready instances, in percent.
func (b machine) byInstances(oldReady int) map[string]int {
	total := oldReady + b.obs.New.Ready
	if total == 0 {
		return b.r.Weights
	}
	w := 100 * b.obs.New.Ready / total
	return map[string]int{b.r.From.Label: 100 - w, b.r.To.Label: w}
}

// halt reverts a failing rolling rollout, or pauses it for a person.
func (b machine) halt(why string, numbers map[string]float64) Decision {
	if b.r.Params.Rolling.AutoRevert {
		return b.revert(why+"; halted and reverted", numbers)
	}
	d := b.to(PhasePaused, why+"; halted: promote to go on, abort to revert", b.byInstances(min(b.obs.Old.Ready, b.r.OldCount)))
	d.Numbers = numbers
	return d
}

// revert puts every old instance back and takes the new ones out.
func (b machine) revert(why string, numbers map[string]float64) Decision {
	d := b.to(PhaseRolledBack, fmt.Sprintf("%s; %s back to %d instances", why, b.r.From.Label, b.replicas()), b.stableOnly())
	d.Numbers = numbers
	d.NewCount, d.OldCount = 0, b.replicas()
	d.Actions = append([]Action{b.scale(b.r.From.Label, b.replicas())}, b.stopNew(why)...)
	return d
}

// halted waits for a person after a batch failed without AutoRevert.
func (b machine) halted() Decision {
	if d, ok := b.rollingCommand(); ok {
		return d
	}
	return b.stay(PhasePaused, b.r.Reason, nil)
}

func (b machine) rollingCommand() (Decision, bool) {
	switch b.obs.Command {
	case "":
		return Decision{}, false
	case CmdAbort, CmdRollback:
		return b.revert(string(b.obs.Command)+" requested", nil), true
	case CmdPromote, CmdResume:
		if b.r.Phase == PhasePaused {
			d := b.to(PhaseProgressing, fmt.Sprintf("%sd: resuming the batches", b.obs.Command), b.r.Weights)
			d.RestartStep = true
			return d, true
		}
	}
	return b.reject(fmt.Sprintf("a rolling rollout takes abort or rollback (phase %s)", b.r.Phase)), true
}

func (b machine) scale(version string, n int) Action {
	return Action{Kind: ActScale, Version: version, Replicas: n}
}

func dropKind(as []Action, k ActionKind) []Action {
	var out []Action
	for _, a := range as {
		if a.Kind != k {
			out = append(out, a)
		}
	}
	return out
}
