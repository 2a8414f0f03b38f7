package spec

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole of bluejay.yaml. Most fields have a default (see
// ApplyDefaults), so the smallest valid file names one service (serve
// then generates the admin token, see AdminConfig.Token). A zero
// written in the file is kept, not defaulted, and must be valid (see
// each field's doc comment for what zero means).
// Load and Parse return a complete, valid Config.
type Config struct {
	// Proxy configures the builtin reverse proxy (the data plane).
	Proxy ProxyConfig `yaml:"proxy"`
	// Admin configures the admin API used by the CLI and the dashboard.
	Admin AdminConfig `yaml:"admin"`
	// Store configures where rollouts, routes and events are persisted.
	Store StoreConfig `yaml:"store"`
	// Services are the applications the proxy fronts. At least one is required.
	Services []Service `yaml:"services"`
	// Analysis holds the analysis templates canary steps refer to, by
	// name; shared by every service. The template "default" exists
	// without being declared (the seed's rules, see Canary); declaring
	// it replaces it. Default none besides "default".
	Analysis map[string]AnalysisTemplate `yaml:"analysis"`
	// Notifications send rollout events to webhooks (JSON or
	// Slack-compatible). Default none.
	Notifications []Notification `yaml:"notifications"`
	// Router chooses what splits traffic: the builtin proxy (default),
	// an NGINX or HAProxy the user runs, or a Kubernetes Gateway.
	Router RouterConfig `yaml:"router"`
	// Prometheus is the Prometheus server analysis templates with
	// queries read. Default none.
	Prometheus *PrometheusConfig `yaml:"prometheus"`
	// Kubernetes is the cluster of the kubernetes platform and the
	// gatewayAPI router. Default: see KubernetesConfig.
	Kubernetes KubernetesConfig `yaml:"kubernetes"`

	// Dir is the directory of the config file; relative paths in the
	// config are resolved against it. Not read from YAML.
	Dir string `yaml:"-"`

	warnings Errors // see Warnings
}

// ProxyConfig configures the builtin reverse proxy.
type ProxyConfig struct {
	// Listen is the address the proxy serves users on.
	// Default 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// VersionHeader, when set, names a response header that carries the
	// version that served the request (e.g. X-Bluejay-Version).
	// Default "" (off).
	VersionHeader string `yaml:"versionHeader"`
	// Timeout bounds how long the proxy waits for an upstream's response
	// headers before answering 504. Default 30s; must be more than 0.
	Timeout Duration `yaml:"timeout"`
	// DrainTimeout bounds how long an instance that left the traffic split
	// is given to finish its in-flight requests before it is stopped.
	// Default 30s; 0 stops it at once.
	DrainTimeout Duration `yaml:"drainTimeout"`
	// TrustedProxies are the addresses (CIDRs or IPs) of proxies in front
	// of bluejay: from them, an inbound X-Forwarded-For is kept and the
	// peer appended; from anyone else it is replaced. Default none.
	TrustedProxies []string `yaml:"trustedProxies"`
	// MaxHeaderBytes bounds a request's headers; larger ones get 431.
	// Default 65536.
	MaxHeaderBytes int `yaml:"maxHeaderBytes"`
	// ReadHeaderTimeout bounds reading a request's headers. Default 10s.
	ReadHeaderTimeout Duration `yaml:"readHeaderTimeout"`
	// IdleTimeout closes a client's idle keep-alive connection. Default 2m.
	IdleTimeout Duration `yaml:"idleTimeout"`
	// TLS, when set, serves HTTPS (HTTP/1.1 and HTTP/2) on Listen with
	// its certificates: files, per host, or from ACME (see ProxyTLS).
	// Default none: plain HTTP/1.1.
	TLS *ProxyTLS `yaml:"tls"`
	// HTTPListen, with TLS, is a plain HTTP listener that answers ACME's
	// HTTP-01 challenges and redirects every other request to HTTPS
	// (308), unless RedirectHTTP is false, when it proxies them. Default
	// ":80" when tls.acme is set, otherwise "": none.
	HTTPListen string `yaml:"httpListen"`
	// RedirectHTTP makes HTTPListen redirect to HTTPS. Default true;
	// false serves the HTTP listener's requests like Listen's.
	RedirectHTTP *bool `yaml:"redirectHTTP"`
	// HSTS are the services' hsts headers by host, derived from the
	// services at load. Not read from YAML.
	HSTS []HostHSTS `yaml:"-"`
	// H2C also serves HTTP/2 without TLS (prior knowledge), for clients
	// behind a TLS-terminating balancer. It cannot be set with TLS, whose
	// listener already serves HTTP/2 (validate refuses the pair). Default
	// false.
	H2C bool `yaml:"h2c"`
	// BodyTimeout is how long the proxy waits for more of a request's
	// body (an idle deadline, extended at each read) before it answers
	// 408, as the client's fault. gRPC calls, whose bodies are
	// full-duplex streams, have none. Default 30s; must be more than 0.
	BodyTimeout Duration `yaml:"bodyTimeout"`
	// MaxBodyBuffer is how many bytes of a request's body the proxy reads
	// before it takes a connection to an instance: a body that ends
	// within them is sent whole, a longer one streams the rest, so a
	// client that stalls its upload holds no instance connection. gRPC
	// calls always stream. Default 65536 (64 KiB); 0 streams every body
	// from its first byte.
	MaxBodyBuffer int `yaml:"maxBodyBuffer"`
	// MaxBodyBytes is the longest request body the proxy forwards; a
	// longer one is answered 413. Default 0: no limit.
	MaxBodyBytes int `yaml:"maxBodyBytes"`
	// Upgrades are the protocols a request may switch its connection to
	// (Upgrade header tokens); an Upgrade to any other is removed and the
	// request forwarded as a plain one. h2c is refused: its tunnel would
	// bypass routing and counting. Default [websocket]; [] forwards none.
	Upgrades []string `yaml:"upgrades"`
	// Control, when set, runs the proxy as its own process: `bluejay
	// proxy -c FILE` serves users on Listen, follows the routing table in
	// the store, and serves its control API (same token as the admin
	// API) on this address, where `bluejay serve` — which then runs no
	// proxy — drives it. Restarting or losing the controller then never
	// touches traffic. Default "": serve runs the proxy in its own process.
	Control string `yaml:"control"`
}

// TLS names a certificate and its key (PEM files, relative to the config).
type TLS struct {
	// Cert is the certificate chain file. Required.
	Cert string `yaml:"cert"`
	// Key is the private key file. Required.
	Key string `yaml:"key"`
}

// AdminConfig configures the admin API.
type AdminConfig struct {
	// Listen is the admin API's address. It should stay on loopback.
	// Default 127.0.0.1:7070.
	Listen string `yaml:"listen"`
	// Token is the bearer token every admin call must carry. At most one
	// of Token and TokenFile may be set; with neither, serve generates a
	// random token on its first start into GeneratedTokenFile (mode
	// 0600) and reuses it, and the CLI reads it from there: the admin API
	// always requires a token. Default "".
	Token string `yaml:"token"`
	// TokenFile is a file holding the token (surrounding whitespace is
	// trimmed). Relative to the config file. Default "" (use Token).
	TokenFile string `yaml:"tokenFile"`
	// TLS, when set, serves the admin API over HTTPS with this
	// certificate; the CLI then calls https://listen. Default none:
	// plain HTTP (keep it on loopback).
	TLS *TLS `yaml:"tls"`
	// CAFile is the PEM certificate(s) the CLI trusts for an HTTPS admin
	// API, besides the system's roots. Relative to the config file.
	// Default "": admin.tls.cert itself when tls is set (a self-signed
	// certificate), else the system's roots only.
	CAFile string `yaml:"caFile"`
	// Pprof serves Go's runtime profiles (net/http/pprof) on the admin
	// API under /debug/pprof/, behind the admin token, for `go tool
	// pprof` and bench/scale. A CPU profile costs while it runs and a
	// profile shows the code's internals, so it is off unless asked for.
	// Default false (no /debug/pprof/ routes: 404).
	Pprof bool `yaml:"pprof"`
}

// MinTokenLength is the shortest admin token validate accepts without a
// warning (and `validate --strict` accepts at all).
const MinTokenLength = 16

// Warnings are what validation found valid but probably not meant (a
// short admin token, canary weights that go down or never reach 100),
// sorted by position. `bluejay validate` prints them and `validate
// --strict` refuses the config for them; serve prints them and starts.
func (c *Config) Warnings() Errors {
	slices.SortStableFunc(c.warnings, func(a, b *Error) int { return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col)) })
	return c.warnings
}

