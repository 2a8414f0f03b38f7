package spec

// PrometheusConfig is the Prometheus server that analysis templates with
// queries read (internal/metrics/prometheus).
type PrometheusConfig struct{}
