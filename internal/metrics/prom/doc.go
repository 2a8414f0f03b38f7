// Package prom exposes bluejay to Prometheus: a [Collector] over the
// builtin proxy's counters ([proxy.Proxy.Stats]) and the services'
// rollouts, and a [Handler] that serves a registry in the exposition
// format, mounted at /metrics on the admin listener.
//
// The series, all labelled by service:
//
//	bluejay_requests_total{service,version,addr,code}   counter
//	bluejay_request_duration_seconds{service,version}   histogram
//	bluejay_inflight_requests{service,version,addr}     gauge
//	bluejay_ejections_total{service,version}            counter
//	bluejay_mirror_dropped_total{service,version}       counter
//	bluejay_shield_retries_total{service,version}       counter
//	bluejay_proxy_client_errors_total{service,reason}   counter
//	bluejay_rollout_phase{service,phase}                gauge, 1 for the current phase
//	bluejay_rollout_id{service}                         gauge
//	bluejay_traffic_weight{service,version}             gauge
//
// code is the class of the answer: 1xx to 5xx from the instance, error
// for the proxy's own 502 and 504, canceled for a client that went away
// (499), grpc for a gRPC call that ended with one of its service's error
// codes in grpc-status. addr is the instance's host:port. It is not called "instance"
// because Prometheus gives every scraped series an instance label of its
// own, the scrape target, and would rename ours to exported_instance.
// bluejay_proxy_client_errors_total counts the requests that failed by a
// fault of the client's (reason malformed, truncated, timeout, too_large
// or gone; see [proxy.Proxy.ClientErrors]): they count against no
// version, so they are not in bluejay_requests_total.
//
// This package is the exposition of bluejay's own metrics. It is not a
// Metrics adapter that reads a service's metrics from a Prometheus
// server for analysis.
package prom
