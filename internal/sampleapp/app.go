package sampleapp

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// shutdownTimeout bounds how long in-flight requests may take after SIGTERM.
const shutdownTimeout = 10 * time.Second

// options are the command-line flags.
type options struct {
	port        int
	host        string
	version     string
	errorRate   float64
	errorsAfter int64
	latency     time.Duration
	failHealth  bool
	crashAfter  time.Duration
	exitOnStart bool
	// db is the PostgreSQL URL of the profiles API (--db, or the
	// variable named by --db-env); "" serves no profiles API.
	db     string
	schema Schema
	// record is the file where /echo appends what it received; "" for
	// none.
	record string
	// grpc serves gRPC (the health service and Echo, grpc.go) instead
	// of HTTP.
	grpc bool
	// callAddr, with callRPS and callFor, is the --call mode: a gRPC
	// client of Echo/Say instead of a server.
	callAddr string
	callRPS  int
	callFor  time.Duration
}

// Main runs the sample app with the given command-line arguments and
// returns the process exit status: 0 after a graceful shutdown, 1 on
// failure, 2 for bad flags.
func Main(args []string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	opts, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0 // the usage is printed
	}
	if err != nil {
		log.Error("invalid flags", "err", err)
		return 2
	}
	if opts.exitOnStart {
		log.Error("exiting on start as asked by --exit-on-start", "version", opts.version)
		return 1
	}
	if err := run(opts, log); err != nil {
		log.Error("app failed", "err", err)
		return 1
	}
	return 0
}

// parseFlags parses and checks the command line.
func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	fs.IntVar(&o.port, "port", 0, "listen on port `N` of --host (required)")
	fs.StringVar(&o.host, "host", "127.0.0.1", "listen on this `address` (0.0.0.0: every interface, as in a container)")
	fs.StringVar(&o.version, "version", "v0", "version string reported in responses")
	fs.Float64Var(&o.errorRate, "error-rate", 0, "share 0..1 of GET / answered 500 (of gRPC calls failed UNAVAILABLE with --grpc)")
	fs.StringVar(&o.callAddr, "call", "", "be a gRPC client instead: call "+EchoService+"/Say on `ADDR` (bluejay's h2c listener), printing counts by version every second")
	fs.IntVar(&o.callRPS, "rps", 20, "with --call: calls per second")
	fs.DurationVar(&o.callFor, "duration", 0, "with --call: stop after this long (0 = until interrupted)")
	fs.BoolVar(&o.grpc, "grpc", false, "serve gRPC (grpc.health.v1.Health and "+EchoService+") instead of HTTP")
	fs.Int64Var(&o.errorsAfter, "errors-after-requests", 0, "apply --error-rate only after `N` requests to /")
	fs.DurationVar(&o.latency, "latency", 0, "added delay for GET /")
	fs.BoolVar(&o.failHealth, "fail-health", false, "answer /healthz with 503")
	fs.DurationVar(&o.crashAfter, "crash-after", 0, "exit 1 after this long (0 = never)")
	fs.BoolVar(&o.exitOnStart, "exit-on-start", false, "exit 1 immediately")
	fs.StringVar(&o.db, "db", "", "serve the profiles API from the PostgreSQL database at `URL` (never logged)")
	dbEnv := fs.String("db-env", "", "like --db, with the URL read from environment variable `NAME` (keeps it out of the process list)")
	fs.StringVar(&o.record, "record", "", "append what /echo received to `FILE`, one JSON line per request")
	schema := fs.String("schema", "v1", "the profiles table's shape this version uses: v1 (name) or v2 (first_name, last_name)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.schema = Schema(*schema)
	if *dbEnv != "" {
		if o.db != "" {
			return o, errors.New("--db and --db-env: give one")
		}
		if o.db = os.Getenv(*dbEnv); o.db == "" {
			return o, fmt.Errorf("--db-env %s: the variable is empty", *dbEnv)
		}
	}
	switch {
	case o.callAddr != "":
		if o.callRPS < 1 {
			return o, errors.New("--rps must be 1 or more")
		}
		return o, nil
	case o.port <= 0 || o.port > 65535:
		return o, errors.New("--port is required (1-65535)")
	case o.errorRate < 0 || o.errorRate > 1:
		return o, fmt.Errorf("--error-rate %v: want a share between 0 and 1", o.errorRate)
	case o.errorsAfter < 0:
		return o, errors.New("--errors-after-requests must not be negative")
	case o.schema != SchemaV1 && o.schema != SchemaV2:
		return o, fmt.Errorf("--schema %q: want v1 or v2", o.schema)
	case o.grpc && o.db != "":
		return o, errors.New("--grpc and --db: the profiles API is HTTP only")
	}
	return o, nil
}

