package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"

	"github.com/bluejay-deploy/bluejay/internal/api"
)

// target is one thing wrk measures: the backend itself or a proxy in
// front of it. start returns a fresh, answering instance.
type target struct {
	name  string
	needs string // a program it needs on PATH; "" for none
	start func(ctx context.Context, e *env) (*server, error)
}

var allTargets = []target{
	{"direct", "", startDirect},
	{"bluejay", "go", startBluejay(nil)},
	{"bluejay-net", "go", startBluejay([]string{"BLUEJAY_HTTP1=net"})},
	{"nginx", "nginx", startNginx},
	{"haproxy", "haproxy", startHAProxy},
	{"h2o", "h2o", startH2O},
	{"caddy", "caddy", startCaddy},
	{"httputil", "", startGoProxy("httputil")},
	{"httputil+pool", "", startGoProxy("httputil+pool")},
	{"httputil+tuned", "", startGoProxy("httputil+tuned")},
}

// startDirect returns the backend, which runs for the whole bench.
func startDirect(_ context.Context, e *env) (*server, error) { return e.backend, nil }

// keepaliveRequests lifts NGINX's default of 1000 requests per
// connection (client and upstream side): neither bluejay nor HAProxy
// closes a busy keep-alive connection, and wrk would otherwise reconnect
// every 1000 requests.
const keepaliveRequests = 100000000

// nginxTemplate is the NGINX config of both the backend (Return set) and
// the proxy (Upstream set).
var nginxTemplate = template.Must(template.New("nginx").Parse(`# written by bench/proxy
worker_processes {{.Workers}};
worker_rlimit_nofile 16384;
error_log {{.Dir}}/error.log warn;
pid {{.Dir}}/nginx.pid;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path {{.Dir}}/body;
  proxy_temp_path {{.Dir}}/proxy;
  fastcgi_temp_path {{.Dir}}/fastcgi;
  uwsgi_temp_path {{.Dir}}/uwsgi;
  scgi_temp_path {{.Dir}}/scgi;
  keepalive_requests {{.KeepaliveRequests}};
  keepalive_timeout 75s;
{{- if .Upstream}}
  upstream backend {
    server {{.Upstream}};
    keepalive 64;
    keepalive_requests {{.KeepaliveRequests}};
  }
{{- end}}
  server {
    listen {{.Listen}};
{{- if .Listen2}}
    listen {{.Listen2}};
{{- end}}
    location / {
{{- if .Upstream}}
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-Proto $scheme;
{{- else}}
      default_type text/plain;
      return 200 "ok\n";
{{- end}}
    }
  }
}
`))

// haproxyTemplate is the HAProxy config: keep-alive on both sides, idle
// upstream connections reused by any client, the same forwarding headers
// as bluejay sets.
var haproxyTemplate = template.Must(template.New("haproxy").Parse(`# written by bench/proxy
global
  nbthread {{.Workers}}
  maxconn 8000
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 75s
frontend fe
  bind {{.Listen}}
  option forwardfor
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-request set-header X-Forwarded-Proto http
  default_backend be
backend be
  server s1 {{.Upstream}}
`))

// h2oTemplate is the H2O config: num-threads = workers, upstream
// connections kept alive (proxy.timeout.keepalive), the client's Host
// passed on, X-Forwarded-For and -Proto (H2O's default), and
// X-Forwarded-Host, which H2O 2.2 can only set to a fixed value: the
// Host wrk sends. No access log is configured, so none is written; as
// root H2O runs as nobody, as NGINX's workers do.
var h2oTemplate = template.Must(template.New("h2o").Parse(`# written by bench/proxy
num-threads: {{.Workers}}
max-connections: 8192
error-log: {{.Dir}}/error.log
listen:
  host: {{.Host}}
  port: {{.Port}}
proxy.timeout.keepalive: 75000
proxy.preserve-host: ON
proxy.emit-x-forwarded-headers: ON
proxy.header.set: "X-Forwarded-Host: {{.Listen}}"
hosts:
  default:
    paths:
      /:
        proxy.reverse.url: http://{{.Upstream}}/
`))

// caddyTemplate is the Caddyfile: no admin endpoint, no automatic
// HTTPS, storage in the temp dir, bound to loopback. reverse_proxy sets
// X-Forwarded-For, -Host and -Proto by default and keeps upstream
// connections alive; its idle pool is bluejay's (1024, 256 per host).
// Caddy writes no access log unless told to. Its threads are GOMAXPROCS
// = workers (set in its environment).
var caddyTemplate = template.Must(template.New("caddy").Parse(`# written by bench/proxy
{
	admin off
	auto_https off
	storage file_system {{.Dir}}/data
}
http://:{{.Port}} {
	bind {{.Host}}
	reverse_proxy {{.Upstream}} {
		transport http {
			keepalive 75s
			keepalive_idle_conns 1024
			keepalive_idle_conns_per_host 256
		}
	}
}
`))