// DefaultTokenFile is where serve keeps the token it generates when
// neither admin.token nor admin.tokenFile is set: next to the config.
const DefaultTokenFile = "bluejay.token"

// GeneratedTokenFile is the absolute path of the token serve generates
// (and the CLI reads) when no token is configured.
func (c *Config) GeneratedTokenFile() string { return c.abs(DefaultTokenFile) }

// StoreConfig configures persistence.
type StoreConfig struct {
	// Path is the SQLite database file, relative to the config file.
	// Default ./bluejay.db. Unused when Etcd is set.
	Path string `yaml:"path"`
	// Etcd, when set, keeps rollouts, events and routes in an etcd
	// cluster instead of the SQLite file, so that bluejay processes on
	// several machines share them. Default: unset (SQLite).
	Etcd *EtcdStore `yaml:"etcd"`
	// Retention bounds the decision log: which ended rollouts, with their
	// events, are deleted (hourly, and at start). A service's latest
	// rollout and every active one are always kept.
	Retention Retention `yaml:"retention"`
}

// EtcdStore is the etcd store's connection.
type EtcdStore struct {
	// Endpoints are the cluster's client URLs, such as
	// http://10.0.0.5:2379 (or host:port). Required: at least one.
	Endpoints []string `yaml:"endpoints"`
	// Prefix roots every key bluejay writes, so that one cluster can hold
	// several bluejays. Must start with '/'. Default /bluejay.
	Prefix string `yaml:"prefix"`
	// LeaseTTL is the leader election's lease: several `bluejay serve` on
	// one etcd elect one controller, and a standby takes over within this
	// long of the leader's death. Default 5s; at least 1s.
	LeaseTTL Duration `yaml:"leaseTTL"`
}

