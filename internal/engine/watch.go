package engine

import (
	"fmt"

	"github.com/bluejay-deploy/bluejay/internal/analysis"
	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

// watchJudge is the sequential error-rate test with its defaults, which
// the blue-green watch applies against the old version's errors before
// the switch (analysis.Input.Before).
var watchJudge = func() *analysis.Judge {
	j, err := analysis.Compile(analysis.Metric{Name: "watch", Judge: analysis.JudgeSequential, On: analysis.OnErrorRate})
	if err != nil {
		panic(fmt.Sprintf("engine: the watch's judge: %v", err))
	}
	return j
}()

// watchAgainstBefore flips back a new version whose errors since the
// switch are conclusively worse than the old version's before it
// (Rollout.Before, recorded at the switch): with all the traffic on the
// new version nothing runs beside it to compare with, and maxErrorRate
// alone lets a version failing 4% of requests replace one failing 0.1%.
// Without a record of the old version (a first deploy, a source that
// could not count) only maxErrorRate judges.
func (b machine) watchAgainstBefore() (Decision, bool) {
	before := b.r.Before[b.r.From.Label]
	if before.Requests == 0 {
		return Decision{}, false
	}
	t := b.obs.Traffic
	res := watchJudge.Evaluate(analysis.Input{Canary: metrics.Sample{Requests: t.Requests, Errors: t.Errors},
		Before: before, MinRequests: b.r.Params.MinRequests})
	if res.Verdict != analysis.Fail {
		return Decision{}, false
	}
	return b.flipBack("watch failed against the old version before the switch: "+res.Reason, res.Numbers), true
}
