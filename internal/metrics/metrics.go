// Package metrics defines the Metrics port: what bluejay measures of each
// version while it takes traffic. The builtin adapter reads the proxy's
// own counters; Prometheus follows.
package metrics

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Metrics measures the traffic that versions of a service served.
type Metrics interface {
	// Counts returns the version's cumulative counts since the source
	// started. Callers take differences between two readings.
	Counts(ctx context.Context, service, version string) (Counts, error)
}

// Counts are cumulative request counts of one version.
type Counts struct {
	// Requests is every request that was sent to the version.
	Requests int64 `json:"requests"`
	// Errors is the requests that failed: a 5xx response, a connect
	// failure or a timeout.
	Errors int64 `json:"errors"`
	// Users and FailedUsers estimate the distinct users the version
	// served and those who saw a failure (by sticky key or client
	// address); 0 where the source cannot tell. Estimates do not subtract:
	// Sub keeps the later reading's.
	Users       int64 `json:"users,omitempty"`
	FailedUsers int64 `json:"failedUsers,omitempty"`
}

// Sub returns c minus an earlier reading. A reading from a restarted
// source (counts went down) is taken whole.
func (c Counts) Sub(earlier Counts) Counts {
	if c.Requests < earlier.Requests || c.Errors < earlier.Errors {
		return c
	}
	return Counts{Requests: c.Requests - earlier.Requests, Errors: c.Errors - earlier.Errors,
		Users: c.Users, FailedUsers: c.FailedUsers}
}

// ErrorRate is Errors/Requests, 0 with no requests.
func (c Counts) ErrorRate() float64 {
	if c.Requests == 0 {
		return 0
	}
	return float64(c.Errors) / float64(c.Requests)
}

// Windowed is the optional capability of a Metrics source that can
// measure a version over a time window: the input of analysis. Found by
// type assertion on a Metrics.
type Windowed interface {
	// Window returns the version's measurements of requests that
	// finished in [from, to).
	Window(ctx context.Context, service, version string, from, to time.Time) (Sample, error)
}

// Sample is one version's measurements over a window.
type Sample struct {
	// Requests and Errors count the window's requests and failed ones
	// (5xx, connect failures, timeouts).
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
	// P50, P90 and P99 are latency quantiles in milliseconds, and Mean
	// the mean latency; all 0 without requests.
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Mean float64 `json:"mean"`
	// Latencies is a uniform random sample (a reservoir) of the window's
	// per-request latencies in milliseconds, for rank tests.
	Latencies []float64 `json:"-"`
	// Custom are the values of a template's own queries, by name
	// (conditions read them as canary.custom.NAME); nil from the builtin
	// source.
	Custom map[string]float64 `json:"custom,omitempty"`
}

// ErrorRate is Errors/Requests, 0 with no requests.
func (s Sample) ErrorRate() float64 {
	return Counts{Requests: s.Requests, Errors: s.Errors}.ErrorRate()
}

// Querier is the optional capability of a metrics source that measures a
// version by queries an analysis template writes (PromQL for Prometheus).
type Querier interface {
	// Query evaluates queries (condition field name → query template) for
	// the version over [from, to) and returns them as a Sample: requests,
	// errors, errorRate, p50, p90, p99 and mean fill their fields, any
	// other name Custom. A query that fails is an error; one that returns
	// no data leaves its field out and is reported by a *NoDataError,
	// with the rest of the Sample filled in.
	Query(ctx context.Context, queries map[string]string, service, version string, from, to time.Time) (Sample, error)
}

// Scalar is the optional capability of a metrics source that evaluates
// one query to one number: a provider.prometheus metric's result.
type Scalar interface {
	// Scalar evaluates query at at: a scalar, or a vector of exactly one
	// series (any other result is an error). NaN is returned as is.
	Scalar(ctx context.Context, query string, at time.Time) (float64, error)
}

// NoDataError lists the queries that returned no data (an empty result or
// NaN): never a pass. Below an analysis' minimum of requests that is
// expected (the judges say Inconclusive); above it, it is an Error.
type NoDataError struct {
	Queries []string
}

func (e *NoDataError) Error() string {
	return fmt.Sprintf("no data for %s (an empty result or NaN; write `or vector(0)` where no series means zero)",
		strings.Join(e.Queries, ", "))
}
