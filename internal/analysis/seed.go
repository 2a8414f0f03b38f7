package analysis

// SeedMinRequests is the minRequests of the Seed template.
const SeedMinRequests = 100

// Seed returns the default template's metrics: the seed's rules (error
// rate above baseline × 1.5, p99 above baseline × 1.2, CPU or memory above
// 90%) with judges that know when they have too little data. Use it with
// SeedMinRequests (100) canary requests before any Pass.
//
//   - error-rate: sequential on errors, margin 25% (DefaultMargin) and
//     minRateDelta 0.1 points, so a broken canary fails after a handful
//     of failures and a healthy one is rolled back by noise with
//     probability at most 1%; it passes when the evidence does not favour
//     a canary worse than the margin and the point estimates meet the
//     seed's rule (×1.5 with 0.1 points of slack). A 1.5× canary sits
//     between the two: seldom failed, often paused.
//   - latency: Kayenta's Mann-Whitney on per-request latencies; fails on
//     a significant increase whose Hodges-Lehmann interval clears 25% of
//     the shift (Kayenta's rule) and is at least 20% of the mean.
//   - latency-p99: sequential on latencies at or above the pooled p99, the
//     tail a rank test can miss; passes once the canary's p99 is within
//     the seed's ×1.2 (plus 5 ms for timer noise).
//   - cpu, memory: thresholds on the canary's own use.
func Seed() []Metric {
	return []Metric{
		{Name: "error-rate", Judge: JudgeSequential, On: OnErrorRate,
			Condition: "canary.errorRate <= baseline.errorRate * 1.5 + 0.001"},
		{Name: "latency", Judge: JudgeMannWhitney, On: OnLatency,
			Direction: DirectionIncrease, EffectSize: 1.2},
		{Name: "latency-p99", Judge: JudgeSequential, On: OnLatency,
			Condition: "canary.p99 <= baseline.p99 * 1.2 + 5"},
		{Name: "cpu", Judge: JudgeThreshold, Condition: "canary.cpu < 0.9"},
		{Name: "memory", Judge: JudgeThreshold, Condition: "canary.memory < 0.9"},
	}
}
