package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/enginetest"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// TestBluejayConfigValidates: the bluejay.yaml the bench writes passes
// `bluejay validate --strict` (spec.Load, no warnings), with every
// feature of the builtin proxy issue 21 names switched on.
func TestBluejayConfigValidates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bluejay.yaml")
	if err := writeBluejayConfig(path, "127.0.0.1:18080", "127.0.0.1:17070", "127.0.0.1:18181", "127.0.0.1:18182"); err != nil {
		t.Fatal(err)
	}
	cfg, err := spec.Load(path)
	if err != nil {
		t.Fatalf("bluejay validate would refuse the bench's config: %v", err)
	}
	if w := cfg.Warnings(); len(w) > 0 {
		t.Errorf("bluejay validate --strict would refuse the bench's config: %v", w)
	}
	p := cfg.Proxy
	if p.VersionHeader == "" || p.MaxHeaderBytes == 0 || p.MaxBodyBytes == 0 || p.MaxBodyBuffer == 0 || p.BodyTimeout == 0 || p.ReadHeaderTimeout == 0 {
		t.Errorf("proxy: version header and the hostile-client limits should all be set: %+v", p)
	}
	s := cfg.Services[0]
	if s.Sticky == nil || s.Shield == nil || s.Outlier == nil {
		t.Errorf("service: sticky %v, shield %v, outlier %v: all should be set", s.Sticky, s.Shield, s.Outlier)
	}
	if s.Strategy != spec.StrategyCanary {
		t.Errorf("strategy %q, want canary", s.Strategy)
	}
	targets := s.Platform.Static.Targets
	if len(targets["v1"]) != 1 || len(targets["v2"]) != 1 || targets["v1"][0] == targets["v2"][0] {
		t.Errorf("static targets %v: want v1 and v2 on two addresses", targets)
	}
	var route, weight, pause bool
	for _, st := range s.Canary.Steps {
		switch {
		case st.SetHeaderRoute != nil:
			route = st.SetHeaderRoute.Header == canaryHeader
		case st.SetWeight != nil && !pause:
			weight = *st.SetWeight == canaryWeight
		case st.Pause != nil && weight:
			pause = st.Pause.Duration == 0
		}
	}
	if !route || !weight || !pause {
		t.Errorf("canary steps: header route %v, weight %d%% %v, then an untimed pause %v; want all three", route, canaryWeight, weight, pause)
	}
}

// capture is a backend that records the forwarding headers of the last
// request and counts the connections made to it.
type capture struct {
	*httptest.Server
	conns   atomic.Int64
	mu      sync.Mutex
	headers http.Header
}

func newCapture(t *testing.T) *capture {
	c := &capture{}
	c.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.headers = r.Header.Clone()
		c.mu.Unlock()
		io.WriteString(w, "ok\n")
	}))
	c.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.conns.Add(1)
		}
	}
	c.Start()
	t.Cleanup(c.Close)
	return c
}

func (c *capture) header(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.headers.Get(name)
}

// testEnv is an env with a temp dir, for starting the bench's servers
// in a test.
func testEnv(t *testing.T) *env {
	dir := t.TempDir()
	// NGINX's workers and H2O run as nobody when started by root.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &env{o: options{workers: 2}, dir: dir}
}