// Retention bounds how much history the store keeps.
type Retention struct {
	// MaxAge deletes rollouts that ended longer ago. Default 2160h (90
	// days); 0 keeps them whatever their age.
	MaxAge Duration `yaml:"maxAge"`
	// MaxRollouts keeps only each service's newest rollouts (a rollback
	// --to can only name a version one of them ran). Default 1000; 0 keeps
	// every one.
	MaxRollouts int `yaml:"maxRollouts"`
}

// Service is one application behind the proxy.
type Service struct {
	// Name identifies the service in the CLI, API and store. Required:
	// lower-case letters, digits and '-', starting with a letter.
	Name string `yaml:"name"`
	// Match selects the requests this service receives.
	// Default: every path on every host.
	Match Match `yaml:"match"`
	// Version is the first stable version, deployed on the first start.
	// Required.
	Version string `yaml:"version"`
	// Platform says how the service's versions run. Exactly one of
	// process and static is required.
	Platform Platform `yaml:"platform"`
	// Health is the readiness probe run against every instance.
	Health Health `yaml:"health"`
	// Smoke tests run against a new version's instances directly, before
	// it receives any user traffic. Default none.
	Smoke []Smoke `yaml:"smoke"`
	// Strategy is how a new version is rolled out: blue-green, canary or
	// rolling. Default blue-green.
	Strategy string `yaml:"strategy"`
	// BlueGreen tunes the blue-green strategy.
	BlueGreen BlueGreen `yaml:"blueGreen"`
	// Canary tunes the canary strategy.
	Canary Canary `yaml:"canary"`
	// Rolling tunes the rolling strategy.
	Rolling Rolling `yaml:"rolling"`
	// Sticky, when set, keeps each user on one version, and as a canary
	// grows only users from stable move to it, never back. Default none:
	// every request is picked at random by weight.
	Sticky *Sticky `yaml:"sticky"`
	// Shield, when set, retries once on the stable version an idempotent
	// request that failed on a new version (connect error or 5xx): the
	// user sees success, the failure still counts against the new
	// version. Default none.
	Shield *Shield `yaml:"shield"`
	// Outlier ejects an instance after consecutive failures (passive
	// health) until an active probe passes again. Default none.
	Outlier *Outlier `yaml:"outlier"`
	// ProgressDeadline bounds how long a rollout of any strategy may go
	// without progress (a phase or step change, or a rolling batch) past
	// what its current phase or step plans to take (readyTimeout, a
	// preview, a watch, a timed pause or analysis); time Paused does not
	// count. Default 10m; must be more than 0: nothing waits forever.
	ProgressDeadline Duration `yaml:"progressDeadline"`
	// OnProgressDeadline is abort (roll back; Failed if no user traffic
	// reached the new version yet) or pause (Paused until resume,
	// promote or abort). Default abort.
	OnProgressDeadline string `yaml:"onProgressDeadline"`
	// OnNewVersion says what a config reload that changes Version does
	// while a rollout to another version is active: abort (roll the
	// active one back, then start the new one, as Argo Rollouts does) or
	// queue (start the new one once the active one ends). Default abort.
	OnNewVersion string `yaml:"onNewVersion"`
	// Hooks run a command or a webhook before a rollout, before its
	// promotion, after it and when it rolls back. Default none.
	Hooks Hooks `yaml:"hooks"`
	// Migrations tie the service's schema changes to its rollouts:
	// expand before the new version starts (then the old version's smoke
	// tests rehearse a rollback on the expanded schema), contract only
	// after the rollback window closed. Default none.
	Migrations *Migrations `yaml:"migrations"`
	// Protocol is what bluejay's proxy speaks to the service's instances:
	// http (HTTP/1.1), h2c (HTTP/2 without TLS, by prior knowledge) or
	// grpc (h2c, each call judged by its grpc-status; see GRPC). Clients
	// reach h2c and grpc services over HTTP/2: proxy.h2c or proxy.tls.
	// Default http. h2c and grpc need the builtin router.
	Protocol string `yaml:"protocol"`
	// GRPC tunes how the calls of a protocol: grpc service are judged.
	// Only with protocol grpc. Default: the default error codes.
	GRPC *GRPC `yaml:"grpc"`
	// HSTS, when set, adds Strict-Transport-Security to the service's
	// answers over HTTPS (its match.host's; a service without one sets
	// it for the hosts no other service names). Default nil: none.
	HSTS *HSTS `yaml:"hsts"`
}

// Protocols a service may speak to its instances.
const (
	ProtocolHTTP = "http"
	ProtocolH2C  = "h2c"
	ProtocolGRPC = "grpc"
)

