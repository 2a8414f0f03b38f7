package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/api"
)

// backends are the two servers every service's v1 and v2 route to.
//
// Both listen on every address (port v1Port and v2Port), so that each
// service's instances can have loopback addresses of their own
// (instanceAddr), as instances have in production: with one address
// for all, every probe and proxied request of every service shares one
// host's keep-alive pool (health probes keep one idle connection per
// host) and one destination's ephemeral ports, and at 2,000 services
// probing each second the dials that follow exhaust the ports (tens of
// thousands of sockets in TIME_WAIT) and the probes time out. -one-addr
// keeps that setup.
type backends struct {
	kind    string // "nginx" or "go"
	v1, v2  string // 127.0.0.1:port, for messages
	v1Port  string
	v2Port  string
	oneAddr bool // every service's instances on 127.0.0.1
	stop    func()
}

// addr is the address of service i's instance of version v ("v1" or
// "v2").
func (be *backends) addr(i int, v string) string {
	port := be.v1Port
	if v == "v2" {
		port = be.v2Port
	}
	if be.oneAddr {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return net.JoinHostPort(instanceIP(i), port)
}

// instanceIP is service i's loopback address, 127.a.b.c with b and c
// from 1 to 250 (all of 127/8 reaches the loopback interface on Linux).
func instanceIP(i int) string {
	return fmt.Sprintf("127.%d.%d.%d", 1+i/62500, 1+(i/250)%250, 1+i%250)
}

const nginxPath = "/usr/sbin/nginx"

// startBackends starts NGINX answering 200 "version=vN" on two ports,
// or, without NGINX, two HTTP servers in this process.
func startBackends(ctx context.Context, dir string, oneAddr bool) (*backends, error) {
	addrs, err := freeAddrs(2)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(nginxPath); err == nil {
		be, err := startNginx(ctx, dir, addrs[0], addrs[1])
		if be != nil {
			be.oneAddr = oneAddr
		}
		return be, err
	}
	be := &backends{kind: "go (no " + nginxPath + ")", v1: addrs[0], v2: addrs[1], oneAddr: oneAddr}
	be.v1Port, be.v2Port = port(addrs[0]), port(addrs[1])
	var servers []*http.Server
	for _, a := range []struct{ addr, version string }{{addrs[0], "v1"}, {addrs[1], "v2"}} {
		ln, err := net.Listen("tcp", "0.0.0.0:"+port(a.addr))
		if err != nil {
			return nil, err
		}
		body := []byte("version=" + a.version + "\n")
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(body) })}
		go srv.Serve(ln)
		servers = append(servers, srv)
	}
	be.stop = func() {
		for _, s := range servers {
			s.Close()
		}
	}
	return be, nil
}

func startNginx(ctx context.Context, dir, v1, v2 string) (*backends, error) {
	ndir := filepath.Join(dir, "nginx")
	if err := os.MkdirAll(ndir, 0o755); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`# written by bench/scale
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    keepalive_requests 1000000;
    server { listen %[2]s; location / { return 200 "version=v1\n"; } }
    server { listen %[3]s; location / { return 200 "version=v2\n"; } }
}
`, ndir, port(v1), port(v2))
	path := filepath.Join(ndir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(nginxPath, "-p", ndir, "-e", filepath.Join(ndir, "error.log"), "-c", path, "-g", "daemon off;")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := os.Create(filepath.Join(ndir, "stderr.log"))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting nginx: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	be := &backends{kind: "nginx", v1: v1, v2: v2, v1Port: port(v1), v2Port: port(v2), stop: func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}}
	deadline := time.Now().Add(20 * time.Second)
	for _, a := range []string{v1, v2} {
		for {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-done:
				return nil, fmt.Errorf("nginx exited (see %s)", ndir)
			case <-ctx.Done():
				be.stop()
				return nil, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				be.stop()
				return nil, fmt.Errorf("nginx does not listen on %s after 20s", a)
			}
		}
	}
	return be, nil
}

// bluejay is the `bluejay serve` process.
type bluejay struct {
	dir, bin, log string
	proxy, admin  string
	client        *api.Client
	cmd           *exec.Cmd
	started       time.Time
	done          chan struct{}
}

// startBluejay builds bluejay, writes the config (with storeConfig, its
// store section) and starts serve.
func startBluejay(ctx context.Context, dir string, s settings, be *backends, storeConfig string) (*bluejay, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	b := &bluejay{dir: dir, bin: filepath.Join(dir, "bluejay"), log: filepath.Join(dir, "serve.log")}
	build := exec.CommandContext(ctx, "go", "build", "-o", b.bin, "./cmd/bluejay")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/bluejay: %w\n%s", err, out)
	}
	addrs, err := freeAddrs(2)
	if err != nil {
		return nil, err
	}
	b.proxy, b.admin = addrs[0], addrs[1]
	if err := os.WriteFile(filepath.Join(dir, "bluejay.yaml"), []byte(config(s, b.proxy, b.admin, be, storeConfig)), 0o600); err != nil {
		return nil, err
	}
	if err := b.launch("serve", "-c", "bluejay.yaml"); err != nil {
		return nil, err
	}
	b.client = &api.Client{Addr: b.admin, Token: "bench-token"}
	return b, nil
}

