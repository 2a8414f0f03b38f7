package analysis

// SpendAlpha is one run's share of a rollout's alpha when the rollout
// takes runs analysis runs: alpha/runs (Bonferroni), so that the
// probability that any run fails a canary no worse than the margin stays
// at most alpha. Alpha 0 means DefaultAlpha; runs below 1 count as 1.
func SpendAlpha(alpha float64, runs int) float64 {
	if alpha == 0 {
		alpha = DefaultAlpha
	}
	return alpha / float64(max(runs, 1))
}
