package engine

import (
	"maps"
	"reflect"
	"slices"

	"github.com/bluejay-deploy/bluejay/internal/platform"
)

// Equal reports whether r and o are the same rollout state: what the
// controller compares to know whether a decision changed anything to
// persist. Times compare as instants, maps by content (nil and empty are
// equal). Every field counts (TestRolloutEqualSeesEveryField fails when a
// new one is left out).
func (r Rollout) Equal(o Rollout) bool {
	return r.ID == o.ID && r.Service == o.Service && r.Strategy == o.Strategy &&
		versionEqual(r.From, o.From) && versionEqual(r.To, o.To) && reflect.DeepEqual(r.Params, o.Params) &&
		r.Phase == o.Phase && r.Reason == o.Reason && maps.Equal(r.Weights, o.Weights) && r.Exposure == o.Exposure &&
		r.Started.Equal(o.Started) && r.PhaseSince.Equal(o.PhaseSince) && r.Ended.Equal(o.Ended) && r.Settled == o.Settled &&
		r.Step == o.Step && r.StepSince.Equal(o.StepSince) && maps.Equal(r.StepCounts, o.StepCounts) && maps.Equal(r.Before, o.Before) &&
		r.StepVerdicts == o.StepVerdicts && r.BackgroundVerdicts == o.BackgroundVerdicts && r.Inconclusives == o.Inconclusives &&
		slices.Equal(r.HeaderRoutes, o.HeaderRoutes) && r.MirrorPercent == o.MirrorPercent &&
		r.NewCount == o.NewCount && r.OldCount == o.OldCount && maps.Equal(r.Hooks, o.Hooks) && holdEqual(r.Hold, o.Hold)
}

func versionEqual(a, b platform.Version) bool {
	return a.Service == b.Service && a.Label == b.Label && a.Build == b.Build && slices.Equal(a.Args, b.Args) &&
		slices.Equal(a.Targets, b.Targets) && a.Replicas == b.Replicas
}

func holdEqual(a, b *Hold) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Phase == b.Phase && a.Reason == b.Reason && a.Since.Equal(b.Since) && a.PhaseSince.Equal(b.PhaseSince) &&
		a.StepSince.Equal(b.StepSince)
}