// GRPC tunes the judging of a gRPC service's calls.
type GRPC struct {
	// ErrorCodes are the grpc-status codes that count a call as an error
	// of its version (besides the proxy failing to reach the instance and
	// HTTP 5xx), by name (UNAVAILABLE) or number (14). Default UNKNOWN,
	// DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE and DATA_LOSS; if set, at
	// least one.
	ErrorCodes []string `yaml:"errorCodes"`
}

// GRPCCheck is a call of the standard gRPC health service,
// grpc.health.v1.Health/Check, on an instance: it passes when the
// instance answers SERVING.
type GRPCCheck struct {
	// Service is the name asked about. Default "": the server as a
	// whole.
	Service string `yaml:"service"`
}

// Shield retries idempotent requests that failed on a new version.
type Shield struct {
	// Methods are retried. Default GET, HEAD, OPTIONS.
	Methods []string `yaml:"methods"`
}

// Outlier is passive health: an instance that fails requests in a row is
// taken out of the split for a back-off period, then put back only once
// an active probe passes. The last instance of a version is never
// ejected, so that a version is judged, not hidden.
type Outlier struct {
	// ConsecutiveFailures is how many failed requests in a row (5xx or
	// connect errors) eject an instance. Default 5.
	ConsecutiveFailures int `yaml:"consecutiveFailures"`
	// BaseEjection is the first ejection's length; each further one of
	// the same instance doubles it, up to MaxEjection. Default 10s.
	BaseEjection Duration `yaml:"baseEjection"`
	// MaxEjection caps an ejection. Default 5m.
	MaxEjection Duration `yaml:"maxEjection"`
}

// Sticky names the sticky key of a service's users.
type Sticky struct {
	// Header carries the key (e.g. X-User-Id from a gateway); checked
	// before the cookie. Default "" (none).
	Header string `yaml:"header"`
	// Cookie carries the key. Default "bluejay-key" when Header is unset.
	Cookie string `yaml:"cookie"`
	// Generate gives a request without a key a random one in Cookie.
	// Default true when Cookie is set.
	Generate *bool `yaml:"generate"`
	// MaxAge of the generated cookie. Default 24h; 0s: a session cookie.
	MaxAge Duration `yaml:"maxAge"`
	// Path of the generated cookie. Default /.
	Path string `yaml:"path"`
	// Secure marks the generated cookie HTTPS-only. Default false.
	Secure bool `yaml:"secure"`
	// HTTPOnly hides the generated cookie from scripts. Default true.
	HTTPOnly *bool `yaml:"httpOnly"`
	// SameSite of the generated cookie: lax, strict or none. Default lax.
	SameSite string `yaml:"sameSite"`
}

// HeaderRoute matches requests by a header or a cookie: exactly one of
// Header and Cookie, and one of Exact, Prefix and Regex.
type HeaderRoute struct {
	Header string `yaml:"header"`
	Cookie string `yaml:"cookie"`
	Exact  string `yaml:"exact"`
	Prefix string `yaml:"prefix"`
	Regex  string `yaml:"regex"`
}

// Rolling tunes the rolling strategy: instances of the old version are
// replaced by new ones a few at a time, each batch gated by readiness
// held for MinHealthyTime; a batch that fails halts the rollout and, with
// AutoRevert, puts the old version back. Process platform only.
type Rolling struct {
	// MaxSurge is how many instances above replicas may run during the
	// rollout: the batch size. Default 1; at least 1.
	MaxSurge int `yaml:"maxSurge"`
	// MaxUnavailable is how many of replicas may be unready during the
	// rollout. Default 0: capacity never drops.
	MaxUnavailable int `yaml:"maxUnavailable"`
	// MinHealthyTime is how long a new instance must stay ready before
	// it counts as available and an old one is removed. Default 5s.
	MinHealthyTime Duration `yaml:"minHealthyTime"`
	// ProgressDeadline overrides the service's progressDeadline for
	// rolling rollouts. Default: the service's.
	ProgressDeadline Duration `yaml:"progressDeadline"`
	// AutoRevert puts the old version back when a batch fails; false
	// halts the rollout in Paused for a person. Default true.
	AutoRevert *bool `yaml:"autoRevert"`
}

// Match selects requests by host and path prefix. The most specific
// match wins: a host match beats no host, a longer prefix beats a shorter.
type Match struct {
	// Host matches the request's Host header without its port,
	// case-insensitively. Default "" (any host).
	Host string `yaml:"host"`
	// PathPrefix matches the start of the request path. Default "/".
	PathPrefix string `yaml:"pathPrefix"`
}

// Platform says how versions of a service run. Exactly one field is set.
type Platform struct {
	// Process runs each version as local processes on loopback ports.
	Process *Process `yaml:"process"`
	// Static routes to addresses that something else runs.
	Static *Static `yaml:"static"`
	// Kubernetes runs each version as a Deployment and a Service in the
	// cluster named by the top-level kubernetes block.
	Kubernetes *KubernetesPlatform `yaml:"kubernetes"`
	// Docker runs each version as containers of an image on the Docker
	// Engine of this host.
	Docker *DockerPlatform `yaml:"docker"`
}

