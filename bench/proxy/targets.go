package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
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
	{"bluejay", "go", startBluejay},
	{"nginx", "nginx", startNginx},
	{"haproxy", "haproxy", startHAProxy},
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
    location / {
{{- if .Upstream}}
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Host $host;
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

// bluejayTemplate is the bench's bluejay.yaml: the static platform's one
// target, health checked every second, no smoke test.
var bluejayTemplate = template.Must(template.New("bluejay").Parse(`# written by bench/proxy
proxy:
  listen: {{.Listen}}
  drainTimeout: 2s
admin:
  listen: {{.Admin}}
  token: bench-token
store:
  path: ./bluejay.db
services:
  - name: web
    version: v1
    platform:
      static:
        targets:
          v1: ["{{.Upstream}}"]
    health: {path: /, interval: 1s}
`))

// config fills the templates.
type config struct {
	Dir, Listen, Admin, Upstream string
	Workers                      int
	KeepaliveRequests            int
}

func writeConfig(t *template.Template, path string, c config) error {
	c.KeepaliveRequests = keepaliveRequests
	var sb strings.Builder
	if err := t.Execute(&sb, c); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(sb.String()), 0o644)
}

// startBackend starts the NGINX backend answering "ok\n", or this
// program's Go backend when NGINX is missing.
func (e *env) startBackend(ctx context.Context) (*server, error) {
	var (
		s   *server
		err error
	)
	if _, lookErr := exec.LookPath("nginx"); lookErr == nil {
		e.backendDesc = fmt.Sprintf("NGINX, %d worker(s), return 200 \"ok\\n\"", e.o.backendWorkers)
		s, err = e.startNginxWith(ctx, "backend", e.o.backendWorkers, "")
	} else {
		e.backendDesc = "nginx not found: this program's Go server answering \"ok\\n\" (a process of its own)"
		s, err = e.startGo(ctx, "backend", "")
	}
	if s != nil {
		s.shared = true
	}
	return s, err
}

func startNginx(ctx context.Context, e *env) (*server, error) {
	return e.startNginxWith(ctx, "nginx", e.o.workers, e.backend.addr)
}

// startNginxWith starts NGINX as a child in the foreground, proxying to
// upstream, or answering by itself when upstream is "".
func (e *env) startNginxWith(ctx context.Context, name string, workers int, upstream string) (*server, error) {
	dir, err := e.workdir(name)
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	c := config{Dir: dir, Listen: addr, Upstream: upstream, Workers: workers}
	if err := writeConfig(nginxTemplate, conf, c); err != nil {
		return nil, err
	}
	return startServer(ctx, name, dir, addr, "nginx", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf, "-g", "daemon off;")
}

func startHAProxy(ctx context.Context, e *env) (*server, error) {
	dir, err := e.workdir("haproxy")
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "haproxy.cfg")
	if err := writeConfig(haproxyTemplate, conf, config{Listen: addr, Upstream: e.backend.addr, Workers: e.o.workers}); err != nil {
		return nil, err
	}
	return startServer(ctx, "haproxy", dir, addr, "haproxy", "-f", conf, "-db")
}

// startBluejay starts the real `bluejay serve` and waits until a request
// through its proxy is answered: v1 is deployed and routed.
func startBluejay(ctx context.Context, e *env) (*server, error) {
	dir, err := e.workdir("bluejay")
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	c := config{Listen: addr, Admin: admin, Upstream: e.backend.addr}
	if err := writeConfig(bluejayTemplate, filepath.Join(dir, "bluejay.yaml"), c); err != nil {
		return nil, err
	}
	return startServer(ctx, "bluejay", dir, addr, e.bluejay, "serve", "-c", "bluejay.yaml")
}

// startGoProxy starts one of this program's Go proxies (see runChild).
func startGoProxy(mode string) func(context.Context, *env) (*server, error) {
	return func(ctx context.Context, e *env) (*server, error) { return e.startGo(ctx, mode, e.backend.addr) }
}

// startGo starts this program in one of its child modes: the backend
// when upstream is "", else a proxy to upstream.
func (e *env) startGo(ctx context.Context, mode, upstream string, extra ...string) (*server, error) {
	dir, err := e.workdir(mode)
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{e.self, "-child", mode, "-listen", addr, "-upstream", upstream}, extra...)
	return startServer(ctx, mode, dir, addr, args[0], args[1:]...)
}