// bluejayTemplate is the bench's bluejay.yaml, with every feature of the
// builtin proxy on (issue 21): the static platform's v1 and v2 on the
// backend's two addresses, a canary that sends header-routed requests and
// 10% of the rest to v2 and then pauses (see startBluejay), sticky keys
// in a generated cookie, the shield, outlier ejection, the version
// header, the hostile-client limits written out (their defaults, and a
// body limit, which has none), and the default background analysis
// reading the windows. Forwarding headers and the windows' HDR
// histograms are always on; the blast radius is counted while the
// rollout is active.
var bluejayTemplate = template.Must(template.New("bluejay").Parse(`# written by bench/proxy
proxy:
  listen: {{.Listen}}
  drainTimeout: 2s
  versionHeader: X-Bluejay-Version
  maxHeaderBytes: 65536
  readHeaderTimeout: 10s
  idleTimeout: 2m
  bodyTimeout: 30s
  maxBodyBuffer: 65536
  maxBodyBytes: 10485760
  upgrades: [websocket]
admin:
  listen: {{.Admin}}
  token: {{.Token}}
store:
  path: ./bluejay.db
services:
  - name: web
    version: v1
    platform:
      static:
        targets:
          v1: ["{{.Upstream}}"]
          v2: ["{{.Upstream2}}"]
    health: {path: /, interval: 1s}
    strategy: canary
    sticky: {cookie: bluejay-key}
    shield: {methods: [GET, HEAD, OPTIONS]}
    outlier: {consecutiveFailures: 5, baseEjection: 10s, maxEjection: 5m}
    canary:
      steps:
        - setHeaderRoute: {header: {{.CanaryHeader}}, exact: "1"}
        - setWeight: {{.CanaryWeight}}
        - pause: {}
        - setWeight: 100
`))

// The canary the bench holds bluejay at: v2 takes canaryWeight percent,
// and every request with canaryHeader: 1.
const (
	canaryWeight = 10
	canaryHeader = "X-Canary"
	benchToken   = "bench-token-0123456789"
)

// config fills the templates.
type config struct {
	Dir, Listen, Admin, Upstream string
	Listen2                      string // the backend's second address, v2's
	Upstream2                    string // bluejay's v2 target
	Token, CanaryHeader          string
	CanaryWeight                 int
	Host, Port                   string // Listen's parts
	Workers                      int
	KeepaliveRequests            int
}

func writeConfig(t *template.Template, path string, c config) error {
	c.KeepaliveRequests = keepaliveRequests
	c.Host, c.Port, _ = net.SplitHostPort(c.Listen)
	var sb strings.Builder
	if err := t.Execute(&sb, c); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(sb.String()), 0o644)
}

// startBackend starts the NGINX backend answering "ok\n" on two
// addresses (v1's and v2's in bluejay's config), or this program's Go
// backend when NGINX is missing.
func (e *env) startBackend(ctx context.Context) (*server, error) {
	var (
		s   *server
		err error
	)
	if e.backend2, err = freeAddr(); err != nil {
		return nil, err
	}
	if _, lookErr := exec.LookPath("nginx"); lookErr == nil {
		e.backendDesc = fmt.Sprintf("NGINX, %d worker(s), return 200 \"ok\\n\"", e.o.backendWorkers)
		s, err = e.startNginxWith(ctx, "backend", e.o.backendWorkers, "", e.backend2)
	} else {
		e.backendDesc = "nginx not found: this program's Go server answering \"ok\\n\" (a process of its own)"
		s, err = e.startGo(ctx, "backend", "", "-listen2", e.backend2)
	}
	if s != nil {
		s.shared = true
	}
	return s, err
}

func startNginx(ctx context.Context, e *env) (*server, error) {
	return e.startNginxWith(ctx, "nginx", e.o.workers, e.backend.addr, "")
}

// startNginxWith starts NGINX as a child in the foreground, proxying to
// upstream, or answering by itself when upstream is "" (on listen2 too,
// if set).
func (e *env) startNginxWith(ctx context.Context, name string, workers int, upstream, listen2 string) (*server, error) {
	dir, addr, err := e.prepare(name)
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	c := config{Dir: dir, Listen: addr, Listen2: listen2, Upstream: upstream, Workers: workers}
	if err := writeConfig(nginxTemplate, conf, c); err != nil {
		return nil, err
	}
	return startServer(ctx, name, dir, addr, nil, "nginx", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf, "-g", "daemon off;")
}

func startHAProxy(ctx context.Context, e *env) (*server, error) {
	return e.startHAProxyTo(ctx, e.backend.addr)
}

