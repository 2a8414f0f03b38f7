// Package haproxy is the Router adapter for an HAProxy the user runs
// (2.4 or later; tested with 2.6).
package haproxy
