// Command app is a small HTTP service for bluejay's demo, tests and
// benchmarks. Its flags inject faults (errors, latency, failing health,
// crashes) so that a version can be made to fail a rollout on purpose.
// See README.md for the flags.
package main
