package engine

import (
	"slices"
	"strings"
)

// Unknown observations, for every strategy: when the platform could not
// list a version's instances (VersionObs.Unknown) the engine knows
// nothing about them — not that they stopped, not that they failed. It
// holds the rollout where it stands, split and clocks unchanged, with the
// reason saying what could not be seen, and takes no action on that
// version: a healthy version is never rolled back, nor a running one
// deployed again, on an observation that was not made. The progress
// deadline does not run out on it either. A person's abort, rollback and
// pause still apply.

// blind is the decision while a version of the rollout is unknown; ok is
// false when every version was observed or a person's retreat goes first.
func (b machine) blind() (Decision, bool) {
	why := b.unknown()
	if why == "" {
		return Decision{}, false
	}
	switch b.obs.Command {
	case CmdAbort, CmdRollback, CmdPause:
		return Decision{}, false
	}
	if b.obs.Command != "" {
		return b.reject("holding: " + why), true
	}
	return b.stay(b.phase(), b.r.Reason+holding+why+")", nil), true
}

// holding marks the part of a reason that says what could not be seen;
// the next decision that sees again drops it (seen).
const holding = " (holding: "

// seen is reason without what blind added.
func seen(reason string) string {
	if i := strings.Index(reason, holding); i >= 0 {
		return reason[:i]
	}
	return reason
}

// unknown says which of the rollout's versions could not be observed.
func (b machine) unknown() string {
	var parts []string
	for _, v := range []VersionObs{b.obs.New, b.obs.Old, b.obs.Baseline} {
		if v.Unknown != "" {
			parts = append(parts, v.Unknown)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(slices.Compact(parts), "; ")
}

// unseen drops the actions a retreat decided on versions that could not
// be observed, but their stops: a deploy or a scale of a version whose
// instances are unknown would start it twice.
func (b machine) unseen(d Decision) Decision {
	if b.unknown() == "" {
		return d
	}
	blind := map[string]bool{}
	if b.obs.New.Unknown != "" {
		blind[b.r.To.Label] = true
	}
	if b.obs.Old.Unknown != "" {
		blind[b.r.From.Label] = true
	}
	if b.obs.Baseline.Unknown != "" {
		blind[b.r.BaselineLabel()] = true
	}
	d.Actions = slices.DeleteFunc(d.Actions, func(a Action) bool { return blind[a.Version] && a.Kind != ActStop })
	d.Settled = false
	return d
}
