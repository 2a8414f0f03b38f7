package engine

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The router's confirmation, for every strategy: a rollout never moves
// on past a traffic change the router did not confirm. Each decision's
// split is applied after it is persisted; the next observation says
// whether the router took it (Observation.Route). Until it has, a
// decision that would move the rollout on — another phase, step, batch
// or split — is held where it is with the router's answer as its reason,
// and the progress deadline ends a refusal that lasts. Retreats go
// through: a rollback, a failure, an abort and a pause do not wait.

// routeGate holds d while the router has not confirmed the current split.
func (b machine) routeGate(d Decision) Decision {
	if b.obs.Route == "" || d.Rejected != "" || retreats(d) || !b.progresses(d) && maps.Equal(d.Weights, b.r.Weights) {
		return d
	}
	why := fmt.Sprintf("the router has not applied the split %s: %s", splitString(b.r.Weights), b.obs.Route)
	if b.obs.Command != "" {
		return b.reject(why)
	}
	return b.stay(b.phase(), why, nil)
}

// retreats reports whether d gives up or holds rather than moves on.
func retreats(d Decision) bool {
	switch d.Phase {
	case PhaseRolledBack, PhaseFailed, PhaseAborted:
		return true
	case PhasePaused:
		return d.Hold != nil
	}
	return false
}

// splitString renders weights as "v1=0 v2=100", "(none)" when empty.
func splitString(w map[string]int) string {
	if len(w) == 0 {
		return "(no version)"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(w)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, w[k]))
	}
	return strings.Join(parts, " ")
}
