// Package prometheus is the Metrics source that reads a Prometheus
// server: an analysis template's queries (PromQL templates with
// {{.Service}}, {{.Version}} and {{.Window}}) are rendered for the canary
// and the baseline and evaluated through the HTTP API (client_golang's
// api/prometheus/v1), so that the same conditions and judges that read
// the builtin proxy's measurements read the metrics store users trust.
//
// Nothing here passes on missing data: a failed query is an error, and a
// query that returns nothing (an empty vector, or NaN such as 0/0 or a
// quantile of no observations) is left out and reported by a
// *metrics.NoDataError. The controller makes that an Error verdict unless
// the canary is still below the template's minRequests, where the judges
// say Inconclusive anyway.
package prometheus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

var _ metrics.Querier = (*Source)(nil)

// Source evaluates analysis queries against one Prometheus server. It is
// safe for concurrent use.
type Source struct {
	api     promv1.API
	timeout time.Duration
}

// New returns a Source for the server at address (http://host:port).
// timeout bounds each query; 0 means 10s.
func New(address string, timeout time.Duration) (*Source, error) {
	c, err := promapi.NewClient(promapi.Config{Address: address})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %s: %w", address, err)
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Source{api: promv1.NewAPI(c), timeout: timeout}, nil
}

// Query renders each query for the version and the window [from, to),
// evaluates it at to, and fills a Sample (see metrics.Querier). A given
// errorRate query fills Errors as errorRate × requests when there is no
// errors query.
func (s *Source) Query(ctx context.Context, queries map[string]string, service, version string, from, to time.Time) (metrics.Sample, error) {
	data := spec.QueryData{Service: service, Version: version, Window: spec.PromWindow(to.Sub(from))}
	var out metrics.Sample
	var missing []string
	values := map[string]float64{}
	for _, name := range slices.Sorted(keys(queries)) {
		q, err := spec.RenderQuery(queries[name], data)
		if err != nil {
			return metrics.Sample{}, fmt.Errorf("query %s: %w", name, err)
		}
		v, ok, err := s.eval(ctx, q, to)
		if err != nil {
			return metrics.Sample{}, fmt.Errorf("query %s (%s): %w", name, q, err)
		}
		if !ok {
			if name == "requests" {
				v, ok = 0, true // no series yet: no requests, so nothing can pass
			} else {
				missing = append(missing, name)
				continue
			}
		}
		values[name] = v
	}
	for name, v := range values {
		switch name {
		case "requests":
			out.Requests = int64(math.Round(v))
		case "errors":
			out.Errors = int64(math.Round(v))
		case "p50":
			out.P50 = v
		case "p90":
			out.P90 = v
		case "p99":
			out.P99 = v
		case "mean":
			out.Mean = v
		case "errorRate":
		default:
			if out.Custom == nil {
				out.Custom = map[string]float64{}
			}
			out.Custom[name] = v
		}
	}
	if rate, ok := values["errorRate"]; ok {
		if _, has := queries["errors"]; !has {
			out.Errors = int64(math.Round(rate * float64(out.Requests)))
		}
	}
	if len(missing) > 0 {
		return out, &metrics.NoDataError{Queries: missing}
	}
	return out, nil
}

// eval runs one instant query and returns its single value; ok is false
// when there is none (an empty vector or NaN). A vector of more than one
// series is an error: the query must aggregate (sum, histogram_quantile).
func (s *Source) eval(ctx context.Context, q string, at time.Time) (v float64, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	val, _, _, err := s.api.Query(ctx, q, at)
	if err != nil {
		var perr *promv1.Error
		if errors.As(err, &perr) {
			return 0, false, fmt.Errorf("%s: %s", perr.Type, perr.Msg)
		}
		return 0, false, err
	}
	switch val := val.(type) {
	case model.Vector:
		switch len(val) {
		case 0:
			return 0, false, nil
		case 1:
			v = float64(val[0].Value)
		default:
			return 0, false, fmt.Errorf("%d series, want one: aggregate it, e.g. sum(...)", len(val))
		}
	case *model.Scalar:
		v = float64(val.Value)
	default:
		return 0, false, fmt.Errorf("a %s result, want an instant vector or a scalar", val.Type())
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false, nil
	}
	return v, true, nil
}

func keys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

var _ metrics.Scalar = (*Source)(nil)

// Scalar evaluates a provider.prometheus query at at: a scalar, or an
// instant vector of exactly one series. NaN (0/0, a quantile of nothing)
// is returned as NaN, for the judge to call undefined; no series is an
// error, never a pass.
func (s *Source) Scalar(ctx context.Context, query string, at time.Time) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	val, _, _, err := s.api.Query(ctx, query, at)
	if err != nil {
		var perr *promv1.Error
		if errors.As(err, &perr) {
			return 0, fmt.Errorf("query %s: %s: %s", query, perr.Type, perr.Msg)
		}
		return 0, fmt.Errorf("query %s: %w", query, err)
	}
	switch val := val.(type) {
	case model.Vector:
		if len(val) != 1 {
			return 0, fmt.Errorf("query %s: %d series, want one (aggregate it, e.g. sum(...), or add `or vector(0)` where none means 0)", query, len(val))
		}
		return float64(val[0].Value), nil
	case *model.Scalar:
		return float64(val.Value), nil
	}
	return 0, fmt.Errorf("query %s: a %s result, want a scalar or an instant vector of one series", query, val.Type())
}
