package analysis_test

import (
	"fmt"

	"github.com/bluejay-deploy/bluejay/internal/analysis"
	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

// A canary at 5% of the traffic that fails every request is rolled back
// after four failures, long before minRequests.
func ExampleJudge_Evaluate() {
	j, err := analysis.Compile(analysis.Metric{
		Name:      "error-rate",
		Judge:     analysis.JudgeSequential,
		Condition: "canary.errorRate <= baseline.errorRate * 1.5 + 0.001",
	})
	if err != nil {
		panic(err)
	}
	r := j.Evaluate(analysis.Input{
		Canary:      metrics.Sample{Requests: 4, Errors: 4},
		Baseline:    metrics.Sample{Requests: 76, Errors: 1},
		MinRequests: 100,
	})
	fmt.Println(r.Reason)
	// Output:
	// error-rate: Fail: canary 4/4 errors (100.0%) vs baseline 1/76 (1.32%); sequential test Bayes factor 2.4e3 >= 1/alpha 100 (alpha 0.01, margin 25%)
}

func ExampleMannWhitneyU() {
	u, z, p := analysis.MannWhitneyU([]float64{6, 7, 8, 9, 10}, []float64{1, 2, 3, 4, 5})
	fmt.Printf("U=%.0f z=%.4f p=%.4f\n", u, z, p)
	// Output:
	// U=25 z=2.5067 p=0.0122
}

func ExampleAggregate() {
	fmt.Println(analysis.Aggregate(nil))
	fmt.Println(analysis.Aggregate([]analysis.Result{{Verdict: analysis.Pass}, {Verdict: analysis.Inconclusive}}))
	fmt.Println(analysis.Aggregate([]analysis.Result{{Verdict: analysis.Error}, {Verdict: analysis.Fail}}))
	// Output:
	// Inconclusive
	// Inconclusive
	// Fail
}
