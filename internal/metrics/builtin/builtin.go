// Package builtin is the Metrics adapter that reads the counts and
// latency windows of bluejay's own proxy (internal/proxy).
package builtin

import (
	"context"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
)

var (
	_ metrics.Metrics  = (*Metrics)(nil)
	_ metrics.Windowed = (*Metrics)(nil)
)

// Metrics measures versions by the requests the builtin proxy forwarded to
// them.
type Metrics struct {
	// Proxy is the proxy whose counters are read. It must not be nil.
	Proxy *proxy.Proxy
}

// Counts returns the version's cumulative counts since the proxy started;
// a version the proxy never saw has zero counts. Reading memory never
// fails, so ctx is not consulted and the error is always nil.
func (m *Metrics) Counts(_ context.Context, service, version string) (metrics.Counts, error) {
	return m.Proxy.Counts(service, version), nil
}

// Window returns the version's measurements of the requests that finished
// in [from, to), from the proxy's time buckets (a second by default): see
// [proxy.Proxy.Window] for the bucket granularity and how far back it
// reaches. Like Counts, it never fails and does not consult ctx.
func (m *Metrics) Window(_ context.Context, service, version string, from, to time.Time) (metrics.Sample, error) {
	return m.Proxy.Window(service, version, from, to), nil
}