// TestPeersForward starts each peer as the bench configures it in front
// of a backend and checks that it answers 200 through, sets
// X-Forwarded-For, -Host and -Proto, and keeps its backend connection
// alive across requests.
func TestPeersForward(t *testing.T) {
	peers := []struct {
		name, bin string
		start     func(*env, context.Context, string) (*server, error)
	}{
		{"nginx", "nginx", func(e *env, ctx context.Context, up string) (*server, error) {
			return e.startNginxWith(ctx, "nginx", e.o.workers, up, "")
		}},
		{"haproxy", "haproxy", (*env).startHAProxyTo},
		{"h2o", "h2o", (*env).startH2OTo},
		{"caddy", "caddy", (*env).startCaddyTo},
	}
	for _, p := range peers {
		t.Run(p.name, func(t *testing.T) {
			if _, err := exec.LookPath(p.bin); err != nil {
				enginetest.Missing(t, p.name, err)
			}
			backend := newCapture(t)
			e := testEnv(t)
			srv, err := p.start(e, context.Background(), backend.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.stop)
			before := backend.conns.Load() // the readiness GETs'
			client := &http.Client{Timeout: 10 * time.Second}
			defer client.CloseIdleConnections()
			const n = 10
			for range n {
				res, err := client.Get("http://" + srv.addr + "/")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK || string(body) != "ok\n" {
					t.Fatalf("GET through %s: %s %q, want 200 \"ok\\n\"", p.name, res.Status, body)
				}
			}
			for name, want := range map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": srv.addr, "X-Forwarded-Proto": "http"} {
				if got := backend.header(name); got != want {
					t.Errorf("%s: %q at the backend, want %q", name, got, want)
				}
			}
			if made := backend.conns.Load() - before; made >= n {
				t.Errorf("%d connections to the backend for %d requests: not kept alive", made, n)
			}
		})
	}
}

// TestBluejayHoldsCanary starts bluejay as the bench does, with v1 and
// v2 on two backends: its canary pauses at canaryWeight, the header route
// reaches v2 (holdCanary checks it), about canaryWeight% of requests go
// to v2, a sticky cookie keeps its user on one version, and the canary is
// still paused after the load (what the bench checks after each run).
func TestBluejayHoldsCanary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds bluejay and runs two rollouts")
	}
	v1, v2 := newCapture(t), newCapture(t)
	e := testEnv(t)
	ctx := context.Background()
	if err := e.buildBluejay(ctx); err != nil {
		t.Fatal(err)
	}
	srv, err := e.startBluejayTo(ctx, nil, v1.Listener.Addr().String(), v2.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.stop)
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	get := func(cookie *http.Cookie) (version string, c *http.Cookie) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+srv.addr+"/", nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET: %s", res.Status)
		}
		if cs := res.Cookies(); len(cs) > 0 {
			c = cs[0]
		}
		return res.Header.Get("X-Bluejay-Version"), c
	}
	// 2000 requests at p = 0.1: mean 200, σ 13.4; 5σ either side.
	const n = 2000
	v2s := 0
	for range n {
		if v, _ := get(nil); v == "v2" {
			v2s++
		}
	}
	if v2s < 133 || v2s > 267 {
		t.Errorf("%d of %d requests on v2, want about %d%% (133..267)", v2s, n, canaryWeight)
	}
	first, cookie := get(nil)
	if cookie == nil {
		t.Fatal("no sticky cookie generated")
	}
	for range 20 {
		if v, _ := get(cookie); v != first {
			t.Fatalf("with cookie %s, %s then %s: not sticky", cookie.Value, first, v)
		}
	}
	if err := srv.check(ctx); err != nil {
		t.Error(err)
	}
}

// TestStartServerNotFooledByAnotherListener pins a bug seen on the shared
// machine: another program took a proxy's port between freeAddr and the
// proxy's bind, answered the readiness GET with 200, and the bench went
// on to measure a proxy that had exited ("Address already in use").
func TestStartServerNotFooledByAnotherListener(t *testing.T) {
	other := newCapture(t) // answers 200 on the address the "server" claims
	_, err := startServer(context.Background(), "sleeper", t.TempDir(), other.Listener.Addr().String(), nil, "sleep", "1")
	if err == nil || !strings.Contains(err.Error(), "exited before answering") {
		t.Errorf("startServer of a program that never listens, on an address another answers: %v, want \"exited before answering\"", err)
	}
	me, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	self := &server{name: "test", addr: other.Listener.Addr().String(), cmd: &exec.Cmd{Process: me}}
	if !self.listening() {
		t.Errorf("listening() of this test process, which holds %s: false", self.addr)
	}
}
