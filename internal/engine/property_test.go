package engine

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

// The engine's properties, over random sequences of observations and
// commands for every strategy (deterministic seeds under go test; the
// fuzz target explores further with go test -fuzz=FuzzEngine):
//   - no user traffic reaches the new version before its smoke tests passed;
//   - the weights always sum to 100 (or are empty: a first version not routed yet);
//   - a terminal phase is absorbing;
//   - every decision has a reason, and every rejection says why.

// source draws the choices of one sequence.
type source interface{ IntN(n int) int }

// bytesSource draws from a fuzzer's bytes, then zeros.
type bytesSource struct{ b []byte }

func (s *bytesSource) IntN(n int) int {
	if len(s.b) < 2 {
		return 0
	}
	v := int(binary.LittleEndian.Uint16(s.b))
	s.b = s.b[2:]
	return v % n
}

// startRollout is a fresh rollout of the strategy the source picks.
func startRollout(src source) Rollout {
	deadline := func(r *Rollout) { r.Params.ProgressDeadline = time.Duration(1+src.IntN(10)) * time.Minute }
	var r Rollout
	switch src.IntN(4) {
	case 0:
		r = rollout(PhaseDeploying, stable, deadline)
	case 1:
		r = canaryRollout(PhaseDeploying, 0, stable, deadline)
	case 2:
		r = rollingRollout(PhaseDeploying, 0, 4, stable, deadline)
	default:
		r = rollout(PhaseDeploying, map[string]int{}, deadline, func(r *Rollout) { r.From.Label = "" })
	}
	r.Params.AutoPromote = src.IntN(3) > 0
	r.Params.PauseOnDeadline = src.IntN(2) == 0
	r.Params.CompleteOnNoTraffic = src.IntN(2) == 0
	r.Phase, r.Reason, r.Step = PhaseDeploying, "deploy requested", 0 // as the controller creates it
	return r
}

// randomObs is one observation of r.
func randomObs(src source, r Rollout) Observation {
	version := func() VersionObs {
		n := r.Params.Replicas
		v := VersionObs{Started: src.IntN(6) > 0}
		if !v.Started {
			return v
		}
		v.Running = n
		v.Ready = n - src.IntN(2)*src.IntN(n+1)
		v.Available = v.Ready
		if src.IntN(60) == 0 {
			v.Exited, v.Problem = 1, "web-x-0 exited: exit status 1"
		}
		if src.IntN(30) == 0 && v.Ready < n {
			v.Failing, v.Problem = 1, "web-x-1 not ready: status 503"
		}
		if src.IntN(20) == 0 {
			v = VersionObs{Unknown: "cannot list the instances: timeout"}
		}
		return v
	}
	o := Observation{New: version(), Old: version()}
	if r.Phase == PhaseSmoke || r.Phase == PhaseProgressing && src.IntN(2) == 0 {
		switch src.IntN(10) {
		case 1, 2, 3, 4, 5:
			o.Smoke = &SmokeResult{Passed: true}
		case 6:
			o.Smoke = &SmokeResult{Reason: "GET / status 500"}
		}
	}
	req := int64(src.IntN(60))
	o.Traffic = metrics.Counts{Requests: req, Errors: req * int64(src.IntN(2)) * int64(src.IntN(2)) / 10}
	if r.Strategy == StrategyCanary {
		verdicts := []string{"", VerdictPass, VerdictFail, VerdictInconclusive, VerdictError}
		o.Analysis = &AnalysisObs{Intervals: src.IntN(5), Verdict: verdicts[src.IntN(len(verdicts))], Failures: src.IntN(2),
			ConsecutiveErrors: src.IntN(2), Reason: "numbers"}
	}
	if src.IntN(12) == 0 {
		cmds := []Command{CmdPromote, CmdPromoteFull, CmdAbort, CmdRollback, CmdPause, CmdResume, CmdContract}
		o.Command = cmds[src.IntN(len(cmds))]
	}
	if src.IntN(10) == 0 {
		o.Route = "nginx -t refused the new config"
	}
	return o
}

// applyAll persists d into r as the controller does.
func applyAll(r Rollout, d Decision, now time.Time) Rollout {
	r = apply(r, d, now)
	r.Settled, r.Inconclusives, r.HeaderRoutes, r.MirrorPercent = d.Settled, d.Inconclusives, d.HeaderRoutes, d.MirrorPercent
	if d.Phase.Terminal() && r.Ended.IsZero() {
		r.Ended = now
	}
	return r
}

// checkSequence runs one random sequence and reports the first broken
// property.
func checkSequence(src source, steps int) error {
	r := startRollout(src)
	now := t0
	smokePassed := false
	var trace []string
	for i := range steps {
		obs := randomObs(src, r)
		now = now.Add(time.Duration(src.IntN(180)) * time.Second)
		d := Step(r, obs, now)
		trace = append(trace, fmt.Sprintf("%d: %s step %d %v + cmd %q smoke %v route %q unknown %q/%q → %s %v (%s) rejected %q",
			i, r.Phase, r.Step, r.Weights, obs.Command, obs.Smoke, obs.Route, obs.New.Unknown, obs.Old.Unknown, d.Phase, d.Weights, d.Reason, d.Rejected))
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%s\ntrace:\n%s", fmt.Sprintf(format, args...), joinLines(trace))
		}
		if d.Reason == "" {
			return fail("a decision without a reason")
		}
		if obs.Command != "" && d.Rejected != "" && len(d.Rejected) < len("cannot x: y") {
			return fail("a rejection that does not say why: %q", d.Rejected)
		}
		if d.Rejected != "" {
			continue // refused: nothing is persisted
		}
		if r.Phase.Terminal() && d.Phase != r.Phase {
			return fail("terminal phase %s left for %s", r.Phase, d.Phase)
		}
		if len(d.Weights) > 0 {
			sum := 0
			for _, w := range d.Weights {
				sum += w
			}
			if sum != 100 {
				return fail("weights %v sum to %d", d.Weights, sum)
			}
		}
		if r.Phase == PhaseSmoke && obs.Smoke != nil && obs.Smoke.Passed && d.Phase != PhaseSmoke && !d.Phase.Terminal() {
			smokePassed = true
		}
		if r.Phase == PhaseSmoke && obs.Smoke != nil && obs.Smoke.Passed && r.From.Label == "" {
			smokePassed = true // a first version is routed in Smoke once its tests passed
		}
		if d.Weights[r.To.Label] > 0 && !smokePassed {
			return fail("user traffic %v to %s before its smoke tests passed", d.Weights, r.To.Label)
		}
		r = applyAll(r, d, now)
	}
	return nil
}

func joinLines(lines []string) string {
	out := ""
	for _, l := range lines {
		out += "  " + l + "\n"
	}
	return out
}

// TestEngineProperties checks the properties over many random sequences.
func TestEngineProperties(t *testing.T) {
	for seed := range uint64(2000) {
		src := rand.New(rand.NewPCG(seed, 7))
		if err := checkSequence(src, 60); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}

// FuzzEngine explores sequences beyond the seeds: go test -fuzz=FuzzEngine ./internal/engine/
func FuzzEngine(f *testing.F) {
	f.Add([]byte{1, 0, 2, 0, 3, 0})
	f.Add([]byte("a rollout's life, one byte at a time, and then some more"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := checkSequence(&bytesSource{b: b}, 40); err != nil {
			t.Fatal(err)
		}
	})
}