// run serves until SIGTERM or SIGINT, then shuts down gracefully.
func run(o options, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if o.callAddr != "" {
		return callLoop(ctx, o.callAddr, o.callRPS, o.callFor, os.Stdout)
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(o.host, strconv.Itoa(o.port)))
	if err != nil {
		return err
	}
	if o.grpc {
		log.Info("app serving gRPC", "addr", ln.Addr().String(), "version", o.version,
			"errorRate", o.errorRate, "errorsAfter", o.errorsAfter, "latency", o.latency, "failHealth", o.failHealth)
		if o.crashAfter > 0 {
			time.AfterFunc(o.crashAfter, func() { os.Exit(1) })
		}
		return serveGRPC(ctx, o, ln)
	}
	a := newApp(o)
	if a.record, err = openRecorder(o.record); err != nil {
		return fmt.Errorf("--record: %w", err)
	}
	if o.db != "" {
		db, err := sql.Open("pgx", o.db)
		if err != nil {
			// The driver's parse error may quote the URL: not logged.
			return errors.New("--db: not a valid PostgreSQL URL")
		}
		defer db.Close()
		a.profiles = &Profiles{DB: db, Schema: o.schema}
	}
	srv := &http.Server{Handler: a.routes(), ReadHeaderTimeout: 5 * time.Second}
	if o.crashAfter > 0 {
		time.AfterFunc(o.crashAfter, func() {
			log.Error("crashing as asked by --crash-after", "after", o.crashAfter)
			os.Exit(1)
		})
	}
	log.Info("app listening", "addr", ln.Addr().String(), "version", o.version,
		"errorRate", o.errorRate, "errorsAfter", o.errorsAfter, "latency", o.latency,
		"failHealth", o.failHealth, "crashAfter", o.crashAfter, "profiles", o.db != "", "schema", o.schema)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	log.Info("shutdown complete")
	return nil
}

// app answers the HTTP requests.
type app struct {
	opts     options
	body     string
	profiles *Profiles    // the profiles API's table; nil without --db
	record   *recorder    // /echo's record; nil without --record
	served   atomic.Int64 // requests to / so far
	inFlight atomic.Int64 // requests to / being answered

	// The Prometheus exposition at /metrics, of requests to / only.
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration prometheus.Histogram
}

func newApp(o options) *app {
	a := &app{opts: o, body: fmt.Sprintf("version=%s instance=%d\n", o.version, o.port), registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total",
			Help: "Requests to the sample app's / by status code."}, []string{"code"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "http_request_duration_seconds",
			Help: "Latency of requests to the sample app's /.", Buckets: prometheus.DefBuckets}),
	}
	a.registry.MustRegister(a.requests, a.duration)
	return a
}

// routes returns the handler: /healthz, /version, /stats, /metrics,
// /echo, the profiles API with --db, and / for every other path.
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.health)
	mux.HandleFunc("GET /version", a.version)
	mux.HandleFunc("GET /stats", a.stats)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/echo", a.echo)
	if a.profiles != nil {
		a.profileRoutes(mux)
	}
	mux.Handle("/", a.measured(http.HandlerFunc(a.root)))
	return mux
}

// measured counts the requests h answers by status code, and their latency.
func (a *app) measured(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(rec, r)
		a.requests.WithLabelValues(strconv.Itoa(rec.code)).Inc()
		a.duration.Observe(time.Since(start).Seconds())
	})
}

// statusRecorder remembers the status code written.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (a *app) root(w http.ResponseWriter, r *http.Request) {
	n := a.served.Add(1)
	a.inFlight.Add(1)
	defer a.inFlight.Add(-1)
	if a.opts.latency > 0 {
		t := time.NewTimer(a.opts.latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	// The first errorsAfter requests always pass, so that a version can
	// pass its smoke tests and fail under real traffic.
	if n > a.opts.errorsAfter && rand.Float64() < a.opts.errorRate {
		http.Error(w, "injected error ("+a.opts.version+")", http.StatusInternalServerError)
		return
	}
	fmt.Fprint(w, a.body)
}

// health answers 503 with --fail-health, and with --db when the database
// is unreachable or lacks the columns this version's schema needs.
func (a *app) health(w http.ResponseWriter, r *http.Request) {
	if a.opts.failHealth {
		http.Error(w, "unhealthy (--fail-health)", http.StatusServiceUnavailable)
		return
	}
	if a.profiles != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.profiles.Check(ctx); err != nil {
			http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	fmt.Fprintln(w, "ok")
}

func (a *app) version(w http.ResponseWriter, _ *http.Request) {
	fmt.Fprintln(w, a.opts.version)
}

// stats reports the requests to / so far and those in flight, so that a
// demo can show which version served what, and a test can tell that a
// request is being answered.
func (a *app) stats(w http.ResponseWriter, _ *http.Request) {
	fmt.Fprintf(w, "requests=%d inflight=%d\n", a.served.Load(), a.inFlight.Load())
}