// Name is the platform's name: process, static, kubernetes or docker.
func (p Platform) Name() string {
	switch {
	case p.Static != nil:
		return "static"
	case p.Kubernetes != nil:
		return "kubernetes"
	case p.Docker != nil:
		return "docker"
	}
	return "process"
}

// count is how many platforms are set.
func (p Platform) count() int {
	n := 0
	for _, set := range []bool{p.Process != nil, p.Static != nil, p.Kubernetes != nil, p.Docker != nil} {
		if set {
			n++
		}
	}
	return n
}

// Process runs versions as child processes of bluejay.
type Process struct {
	// Command is the program and its arguments. Each element is a Go
	// template with {{.Port}}, {{.Version}}, {{.Service}} and
	// {{.Instance}}. Required; the program must listen on {{.Port}}.
	Command []string `yaml:"command"`
	// Replicas is how many instances of each version run. Default 1;
	// 0 also means 1.
	Replicas int `yaml:"replicas"`
	// Env adds environment variables to the instances (templated like
	// Command). Default none; the instances inherit bluejay's environment.
	Env map[string]string `yaml:"env"`
	// Dir is the working directory of the instances, relative to the
	// config file. Default: the config file's directory.
	Dir string `yaml:"dir"`
	// LogDir receives one log file per instance
	// (SERVICE-VERSION-N.log), relative to the config file. Default ./logs.
	LogDir string `yaml:"logDir"`
	// StopGrace is how long an instance has to exit after SIGTERM before
	// it gets SIGKILL. Default 10s; 0 sends SIGKILL right after SIGTERM.
	StopGrace Duration `yaml:"stopGrace"`
}

// Static routes to addresses run by something else.
type Static struct {
	// Targets maps a version to its instances' host:port addresses.
	// Versions not listed here take their targets from
	// `bluejay deploy --target`. The service's Version must be listed.
	// Default none.
	Targets map[string][]string `yaml:"targets"`
}

// Health is the active readiness probe. An instance receives traffic only
// after HealthyThreshold consecutive passes, and leaves the split after
// UnhealthyThreshold consecutive failures.
type Health struct {
	// Path is probed with GET; any 2xx passes. Default /healthz; unused
	// when GRPC is set.
	Path string `yaml:"path"`
	// GRPC, when set, probes with the gRPC health service instead of
	// Path. Default none, except for a protocol: grpc service that sets
	// no path, which gets {service: ""}.
	GRPC *GRPCCheck `yaml:"grpc"`
	// Interval between probes of one instance. Default 1s; must be more
	// than 0.
	Interval Duration `yaml:"interval"`
	// Timeout of one probe. Default 1s, or Interval if shorter; must be more than 0 and not
	// exceed Interval.
	Timeout Duration `yaml:"timeout"`
	// HealthyThreshold is the consecutive passes that make an instance
	// ready. Default 2; must be 1 or more.
	HealthyThreshold int `yaml:"healthyThreshold"`
	// UnhealthyThreshold is the consecutive failures that take an
	// instance out. Default 3; must be 1 or more.
	UnhealthyThreshold int `yaml:"unhealthyThreshold"`
	// ReadyTimeout is how long a new version's instances have to become
	// ready before the rollout fails. Default 2m; must be more than 0.
	ReadyTimeout Duration `yaml:"readyTimeout"`
}

// Smoke is one request sent to each instance of a new version.
type Smoke struct {
	// Name labels the check in events. Default "METHOD PATH".
	Name string `yaml:"name"`
	// Method is the HTTP method. Default GET.
	Method string `yaml:"method"`
	// Path is the request path. Required unless GRPC is set; must start
	// with '/'.
	Path string `yaml:"path"`
	// GRPC, when set, makes the test a call of the gRPC health service
	// instead of an HTTP request: it passes when the instance answers
	// SERVING. Method, Path, Headers, ExpectStatus and ExpectBody must
	// then be unset. Needs protocol h2c or grpc. Default none.
	GRPC *GRPCCheck `yaml:"grpc"`
	// Headers are added to the request. Default none.
	Headers map[string]string `yaml:"headers"`
	// ExpectStatus is the status the response must have. Default 200.
	ExpectStatus int `yaml:"expectStatus"`
	// ExpectBody, when set, must appear in the response body.
	// Default "" (body not checked).
	ExpectBody string `yaml:"expectBody"`
	// Timeout bounds the request. Default 5s; must be more than 0.
	Timeout Duration `yaml:"timeout"`
}

