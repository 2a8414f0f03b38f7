package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/api"
)

// configTemplate is the bench's bluejay.yaml. The smoke test reads
// /version, which the sample app's fault flags leave alone: every broken
// canary reaches its 1% step and is judged under user traffic.
const configTemplate = `# written by bench/blast-radius
proxy:
  listen: {{.Proxy}}
  versionHeader: X-Bluejay-Version
  drainTimeout: 5s
admin:
  listen: {{.Admin}}
  token: bench-token
store:
  path: ./bluejay.db
services:
  - name: web
    version: v1
    platform:
      process:
        command: [{{.Bin}}, "app", "--port", "{{"{{.Port}}"}}", "--version", "{{"{{.Version}}"}}"]
        replicas: 2
        stopGrace: 2s
    health: {path: /healthz, interval: 200ms, timeout: 200ms, healthyThreshold: 2, unhealthyThreshold: 3, readyTimeout: 10s}
    smoke:
      - {path: /version, expectStatus: 200}
    canary:
      analysis: fast
      scaleDownDelay: 2s
      abortScaleDownDelay: 1s
{{- if .Baseline}}
      baseline: {{.Baseline}}
{{- end}}
      steps:
        - setWeight: {{.Weight}}
        - analysis: {template: fast, duration: {{.Analysis}}}
        - setWeight: 100
analysis:
  fast:
    interval: 1s
    minRequests: {{.MinRequests}}
    metrics:
      - name: error-rate
        judge: sequential
        condition: "canary.errorRate <= baseline.errorRate * 1.5 + 0.001"
      - name: latency
        judge: mann-whitney
        effectSize: 1.2
      - name: p99
        judge: threshold
        condition: "canary.p99 <= baseline.p99 * 1.2 + 50"
`

// settings fill configTemplate.
type settings struct {
	Weight      int
	Analysis    time.Duration
	MinRequests int
	Baseline    string // canary.baseline; "" leaves the default (stable)
}

// bluejay is a `bluejay serve` process in a temp dir.
type bluejay struct {
	dir, bin, log string
	proxy, admin  string
	client        *api.Client
	cmd           *exec.Cmd
	done          chan struct{}
}

// startBluejay builds bluejay, writes the config and starts serve, then
// waits for the first version to serve.
func startBluejay(ctx context.Context, s settings) (*bluejay, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bluejay-blast-radius-")
	if err != nil {
		return nil, err
	}
	b := &bluejay{dir: dir, bin: filepath.Join(dir, "bluejay"), log: filepath.Join(dir, "serve.log")}
	build := exec.CommandContext(ctx, "go", "build", "-o", b.bin, "./cmd/bluejay")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return b, fmt.Errorf("go build ./cmd/bluejay: %w\n%s", err, out)
	}
	if b.proxy, b.admin, err = freeAddrs(); err != nil {
		return b, err
	}
	if err := b.writeConfig(s); err != nil {
		return b, err
	}
	logf, err := os.Create(b.log)
	if err != nil {
		return b, err
	}
	defer logf.Close() // the child holds its own copy
	b.cmd = exec.Command(b.bin, "serve", "-c", "bluejay.yaml")
	b.cmd.Dir, b.cmd.Stdout, b.cmd.Stderr = dir, logf, logf
	// Its own process group: a Ctrl-C reaches the bench, which stops
	// serve with SIGTERM once it has printed what it has.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		return b, fmt.Errorf("starting bluejay serve: %w", err)
	}
	b.done = make(chan struct{})
	go func() { b.cmd.Wait(); close(b.done) }()
	b.client = &api.Client{Addr: b.admin, Token: "bench-token"}
	return b, b.waitFirstVersion(ctx)
}

func (b *bluejay) writeConfig(s settings) error {
	var sb strings.Builder
	t := template.Must(template.New("config").Parse(configTemplate))
	err := t.Execute(&sb, map[string]any{"Proxy": b.proxy, "Admin": b.admin, "Bin": fmt.Sprintf("%q", b.bin),
		"Weight": s.Weight, "Analysis": s.Analysis.String(), "MinRequests": s.MinRequests, "Baseline": s.Baseline})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.dir, "bluejay.yaml"), []byte(sb.String()), 0o600)
}

// waitFirstVersion polls the admin API until v1's first rollout completed.
func (b *bluejay) waitFirstVersion(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		st, err := b.client.Service(ctx, "web")
		if err == nil && st.Stable == "v1" && st.Rollout.Phase.Terminal() {
			return nil
		}
		select {
		case <-b.done:
			return fmt.Errorf("bluejay serve exited (see %s)", b.log)
		case <-ctx.Done():
			return fmt.Errorf("v1 not serving after 30s (last: %v; see %s)", err, b.log)
		case <-time.After(50 * time.Millisecond): // poll interval
		}
	}
}

// stop sends SIGTERM, and SIGKILL after 20s.
func (b *bluejay) stop() {
	if b.cmd == nil || b.cmd.Process == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(20 * time.Second):
		b.cmd.Process.Kill()
		<-b.done
	}
}

// moduleRoot is the directory of the main module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run from inside the bluejay module (go run ./bench/blast-radius)")
	}
	return filepath.Dir(mod), nil
}

// freeAddrs returns two loopback addresses that were free a moment ago.
func freeAddrs() (string, string, error) {
	var addrs []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", "", err
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs[0], addrs[1], nil
}
