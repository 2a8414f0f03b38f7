package dataplane

import (
	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// Paths of the control API.
const (
	pathRoutes = "/v1/dataplane/routes"
	pathReload = "/v1/dataplane/reload"
	pathCounts = "/v1/dataplane/counts"
	pathWindow = "/v1/dataplane/window"
	pathDrain  = "/v1/dataplane/drain"
	pathErrors = "/v1/dataplane/errors"
)

// sample is metrics.Sample on the wire: Sample leaves its latencies out
// of JSON, which the judges' rank tests need.
type sample struct {
	metrics.Sample
	Latencies []float64 `json:"latencies,omitempty"`
}

// drainRequest asks the proxy to wait until no request is in flight to
// the addresses.
type drainRequest struct {
	Addrs []string `json:"addrs"`
}

// routes is the answer of routes and reload: the table the proxy applies.
type routes struct {
	Routes []router.Route `json:"routes"`
}