// BlueGreen tunes the blue-green strategy: deploy the new version beside
// the old, gate it, optionally preview it on a small share of traffic,
// switch all traffic at once, watch, and flip back on trouble.
type BlueGreen struct {
	// PreviewWeight is the percentage of traffic (0-99) the new version
	// gets before the switch. Default 0 (no preview).
	PreviewWeight int `yaml:"previewWeight"`
	// PreviewDuration is how long the preview lasts. Default 30s when
	// PreviewWeight is set; must then be more than 0.
	PreviewDuration Duration `yaml:"previewDuration"`
	// Watch is how long the new version is watched after the switch; a
	// failure in this window flips traffic back. Default 30s; 0 completes
	// at once.
	Watch Duration `yaml:"watch"`
	// ScaleDownDelay is how long the old version stays warm after the
	// rollout completes, so that rollback is a traffic flip. Default 5m;
	// 0 stops it as soon as the rollout completes.
	ScaleDownDelay Duration `yaml:"scaleDownDelay"`
	// MaxErrorRate is the share of failed requests (5xx, connect errors,
	// timeouts) on the new version above which the preview or the watch
	// fails, from 0 to 1. Default 0.05; 0 fails on any error.
	MaxErrorRate *float64 `yaml:"maxErrorRate"`
	// MinRequests is the number of requests the new version must have
	// served before its error rate is judged; below it the rate is not
	// trusted either way, so a preview or a watch cannot pass on fewer:
	// it goes on watching until they come or the progress deadline
	// passes (then OnNoTraffic decides). Default 20; 0 judges from the
	// first request (and passes with none).
	MinRequests int `yaml:"minRequests"`
	// OnNoTraffic is what happens when a preview or a watch reached the
	// progress deadline without MinRequests requests: pause (Paused for a
	// person: promote goes on without the data, abort rolls back, resume
	// watches again) or complete (go on as if it passed). Never a
	// rollback. Default pause.
	OnNoTraffic string `yaml:"onNoTraffic"`
	// AutoPromote, when false, holds the rollout before the switch until
	// `bluejay promote`. Default true.
	AutoPromote *bool `yaml:"autoPromote"`
}

// What a blue-green preview or watch without enough traffic does at its
// progress deadline (BlueGreen.OnNoTraffic).
const (
	NoTrafficPause    = "pause"
	NoTrafficComplete = "complete"
)

// Strategies bluejay knows.
const (
	StrategyBlueGreen = "blue-green"
	StrategyCanary    = "canary"
	StrategyRolling   = "rolling"
)

// Canary tunes the canary strategy: the new version takes a growing share
// of traffic step by step, judged against the stable version (the
// baseline) at each analysis step and continuously for plain failure, and
// is rolled back on its own when it is worse.
type Canary struct {
	// Steps are run in order. Default: setWeight 1, 5, 10, 25, 50, each
	// followed by an analysis with the Analysis template, then 100.
	Steps []CanaryStep `yaml:"steps"`
	// Analysis names the template that judges the canary in the
	// background during every step (only its Fail side: a step moves on
	// when it ends, not when the background passes), and that the
	// default steps use. Default "default": the seed's rules with
	// minRequests 100 — error rate (sequential judge) at most
	// baseline × 1.5 + 0.1%, latency (Mann-Whitney, effect size 1.2),
	// p99 at most baseline × 1.2 + 5ms (sequential on slow requests),
	// CPU and memory under 90%.
	Analysis string `yaml:"analysis"`
	// StepAnalysisDuration is the length of each analysis in the default
	// steps. Default 1m.
	StepAnalysisDuration Duration `yaml:"stepAnalysisDuration"`
	// ScaleDownDelay is how long the old version stays warm after the
	// canary completes. Default 30s.
	ScaleDownDelay Duration `yaml:"scaleDownDelay"`
	// AbortScaleDownDelay is how long a rolled-back canary's instances
	// keep running (for a look at them) before they stop. Default 30s.
	AbortScaleDownDelay Duration `yaml:"abortScaleDownDelay"`
	// Baseline is what the canary is compared with: stable (the stable
	// version's traffic in the same window) or dedicated (fresh instances
	// of the stable version, started with the canary and given the same
	// share of traffic, so that like is compared with like: same age,
	// same load, no long-running-process effects). Default stable.
	Baseline string `yaml:"baseline"`
	// ProgressDeadline and OnProgressDeadline override the service's
	// for canary rollouts. Default: the service's.
	ProgressDeadline   Duration `yaml:"progressDeadline"`
	OnProgressDeadline string   `yaml:"onProgressDeadline"`
}

// CanaryStep is one step of a canary. Exactly one field is set.
type CanaryStep struct {
	// SetWeight sends this percentage (0-100) of traffic to the canary.
	SetWeight *int `yaml:"setWeight"`
	// Pause holds the canary: `pause: {}` until `bluejay promote`,
	// `pause: {duration: 30s}` for that long.
	Pause *Pause `yaml:"pause"`
	// Analysis judges the canary against the baseline with a template.
	Analysis *StepAnalysis `yaml:"analysis"`
	// Checks run these smoke tests against the canary's instances.
	Checks []Smoke `yaml:"checks"`
	// SetHeaderRoute sends requests that match to the canary, whatever
	// its weight, from this step until the rollout ends (testers, A/B).
	SetHeaderRoute *HeaderRoute `yaml:"setHeaderRoute"`
	// SetMirrorRoute copies a share of requests to the canary from this
	// step until the rollout ends; the copies' responses are discarded
	// and never slow or fail the user's request.
	SetMirrorRoute *MirrorRoute `yaml:"setMirrorRoute"`
}

