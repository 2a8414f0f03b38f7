// Package analysis judges a canary against its baseline. It is pure: a
// Judge takes both sides' measurements and returns a verdict with its
// reason and numbers, with no I/O, clock or goroutine, so the engine
// calls it and the controller acts on the answer.
//
// # Use
//
// Compile checks a Metric and compiles its condition once (the spec
// calls it at validate time); Judge.Evaluate takes an Input — both
// sides' metrics.Sample since the analysis began, their Resources and
// the template's minRequests — and returns a Result: Pass, Fail,
// Inconclusive or Error, a one-sentence reason with the numbers, and the
// numbers by name. Aggregate folds a template's results into one verdict.
// Seed is the default template.
//
// A provider metric (a web endpoint's value, a job's exit, a Prometheus
// query's) is judged on its own by a ResultJudge: CompileResult takes its
// successCondition and failureCondition over result. SpendAlpha is one
// analysis run's share of a rollout's alpha.
//
// Samples are cumulative since the analysis began, not per interval: the
// sequential test accumulates evidence, and the others judge everything
// seen so far.
//
// Conditions are expr-lang expressions over canary and baseline, each
// with errorRate (0 to 1), requests, errors, p50, p90, p99 and mean (ms),
// cpu (share of one core per instance), memory (share of host memory) and
// rssBytes (see Side), e.g.
//
//	canary.errorRate <= baseline.errorRate * 1.5 + 0.001
//
// # Never pass on no data
//
// No judge passes before the canary has minRequests requests (and at
// least one), nor before the baseline has as many when the judge compares
// with it. Below that the verdict is Inconclusive — except that the
// sequential judge fails on conclusive evidence however few requests it
// has seen: that is how a plainly broken canary is rolled back after a
// handful of failures instead of after minRequests of them.
//
// # threshold
//
// The condition on the point estimates is the verdict: true is Pass,
// false is Fail. It is a fixed-horizon rule judged at every interval, so
// noise fails it often at low counts: at 100 canary requests and a 1%
// error rate, two errors (probability 26%) break "canary.errorRate <=
// baseline.errorRate * 1.5". bench/judges measures 50% false rollbacks
// for that rule over a 5-minute analysis of two identical versions. Use
// it for resource bounds (canary.cpu < 0.9), not for comparing rates.
//
// # sequential: an anytime-valid test
//
// Events (errors, or slow requests) arrive on the canary and the baseline.
// Whatever the baseline's rate, given that x = x_c + x_b events occurred
// among n_c canary and n_b baseline requests, and that the canary's rate
// is at most (1+m) times the baseline's (H0, m the Margin), each event
// lands on the canary with probability at most
//
//	p0 = (1+m)·n_c / ((1+m)·n_c + n_b)
//
// so the unknown baseline rate drops out (Lindon, Sanden and Shirikian
// model the counts as Poisson processes, for which this conditional split
// is exactly binomial; for rare errors among many requests the binomial
// is a close approximation). Under the alternative, p has a Beta(a, b)
// mixture prior, a = b = 1. The Bayes factor of the split is
//
//	BF = [B(a+x_c, b+x_b) / B(a, b)] / [p0^x_c · (1-p0)^x_b]
//
// computed in logs with mathext.Lbeta (BayesFactor). Under H0, BF is a
// nonnegative martingale with mean 1 as events arrive, so by Ville's
// inequality
//
//	P(sup_t BF_t >= 1/α) <= α
//
// the chance that it ever reaches 1/α, however often it is looked at — at
// every interval or at every failed request — is at most α. The judge
// fails when BF >= 1/Alpha and the canary's share of the events exceeds
// p0 (x_c/x > p0): dropping rejections for a better canary only lowers
// the false-rollback rate. This is the mixture sequential probability
// ratio test (Robbins; Wald) behind the always-valid p-values of Johari et
// al., p_t = min(1, 1/max_{s<=t} BF_s).
//
// The verdict: Fail on rejection, even below minRequests; otherwise Pass
// once both sides have minRequests requests, the evidence does not favour
// a canary worse than the margin, and the condition, if any, holds on the
// point estimates; otherwise Inconclusive. Failing to reject is not proof
// of health: before this rule a canary failing 5 of 100 requests beside
// a baseline failing 19 of 1900 (5× worse, BF 3.5 < 100) passed on
// sample size alone. The Pass rule splits the Beta(1,1) prior at p0 into
// two halves of equal weight, "worse" (p > p0) and "not worse", and
// passes when their Bayes factor,
//
//	BF_worse = [P(p > p0 | x) / P(p <= p0 | x)] / [(1-p0) / p0]
//
// (the posterior odds of worse over the prior's; logWorseOdds), is at
// most 1. Without events it is 1: zero errors in minRequests requests
// pass. It is a likelihood rule, not an anytime-valid one — evidence
// that does not favour worse, not proof of health — so its false
// promotions are measured (bench/judges, step analyses of one minute):
// at 1000 rps and a 5% share it promotes 4.7% of 2× canaries (the old
// rule 68.5%), 61% of 1.5× ones (old 98.6%) and every healthy one; at 100
// rps, 60% of 2× canaries (old 97.6%), 1% of 5× ones (old 27.5%), and it
// pauses 2.8% of healthy ones. The
// condition still bounds what passes; it never fails on its own.
//
// MinRateDelta floors what an error-rate difference must be to fail:
// rejection also needs the canary's rate above the baseline's by more
// than it (default 0.1 percentage points, the seed's "+0.1%"), since 3
// errors in 50,000 requests against none in a million is a Bayes factor
// of 1,200 but no regression. Dropping rejections keeps the bound. Below
// the floor the judge passes once the canary's Clopper-Pearson upper
// bound (at 1-alpha) is within it of the baseline's rate.
//
// # A canary with all the traffic
//
// At 100% (and in any step where the baseline has no share) there is no
// baseline beside the canary: p0 is 1 and the test above can never fail,
// so a canary that broke at 100% completed. The caller passes the
// baseline measured before (Input.Before: the controller sums the stable
// version's requests and errors over the steps it had a share), and the
// judge tests the canary's own requests, one by one, against
//
//	q0 = max((1+m)·rb+, rb+ + minRateDelta)
//
// where rb+ is the baseline's Clopper-Pearson upper bound at 1-alpha:
// the one-sided mixture (Beta(1,1) on p > q0) against q0, a
// supermartingale under any canary rate at most q0, so false rollbacks
// stay under 2·alpha (alpha for the test, alpha for rb+). bench/judges:
// a canary failing every request is rolled back after 2 failures (median)
// at 100%, none of 1000 healthy ones is.
//
// # Undefined conditions
//
// A condition whose numeric term is NaN or ±Inf — canary.errorRate /
// baseline.errorRate with both rates 0, canary.p99 / baseline.p99 with
// both 0, a NaN custom value or p99 — compares false whatever the canary
// does. Each numeric sub-expression is compiled on its own (from the
// condition's AST) and evaluated first, innermost first; the first that
// is undefined makes the verdict Inconclusive, with a reason that names
// it, never Pass and never Fail.
//
// Margin sets what counts as worse. The default is 0.25: H0 tolerates a
// canary 25% worse than its baseline, so a canary at 1.25× is rolled back
// with probability at most α, while one at 2× is caught within a 5-minute
// analysis at 5% of 1000 rps (bench/judges: 99.5% of them, median 4,500
// canary requests, at 0.1% false rollbacks). It does not catch 1.5×
// regressions: 9-11% of them in five minutes (margin 0: 97%). 0.5 would
// match the seed's ×1.5 rule exactly, but then a 1.5× canary sits on H0's
// boundary and is practically never caught, and only 64% of 2× canaries
// are.
// A 100%-broken canary at 5% of the traffic is caught after 3 failed
// requests when the fail side is judged per failure.
//
// The Beta(1,1) prior puts most of its mass far from p0, which costs some
// power against small regressions; priors concentrated near p0 were tried
// in simulation and gained little at 2× while needing more failures to
// catch a broken canary, so the uniform prior stays.
//
// Latency (On: latency) runs the same test on exceedances: latencies at
// or above the pooled p99 of both reservoirs, with n_c and n_b the
// reservoir sizes. At, not only above: a canary with a fifth of its
// latencies at one timeout value makes that value the quantile, and a
// strict > counted none of them. The pooled quantile rather than the
// baseline's own p99: if both sides share one distribution, the pooled
// sample is exchangeable, so which of its values lie at or above its own
// order statistic is a uniformly random subset, ties or not, and the split of exceedances is the hypergeometric that the
// binomial above approximates. Against the baseline's p99 the baseline's
// count would be fixed at 1% by construction and all the threshold's
// noise would fall on the canary. The threshold is re-estimated at each
// look and reservoirs cap the counts, so this variant is anytime-valid
// only approximately; bench/judges measures 0.1% false rollbacks (α 1%).
//
// # mann-whitney: Kayenta's classifier
//
// Kayenta's NetflixACAJudge classifies a metric with a two-sided
// Mann-Whitney U test at confidence 0.98 and an effect size, the ratio of
// the means. With n_x canary and n_y baseline latencies, R_x the sum of
// the canary's ranks in the pooled sample (ties take their average rank)
// and t the sizes of tied groups:
//
//	U  = R_x - n_x(n_x+1)/2
//	σ² = n_x·n_y/12 · ((n+1) - Σ(t³-t)/(n(n-1)))       n = n_x + n_y
//	z  = (U - n_x·n_y/2 - sign(U - n_x·n_y/2)·½) / σ
//	p  = 2·Φ(-|z|)
//
// (MannWhitneyU; equal to R's wilcox.test(exact = FALSE, correct = TRUE)).
// The difference is significant when p < 1 - Confidence. Kayenta's
// MannWhitneyClassifier then also asks for its size: with est the
// Hodges-Lehmann shift of the canary against the baseline and [lo, hi]
// its confidence interval at Confidence (HodgesLehmann: the shifts where
// the z of canary - d against baseline crosses ±z_{1-α/2}, as R and
// Kayenta compute them), an increase fails only when
//
//	lo > Tolerance · |est|        (a decrease: hi < -Tolerance · |est|)
//
// Tolerance 0.25 is Kayenta's default; a negative Metric.Tolerance (0 in
// the spec) keeps the plain rule, significance and the sign of z. On
// lognormal samples (bench/judges, a one-minute analysis, about 3,000
// canary latencies, judged once at its end) the plain rule fails 1.1% of
// A/A canaries, 16.5% of 3% slowdowns and 42% of 5% ones; Kayenta's rule
// 0.2%, 4% and 16%, and every 20% slowdown with both. Direction increase fails when the rule says so and
// mean(canary)/mean(baseline) >= EffectSize; decrease is the mirror
// (ratio <= 1/EffectSize); either fails on both. It passes when both
// sides have minRequests requests, the test does not fail and the
// condition, if any, holds; below minRequests it is Inconclusive, never
// Fail.
//
// It is a fixed-horizon test: Kayenta runs it once at the end of an
// analysis. Checked at every interval each look is another chance of a
// false failure (bench/judges: 8.5% false rollbacks over a one-minute
// analysis of identical versions with the plain rule, 1.7% with
// Kayenta's, against 1.1% and 0.2% when judged once). An
// effect size above 1 curbs this (0% at 1.2), since noise seldom moves
// the mean ratio far; Judge.AnytimeValid tells the caller which judges'
// intermediate failures it may act on alone.
//
// # Why per-request samples
//
// Kayenta compares time series, one point per minute per side. An
// analysis of a few minutes gives a handful of points, and a rank test
// on five points a side reaches p < 0.02 only when the samples separate
// completely (p = 0.012, see the tests; one swapped pair gives 0.022), so
// short analyses are either blind or must run for many minutes. Each
// point is also a per-minute aggregate that hides the shape of the
// distribution: a slow tail on 2% of requests barely moves a per-minute
// mean. Per-request latencies (a uniform reservoir of the window) give
// hundreds of points a minute even at a 1% canary and let the test see
// the whole distribution; per-request error counts are what the binomial
// model of the sequential test describes. Requests are not perfectly
// independent (shared caches, bursts of one client), which is one reason
// the statistical judges keep a margin or an effect size.
//
// # References
//
//   - R. Johari, P. Koomen, L. Pekelis, D. Walsh. Peeking at A/B Tests:
//     Why it matters, and what to do about it. KDD 2017.
//   - M. Lindon, C. Sanden, V. Shirikian. Rapid Regression Detection in
//     Software Deployments through Sequential Testing. KDD 2022.
//   - J. Ville. Étude critique de la notion de collectif. Gauthier-Villars,
//     1939 (the maximal inequality for nonnegative supermartingales).
//   - H. Robbins. Statistical methods related to the law of the iterated
//     logarithm. Ann. Math. Statist. 41, 1970 (mixture SPRTs).
//   - Kayenta, Netflix and Google's automated canary analysis:
//     kayenta-judge, MannWhitneyClassifier and NetflixACAJudge
//     (github.com/spinnaker/kayenta).
//   - H. B. Mann, D. R. Whitney. On a test of whether one of two random
//     variables is stochastically larger than the other. Ann. Math.
//     Statist. 18, 1947.
package analysis
