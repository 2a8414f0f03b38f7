// Package metrics defines the Metrics port: what bluejay measures of each
// version while it takes traffic. The builtin adapter reads the proxy's
// own counters; Prometheus follows.
package metrics

import "context"

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
}

// Sub returns c minus an earlier reading. A reading from a restarted
// source (counts went down) is taken whole.
func (c Counts) Sub(earlier Counts) Counts {
	if c.Requests < earlier.Requests || c.Errors < earlier.Errors {
		return c
	}
	return Counts{Requests: c.Requests - earlier.Requests, Errors: c.Errors - earlier.Errors}
}

// ErrorRate is Errors/Requests, 0 with no requests.
func (c Counts) ErrorRate() float64 {
	if c.Requests == 0 {
		return 0
	}
	return float64(c.Errors) / float64(c.Requests)
}
