package prometheus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

var _ metrics.Metrics = (*Counts)(nil)

// Counts is the metrics.Metrics of an external router (NGINX, HAProxy),
// whose traffic bluejay's proxy never sees: a version's cumulative
// requests and errors are read from Prometheus with two queries (the
// spec's prometheus.counts), evaluated now. The readings are as fresh as
// the last scrape; callers take differences, as with any source.
type Counts struct {
	// Source evaluates the queries. Required.
	Source *Source
	// Requests and Errors are query templates with {{.Service}} and
	// {{.Version}} giving cumulative totals. Required.
	Requests, Errors string
}

// Counts returns the version's cumulative requests and errors. A version
// Prometheus has no series of yet has zero counts; a failed query is an
// error.
func (c *Counts) Counts(ctx context.Context, service, version string) (metrics.Counts, error) {
	var out metrics.Counts
	for _, q := range []struct {
		tmpl string
		dst  *int64
	}{{c.Requests, &out.Requests}, {c.Errors, &out.Errors}} {
		query, err := spec.RenderQuery(q.tmpl, spec.QueryData{Service: service, Version: version, Window: "1m"})
		if err != nil {
			return metrics.Counts{}, err
		}
		v, ok, err := c.Source.eval(ctx, query, time.Now())
		if err != nil {
			return metrics.Counts{}, fmt.Errorf("counting %s %s (%s): %w", service, version, query, err)
		}
		if ok {
			*q.dst = int64(math.Round(v))
		}
	}
	if out.Errors > out.Requests {
		return metrics.Counts{}, errors.New("errors query counts more than the requests query: check prometheus.counts")
	}
	return out, nil
}
