package prom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
)

// Source is what the collector reads of a data plane: the builtin
// proxy's cumulative counts.
type Source interface {
	// Stats returns the counts of every version, as [proxy.Proxy.Stats].
	Stats() []proxy.VersionStats
}

var _ Source = (*proxy.Proxy)(nil)

// ClientErrorSource is a Source that also counts the requests that failed
// by a fault of the client's, which count against no version.
type ClientErrorSource interface {
	// ClientErrors returns them by service and reason, as
	// [proxy.Proxy.ClientErrors].
	ClientErrors() []proxy.ClientErrorStats
}

var _ ClientErrorSource = (*proxy.Proxy)(nil)

// RolloutState is where a service's rollout stands, as the collector
// reports it.
type RolloutState struct {
	// Service names the service.
	Service string
	// ID is the service's latest rollout; 0 means it has had none.
	ID int64
	// Phase is that rollout's phase; "" means none.
	Phase engine.Phase
	// Weights is the live traffic split by version label, in percent.
	Weights map[string]int
}

// Rollouts reports every service's rollout.
type Rollouts interface {
	// Snapshot returns one state per service. It is called once per
	// scrape and must be safe for concurrent use.
	Snapshot() []RolloutState
}

// RolloutsFunc adapts a function to Rollouts.
type RolloutsFunc func() []RolloutState

// Snapshot returns f().
func (f RolloutsFunc) Snapshot() []RolloutState { return f() }

var _ Rollouts = RolloutsFunc(nil)

// Collector is a [prometheus.Collector] of bluejay's series (see the
// package doc). Its zero value collects nothing. Every scrape reads the
// sources afresh; the collector keeps no state of its own.
type Collector struct {
	// Proxy gives the request counters and latencies. nil means none.
	Proxy Source
	// Rollouts gives the rollout phases and traffic weights. nil means
	// none.
	Rollouts Rollouts
	// Watch gives the restarts of the proxy's watch of the store's routes
	// (a dataplane.Follower on etcd). nil means none: no series.
	Watch Watch
}

// Watch is what the collector reads of a proxy that follows the store by
// watch.
type Watch interface {
	// WatchRestarts counts the times the watch was started again after
	// it ended.
	WatchRestarts() int64
}

var _ prometheus.Collector = (*Collector)(nil)

var (
	requestsDesc = prometheus.NewDesc("bluejay_requests_total",
		"Requests the proxy forwarded to an instance that finished, by the class of the answer: "+
			"1xx to 5xx from the instance, error for the proxy's own 502 and 504, canceled for a client that went away (499), "+
			"grpc for a gRPC call that ended with one of its service's error codes.",
		[]string{"service", "version", "addr", "code"}, nil)
	durationDesc = prometheus.NewDesc("bluejay_request_duration_seconds",
		"Time from the proxy taking a request to the instance's response headers, or to its failure; a gRPC call's to its end.",
		[]string{"service", "version"}, nil)
	inflightDesc = prometheus.NewDesc("bluejay_inflight_requests",
		"Requests forwarded to the instance's address that have not finished.",
		[]string{"service", "version", "addr"}, nil)
	ejectionsDesc = prometheus.NewDesc("bluejay_ejections_total",
		"Times outlier ejection took an instance of the version out of the split.",
		[]string{"service", "version"}, nil)
	mirrorDroppedDesc = prometheus.NewDesc("bluejay_mirror_dropped_total",
		"Mirrored copies of requests for the version dropped because the mirror queue was full.",
		[]string{"service", "version"}, nil)
	shieldRetriesDesc = prometheus.NewDesc("bluejay_shield_retries_total",
		"Requests that failed on the version and that the shield retried on stable.",
		[]string{"service", "version"}, nil)
	clientErrorsDesc = prometheus.NewDesc("bluejay_proxy_client_errors_total",
		"Requests that failed by a fault of the client's while the proxy read them (malformed framing, a truncated or stalled body, "+
			"a body over maxBodyBytes, a client gone), by reason; they count against no version.",
		[]string{"service", "reason"}, nil)
	phaseDesc = prometheus.NewDesc("bluejay_rollout_phase",
		"1 for the phase of the service's latest rollout, 0 for the other phases.",
		[]string{"service", "phase"}, nil)
	rolloutIDDesc = prometheus.NewDesc("bluejay_rollout_id",
		"ID of the service's latest rollout; 0 before its first.",
		[]string{"service"}, nil)
	watchRestartsDesc = prometheus.NewDesc("bluejay_proxy_watch_restarts_total",
		"Times the proxy started its watch of the store's routing table again after the watch ended (etcd ends it when its member loses the leader); "+
			"while it is down, route changes arrive by the 5s poll.",
		nil, nil)
	weightDesc = prometheus.NewDesc("bluejay_traffic_weight",
		"Live share of the service's new requests that goes to the version, in percent.",
		[]string{"service", "version"}, nil)
)