// MirrorRoute is the share of requests copied to the canary.
type MirrorRoute struct {
	// Percent of requests copied, 1-100. Required.
	Percent int `yaml:"percent"`
}

// Pause holds a canary step.
type Pause struct {
	// Duration of the pause. Default 0: until `bluejay promote`.
	Duration Duration `yaml:"duration"`
}

// StepAnalysis is an analysis step.
type StepAnalysis struct {
	// Template names an analysis template. Default: Canary.Analysis.
	Template string `yaml:"template"`
	// Duration is how long the analysis runs; the verdict at its end
	// decides. Default 0: until the verdict is Pass (after at least one
	// interval), however long that takes.
	Duration Duration `yaml:"duration"`
	// Args are values for the template's args, by name, for this step
	// (`{{args.NAME}}` in its provider metrics). Default none: each arg's
	// own value; an arg without one must be given here.
	Args map[string]string `yaml:"args"`
}

// AnalysisTemplate judges a canary against its baseline.
type AnalysisTemplate struct {
	// Interval is how often a verdict is taken on the measurements since
	// the analysis began. The fail side of sequential judges is also
	// checked on every controller tick and on every failed request.
	// Default 5s.
	Interval Duration `yaml:"interval"`
	// MinRequests is the number of canary requests below which no metric
	// passes: the verdict is Inconclusive (a sequential judge may still
	// Fail on conclusive evidence). Default 100.
	MinRequests int `yaml:"minRequests"`
	// FailureLimit is how many Fail verdicts are tolerated; one more
	// rolls back. Default 0.
	FailureLimit int `yaml:"failureLimit"`
	// ConsecutiveErrorLimit is how many verdicts in a row may be Error
	// (a metric could not be measured); one more rolls back. Default 4.
	ConsecutiveErrorLimit int `yaml:"consecutiveErrorLimit"`
	// InconclusiveLimit is how many analyses may end Inconclusive before
	// OnInconclusive applies; below it an inconclusive analysis runs
	// again. Default 0.
	InconclusiveLimit int `yaml:"inconclusiveLimit"`
	// OnInconclusive is pause (wait for promote or abort) or abort.
	// Default pause: never promote on too little data.
	OnInconclusive string `yaml:"onInconclusive"`
	// Metrics are judged every interval. Required (at least one).
	Metrics []AnalysisMetric `yaml:"metrics"`
	// Queries, when set, measure the sides in Prometheus (prometheus:
	// must be configured) instead of the builtin proxy: PromQL templates
	// with {{.Service}}, {{.Version}} and {{.Window}} (the time since the
	// analysis began, as a range such as 45s), evaluated at each verdict
	// for the canary and the baseline. A key names the condition field it
	// fills: requests (required: counts since the analysis began), errors,
	// errorRate (else errors/requests), p50, p90, p99, mean (ms); any other
	// key is canary.custom.NAME. A failed query, or an empty result for
	// any but requests, is an Error verdict, never a pass (write `or
	// vector(0)` where no series means zero). Default none: the builtin
	// proxy's measurements.
	Queries map[string]string `yaml:"queries"`
	// Load, when set, sends synthetic requests to the canary's and the
	// baseline's instances directly (never through the proxy, so no user
	// is involved) while the analysis runs, measured and added to both
	// sides: at low traffic the analysis then reaches minRequests.
	// Default none.
	Load *SyntheticLoad `yaml:"load"`
	// Args are the template's parameters, written `{{args.NAME}}` in its
	// metrics' provider fields and conditions, with the value each step
	// gives (analysis: {template: T, args: {NAME: ...}}) or their own.
	// Default none.
	Args []TemplateArg `yaml:"args"`
	// DryRun names metrics that are measured and shown but never decide:
	// their verdicts and limits neither fail, pause nor pass the analysis.
	// Default none.
	DryRun []DryRunMetric `yaml:"dryRun"`
}

// SyntheticLoad is synthetic traffic for an analysis.
type SyntheticLoad struct {
	// RPS is the total rate, split evenly between canary and baseline.
	// Required, more than 0.
	RPS float64 `yaml:"rps"`
	// Path is requested with Method. Default /.
	Path string `yaml:"path"`
	// Method is the HTTP method. Default GET.
	Method string `yaml:"method"`
	// Headers are added to each request, beside X-Bluejay-Synthetic: 1.
	// Default none.
	Headers map[string]string `yaml:"headers"`
}