// launch starts b.bin with args in b.dir, its output to b.log, in a
// process group of its own.
func (b *bluejay) launch(args ...string) error {
	logf, err := os.Create(b.log)
	if err != nil {
		return err
	}
	defer logf.Close()
	b.cmd = exec.Command(b.bin, args...)
	b.cmd.Dir, b.cmd.Stdout, b.cmd.Stderr = b.dir, logf, logf
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	b.started = time.Now()
	if err := b.cmd.Start(); err != nil {
		return fmt.Errorf("starting bluejay %s: %w", args[0], err)
	}
	b.done = make(chan struct{})
	go func() { b.cmd.Wait(); close(b.done) }()
	return nil
}

// config is the bench's bluejay.yaml: n services, each matched by its
// path prefix, v1 on the v1 backend (at the service's own address, see
// backends); storeConfig is its store section.
func config(s settings, proxy, admin string, be *backends, storeConfig string) string {
	// proxy is "host:port", or "host:port\n  control: host:port" for a
	// `bluejay proxy` of the fleet.
	var sb strings.Builder
	fmt.Fprintf(&sb, `# written by bench/scale
proxy:
  listen: %s
admin:
  listen: %s
  token: bench-token
  pprof: true
%s
services:
`, proxy, admin, storeConfig)
	for i := range s.N {
		fmt.Fprintf(&sb, `  - name: %s
    match: {pathPrefix: /%s/}
    version: v1
    platform: {static: {targets: {v1: [%q]}}}
    health: {path: /healthz, interval: %s, timeout: %s}
    blueGreen: {watch: %s, scaleDownDelay: 5s, maxErrorRate: 0.01, minRequests: %d}
`, serviceName(i), serviceName(i), be.addr(i, "v1"), s.Health, min(s.Health, time.Second), s.Watch, s.MinRequests)
	}
	return sb.String()
}

func (b *bluejay) stop() {
	if b.cmd == nil || b.cmd.Process == nil {
		return
	}
	syscall.Kill(-b.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(15 * time.Second):
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-b.done
	}
}

// waitAllServed requests every service's path through the proxy until
// each answered 200 once, or limit passed; it returns how many did. The
// error is for a bluejay that exited or a cancelled run.
func (b *bluejay) waitAllServed(ctx context.Context, n int, limit time.Duration) (int, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	var (
		next    atomic.Int64
		served  atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		failure error
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				for !get(ctx, client, "http://"+b.proxy+"/"+serviceName(i)+"/") {
					select {
					case <-b.done:
						errOnce.Do(func() { failure = fmt.Errorf("bluejay exited (see %s)", b.log) })
						return
					case <-ctx.Done():
						if parent.Err() != nil {
							errOnce.Do(func() { failure = parent.Err() })
						}
						return
					case <-time.After(200 * time.Millisecond):
					}
				}
				served.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(served.Load()), failure
}

// get reports whether GET url answered 200.
func get(ctx context.Context, c *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// load sends rps requests per second through the proxy, to the services
// in turn, and counts those that failed (an error or not 200).
type load struct {
	total, failed atomic.Int64
	quit          chan struct{}
	once          sync.Once
	wg            sync.WaitGroup
}

func startLoad(ctx context.Context, proxy string, n, rps int) *load {
	g := &load{quit: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	due := make(chan int, 64)
	for range 32 {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			for i := range due {
				g.total.Add(1)
				if !get(context.Background(), client, "http://"+proxy+"/"+serviceName(i)+"/") {
					g.failed.Add(1)
				}
			}
		}()
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer close(due)
		start := time.Now()
		for k := 0; ; k++ {
			at := start.Add(time.Duration(k) * time.Second / time.Duration(rps))
			select {
			case <-g.quit:
				return
			case <-ctx.Done():
				return
			case <-time.After(time.Until(at)):
			}
			select {
			case due <- k % n:
			default: // every worker busy: skip rather than pile up
			}
		}
	}()
	return g
}

func (g *load) stop() {
	g.once.Do(func() { close(g.quit) })
	g.wg.Wait()
}

// cpuOver is the CPU the process used over d, in cores, from the user
// and system times in /proc/PID/stat.
func cpuOver(ctx context.Context, pid int, d time.Duration) (float64, error) {
	t0, err := cpuTicks(pid)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := sleep(ctx, d); err != nil {
		return 0, err
	}
	t1, err := cpuTicks(pid)
	if err != nil {
		return 0, err
	}
	const hz = 100 // USER_HZ on Linux
	return float64(t1-t0) / hz / time.Since(start).Seconds(), nil
}

func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	return utime + stime, errors.Join(err1, err2)
}

// peakRSS is VmHWM from /proc/PID/status, in bytes.
func peakRSS(pid int) (int64, error) { return procStatus(pid, "VmHWM:") }

// procStatus is a size in kB from /proc/PID/status, in bytes.
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// port is the port of host:port.
func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// freeAddrs returns n loopback addresses that were free a moment ago.
func freeAddrs(n int) ([]string, error) {
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		out = append(out, ln.Addr().String())
	}
	return out, nil
}

// moduleRoot is the directory of go.mod, found from the working
// directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}