func (e *env) startHAProxyTo(ctx context.Context, upstream string) (*server, error) {
	dir, addr, err := e.prepare("haproxy")
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "haproxy.cfg")
	if err := writeConfig(haproxyTemplate, conf, config{Listen: addr, Upstream: upstream, Workers: e.o.workers}); err != nil {
		return nil, err
	}
	return startServer(ctx, "haproxy", dir, addr, nil, "haproxy", "-f", conf, "-db")
}

func startH2O(ctx context.Context, e *env) (*server, error) { return e.startH2OTo(ctx, e.backend.addr) }

// startH2OTo starts H2O in the foreground (it does not daemonize unless
// told to), proxying to upstream.
func (e *env) startH2OTo(ctx context.Context, upstream string) (*server, error) {
	dir, addr, err := e.prepare("h2o")
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "h2o.conf")
	if err := writeConfig(h2oTemplate, conf, config{Dir: dir, Listen: addr, Upstream: upstream, Workers: e.o.workers}); err != nil {
		return nil, err
	}
	return startServer(ctx, "h2o", dir, addr, nil, "h2o", "-c", conf)
}

func startCaddy(ctx context.Context, e *env) (*server, error) {
	return e.startCaddyTo(ctx, e.backend.addr)
}

// startCaddyTo starts `caddy run` with the Caddyfile, proxying to
// upstream; its home, config and data dirs are the temp dir's, and
// GOMAXPROCS is the workers.
func (e *env) startCaddyTo(ctx context.Context, upstream string) (*server, error) {
	dir, addr, err := e.prepare("caddy")
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "Caddyfile")
	if err := writeConfig(caddyTemplate, conf, config{Dir: dir, Listen: addr, Upstream: upstream, Workers: e.o.workers}); err != nil {
		return nil, err
	}
	vars := []string{"HOME=" + dir, "XDG_CONFIG_HOME=" + filepath.Join(dir, "config"), "XDG_DATA_HOME=" + filepath.Join(dir, "data"),
		"GOMAXPROCS=" + strconv.Itoa(e.o.workers)}
	return startServer(ctx, "caddy", dir, addr, vars, "caddy", "run", "--config", conf, "--adapter", "caddyfile")
}

// startBluejay starts the real `bluejay serve` with vars added to its
// environment and every proxy feature on (see bluejayTemplate), and holds it where
// the bench measures it: v1 serves, then v2 is deployed as a canary,
// which the config pauses at canaryWeight (see holdCanary).
func startBluejay(vars []string) func(context.Context, *env) (*server, error) {
	return func(ctx context.Context, e *env) (*server, error) {
		return e.startBluejayTo(ctx, vars, e.backend.addr, e.backend2)
	}
}

func (e *env) startBluejayTo(ctx context.Context, vars []string, v1, v2 string) (*server, error) {
	dir, addr, err := e.prepare("bluejay")
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	if err := writeBluejayConfig(filepath.Join(dir, "bluejay.yaml"), addr, admin, v1, v2); err != nil {
		return nil, err
	}
	s, err := startServer(ctx, "bluejay", dir, addr, vars, e.bluejay, "serve", "-c", "bluejay.yaml")
	if err != nil {
		return nil, err
	}
	c := &api.Client{Addr: admin, Token: benchToken}
	if err := holdCanary(ctx, c, s); err != nil {
		s.stop()
		return nil, err
	}
	s.check = func(ctx context.Context) error { return checkCanary(ctx, c) }
	return s, nil
}

// writeBluejayConfig writes the bench's bluejay.yaml.
func writeBluejayConfig(path, listen, admin, v1, v2 string) error {
	return writeConfig(bluejayTemplate, path, config{Listen: listen, Admin: admin, Upstream: v1, Upstream2: v2,
		Token: benchToken, CanaryHeader: canaryHeader, CanaryWeight: canaryWeight})
}

// startGoProxy starts one of this program's Go proxies (see runChild).
func startGoProxy(mode string) func(context.Context, *env) (*server, error) {
	return func(ctx context.Context, e *env) (*server, error) { return e.startGo(ctx, mode, e.backend.addr) }
}

// startGo starts this program in one of its child modes: the backend
// when upstream is "", else a proxy to upstream.
func (e *env) startGo(ctx context.Context, mode, upstream string, extra ...string) (*server, error) {
	dir, addr, err := e.prepare(mode)
	if err != nil {
		return nil, err
	}
	args := append([]string{e.self, "-child", mode, "-listen", addr, "-upstream", upstream}, extra...)
	return startServer(ctx, mode, dir, addr, nil, args[0], args[1:]...)
}

// prepare makes a server's working dir and picks its address.
func (e *env) prepare(name string) (dir, addr string, err error) {
	if dir, err = e.workdir(name); err != nil {
		return "", "", err
	}
	addr, err = freeAddr()
	return dir, addr, err
}