// AnalysisMetric is one measurement and how it is judged.
type AnalysisMetric struct {
	// Name labels the metric in reasons. Required, unique in a template.
	Name string `yaml:"name"`
	// Judge is threshold (the condition on point estimates), sequential
	// (an anytime-valid test that fails on conclusive evidence, even
	// below minRequests) or mann-whitney (Kayenta's rank test on
	// per-request latencies). Default threshold.
	Judge string `yaml:"judge"`
	// Condition is an expression over canary and baseline that must
	// hold for Pass, e.g. `canary.errorRate <= baseline.errorRate * 1.5
	// + 0.001` or `canary.p99 <= baseline.p99 * 1.2`. Fields: errorRate,
	// requests, errors, p50, p90, p99, mean (ms), cpu, memory (shares),
	// rssBytes. Required for threshold; optional otherwise.
	Condition string `yaml:"condition"`
	// On is what a statistical judge measures: errorRate or latency.
	// Default errorRate for sequential, latency for mann-whitney.
	On string `yaml:"on"`
	// Alpha bounds a sequential judge's false-failure probability.
	// Default 0.01.
	Alpha *float64 `yaml:"alpha"`
	// Margin is the relative worsening a sequential judge tolerates:
	// it fails only on evidence that the canary's rate exceeds
	// (1+margin) × the baseline's, and passes only when the evidence
	// does not favour that. Default 0.25 (a 1.5× worse canary is not
	// reliably caught); 0 tests equal rates.
	Margin *float64 `yaml:"margin"`
	// MinRateDelta is the smallest difference of error rates, canary
	// minus baseline, that a sequential errorRate judge fails on, as a
	// share: 0.001 is 0.1 percentage points (the seed's "+0.1%"), so 3
	// errors in 50,000 against none is no rollback. Below 1. Default
	// 0.001; 0 means no floor.
	MinRateDelta *float64 `yaml:"minRateDelta"`
	// Confidence of the Mann-Whitney test. Default 0.98.
	Confidence *float64 `yaml:"confidence"`
	// Tolerance is Kayenta's Mann-Whitney rule: a significant difference
	// fails only when the bound of the Hodges-Lehmann confidence interval
	// of the shift nearest 0 clears this fraction of the shift estimate.
	// Below 1. Default 0.25 (Kayenta's); 0 means the plain p-value rule
	// (p < 1 - confidence).
	Tolerance *float64 `yaml:"tolerance"`
	// Direction a Mann-Whitney difference must have to fail: increase,
	// decrease or either. Default increase.
	Direction string `yaml:"direction"`
	// EffectSize is the smallest canary/baseline mean ratio a
	// Mann-Whitney difference must reach to fail. Default 1.0.
	EffectSize *float64 `yaml:"effectSize"`
	// MinDelta is the smallest difference of mean latencies, in ms, that
	// fails a Mann-Whitney test, so that sub-millisecond noise never
	// rolls back. Default 1; 0 means no floor.
	MinDelta *float64 `yaml:"minDelta"`

	// Provider, when set, measures the metric itself (a web endpoint, a
	// job, a Prometheus query) instead of comparing the canary with its
	// baseline: its value is `result`, judged by SuccessCondition and
	// FailureCondition, and Judge, Condition and the statistical fields
	// do not apply. Default none.
	Provider *MetricProvider `yaml:"provider"`
	// SuccessCondition is an expression over result that passes a
	// provider metric's measurement, e.g. `result < 0.01`. A job needs
	// none (exit 0 passes). Default none.
	SuccessCondition string `yaml:"successCondition"`
	// FailureCondition is an expression over result that fails a
	// measurement; it wins over SuccessCondition, and when neither holds
	// the measurement is Inconclusive (so is a NaN or infinite result).
	// A provider metric other than a job needs at least one of the two.
	// Default none.
	FailureCondition string `yaml:"failureCondition"`
	// Count is how many judged measurements a provider metric takes (one
	// that could not be made is tried again); its verdict is Inconclusive
	// until all are taken. Default 0: it measures for as
	// long as the analysis runs, and its latest measurement is its verdict.
	Count int `yaml:"count"`
	// Interval is the time between a provider metric's measurements.
	// Default 0: the template's interval.
	Interval Duration `yaml:"interval"`
	// InitialDelay is how long a provider metric waits, from the start of
	// the analysis, before its first measurement. Default 0: none.
	InitialDelay Duration `yaml:"initialDelay"`
	// FailureLimit is how many failed measurements a provider metric
	// tolerates; one more rolls back. Default 0.
	FailureLimit int `yaml:"failureLimit"`
	// InconclusiveLimit is how many inconclusive measurements a provider
	// metric tolerates; past it the metric is Inconclusive for the rest of
	// the analysis (which then ends Inconclusive). Default 0.
	InconclusiveLimit int `yaml:"inconclusiveLimit"`
	// ConsecutiveErrorLimit is how many measurements in a row may fail to
	// measure (an unreachable endpoint, a query error); one more rolls
	// back. Default 4.
	ConsecutiveErrorLimit int `yaml:"consecutiveErrorLimit"`
}

// Duration is a time.Duration written in YAML as a Go duration string
// ("500ms", "10s", "5m").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML parses a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a duration such as 500ms, 10s or 5m")
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("invalid duration %q: want a duration such as 500ms, 10s or 5m", n.Value)
	}
	if v < 0 {
		return fmt.Errorf("negative duration %q: want 0 or more, such as 0s or 10s", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }
