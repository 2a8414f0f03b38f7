// Package loadgen sends synthetic load to the canary's and the baseline's
// instances during an analysis, and measures it.
//
// # Why synthetic load
//
// Analysis never passes on too little data: a judge stays Inconclusive
// until both sides have served minRequests requests (see package
// analysis). A service that takes a few requests a minute, with the
// canary getting a few percent of them, may never get there, and the
// rollout waits until its analysis times out. Flagger meets the same
// problem with rollout webhooks that start a load test (its
// flagger-loadtester runs hey against the canary) for workloads without
// steady traffic; Spinnaker's canary guidance (Kayenta) likewise asks for
// enough traffic per interval and for a baseline deployed alongside the
// canary, so that the two are compared under the same conditions. An
// analysis template asks for it with `load: {rps: 50, path: /}`.
//
// # How it stays safe and fair
//
// Synthetic requests go to the instances' addresses directly, never
// through bluejay's proxy (nor through an HTTP proxy from the
// environment): no user request is displaced or delayed by them, and the
// proxy's own counts stay those of real users. Each request carries
// X-Bluejay-Synthetic: 1 so an application can leave it out of its
// business metrics or skip side effects.
//
// The rate is split evenly between the targets, so the canary and the
// baseline get the same synthetic load and the comparison stays like for
// like. (It is split per version, not per instance: a version with more
// instances spreads its share over them, round-robin.) The generator
// measures what it sends itself — requests, errors and latency to the
// response headers, as the proxy does — and Merge folds its Sample into
// the proxy's, so the judges see both.
//
// # Pacing and bounds
//
// A ticker paces the sends on the real clock at RPS in total; a loop that
// stalls (a loaded machine, a GC pause) catches up on at most half a
// second of sends rather than bursting. Each send runs in its own
// goroutine, and each target allows at most MaxInFlight (by default
// 2 × its rate × Timeout) in flight: a send beyond that is dropped and
// counted (Dropped) rather than piling up goroutines on an instance that
// stopped answering. Every request ends by its Timeout or when Run's
// context is done, and Run returns only once all have.
//
// # Memory
//
// Each version's measurements are kept, since the first request, in time
// buckets of one second, each with an HDR histogram (latencies within 1%)
// and a uniform reservoir of up to 2048 latencies. A version keeps at most
// 64 buckets: when a 65th would be needed, neighbouring buckets are merged
// pairwise and the width doubles (2s, 4s, ...), so memory stays under
// about 2.3 MiB per version however long the run, and the window that
// analysis asks for, everything since it began, loses nothing. A window
// whose ends fall inside a bucket counts that whole bucket; the
// granularity is one second for the first minute of a run, 16 seconds
// after ten minutes.
package loadgen
