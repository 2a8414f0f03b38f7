// Package sampleapp is the sample HTTP service of examples/app, as a
// library so that the bluejay binary can run it too (`bluejay app`, used
// by `bluejay demo` so that the demo needs nothing but the one binary).
// Its flags inject faults — errors, latency, failing health, crashes — so
// that a version can be made to fail a rollout on purpose.
package sampleapp