// phases are the values bluejay_rollout_phase reports for every service,
// so that a phase's series exists at 0 before the phase is first entered.
// A phase missing here is still reported, at 1, while it is current.
var phases = []engine.Phase{
	engine.PhaseDeploying, engine.PhaseSmoke, engine.PhasePreview, engine.PhasePaused,
	engine.PhaseProgressing, engine.PhaseWatching, engine.PhaseCompleted,
	engine.PhaseRolledBack, engine.PhaseFailed, engine.PhaseAborted,
}

// Describe sends the descriptors of every series the collector reports.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{requestsDesc, durationDesc, inflightDesc, ejectionsDesc,
		mirrorDroppedDesc, shieldRetriesDesc, clientErrorsDesc, phaseDesc, rolloutIDDesc, weightDesc, watchRestartsDesc} {
		ch <- d
	}
}

// Collect reads the sources and sends their series.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if c.Proxy != nil {
		for _, vs := range c.Proxy.Stats() {
			collectVersion(ch, vs)
		}
		if ce, ok := c.Proxy.(ClientErrorSource); ok {
			for _, e := range ce.ClientErrors() {
				send(ch, clientErrorsDesc, prometheus.CounterValue, float64(e.Count), e.Service, e.Reason)
			}
		}
	}
	if c.Rollouts != nil {
		for _, r := range c.Rollouts.Snapshot() {
			collectRollout(ch, r)
		}
	}
	if c.Watch != nil {
		send(ch, watchRestartsDesc, prometheus.CounterValue, float64(c.Watch.WatchRestarts()))
	}
}

// collectVersion sends one version's series. Every code class of every
// instance is sent, zeros too, so that a class's first request shows in
// rate() rather than starting its series.
func collectVersion(ch chan<- prometheus.Metric, vs proxy.VersionStats) {
	for _, in := range vs.Instances {
		for class, n := range in.Codes {
			send(ch, requestsDesc, prometheus.CounterValue, float64(n), vs.Service, vs.Version, in.Addr, proxy.Class(class).String())
		}
		send(ch, inflightDesc, prometheus.GaugeValue, float64(in.InFlight), vs.Service, vs.Version, in.Addr)
	}
	h := vs.Latency
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, le := range h.Bounds {
		buckets[le] = h.Counts[i]
	}
	m, err := prometheus.NewConstHistogram(durationDesc, h.Count, h.Sum, buckets, vs.Service, vs.Version)
	ch <- valid(m, durationDesc, err)
	send(ch, ejectionsDesc, prometheus.CounterValue, float64(vs.Ejections), vs.Service, vs.Version)
	send(ch, mirrorDroppedDesc, prometheus.CounterValue, float64(vs.MirrorDrops), vs.Service, vs.Version)
	send(ch, shieldRetriesDesc, prometheus.CounterValue, float64(vs.ShieldRetries), vs.Service, vs.Version)
}

// collectRollout sends one service's rollout series.
func collectRollout(ch chan<- prometheus.Metric, r RolloutState) {
	known := false
	for _, p := range phases {
		v := 0.0
		if p == r.Phase {
			v, known = 1, true
		}
		send(ch, phaseDesc, prometheus.GaugeValue, v, r.Service, string(p))
	}
	if !known && r.Phase != "" {
		send(ch, phaseDesc, prometheus.GaugeValue, 1, r.Service, string(r.Phase))
	}
	send(ch, rolloutIDDesc, prometheus.GaugeValue, float64(r.ID), r.Service)
	for version, w := range r.Weights {
		send(ch, weightDesc, prometheus.GaugeValue, float64(w), r.Service, version)
	}
}

// send sends one sample. A label value that is not valid UTF-8 makes it
// an invalid metric, which fails that series and not the whole process:
// the Must constructors would panic in the registry's collecting
// goroutine, where nothing recovers.
func send(ch chan<- prometheus.Metric, desc *prometheus.Desc, typ prometheus.ValueType, v float64, labels ...string) {
	m, err := prometheus.NewConstMetric(desc, typ, v, labels...)
	ch <- valid(m, desc, err)
}

func valid(m prometheus.Metric, desc *prometheus.Desc, err error) prometheus.Metric {
	if err != nil {
		return prometheus.NewInvalidMetric(desc, err)
	}
	return m
}
