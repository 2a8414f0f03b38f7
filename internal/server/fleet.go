package server

import (
	"context"
	"errors"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

// fleetMetrics counts a version's requests fleet-wide, from Prometheus
// scraping every proxy (prometheus.fleet), and leaves the latency
// windows, which a query cannot give, to this serve's own proxy.
type fleetMetrics struct {
	metrics.Metrics                 // Prometheus: the fleet's counts
	local           metrics.Metrics // this serve's proxy (or the one it drives)
}

var _ metrics.Windowed = fleetMetrics{}

// Window returns the local proxy's measurements over [from, to).
func (f fleetMetrics) Window(ctx context.Context, service, version string, from, to time.Time) (metrics.Sample, error) {
	w, ok := f.local.(metrics.Windowed)
	if !ok {
		return metrics.Sample{}, errors.New("no latency windows: the local proxy keeps none")
	}
	return w.Window(ctx, service, version, from, to)
}

// fleet wraps the controller's metrics for prometheus.fleet.
func (s *Server) fleet(local metrics.Metrics) metrics.Metrics {
	p := s.cfg.Prometheus
	if p == nil || !p.Fleet || local == nil {
		return local
	}
	m, err := externalMetrics(s.cfg)
	if err != nil {
		s.log.Error("prometheus", "err", err)
		return local
	}
	return fleetMetrics{Metrics: m, local: local}
}
