package prom

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry with c and the standard go_ and process_
// collectors of the running process.
func NewRegistry(c *Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), c)
	return reg
}

// Handler serves reg's series in the Prometheus exposition formats,
// negotiated from the Accept header, gzipped when the scraper accepts it.
// A series that fails to collect is left out and logged at warn with
// slog.Default(), rather than failing the whole scrape.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{}, ErrorHandling: promhttp.ContinueOnError})
}

// slogPrinter adapts slog.Default() to promhttp.Logger.
type slogPrinter struct{}

func (slogPrinter) Println(v ...any) { slog.Warn("metrics: "+fmt.Sprint(v...), "source", "promhttp") }

var _ promhttp.Logger = slogPrinter{}
