package checks

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// grpcHealthServer serves the standard gRPC health service: the server
// ("") and "echo" SERVING, "down" NOT_SERVING. It returns the address and
// the health server, to change a status.
func grpcHealthServer(t *testing.T) (string, *health.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("echo", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return ln.Addr().String(), hs
}

func TestGRPCProbe(t *testing.T) {
	up, _ := grpcHealthServer(t)
	refused := refusedAddr(t)
	for _, tt := range []struct {
		name, addr, service string
		wantErr             string // "" means pass
	}{
		{"server SERVING", up, "", ""},
		{"service SERVING", up, "echo", ""},
		{"NOT_SERVING fails", up, "down", `grpc health check of "down" on ` + up + `: NOT_SERVING`},
		{"unknown service fails", up, "nope", "NotFound"},
		{"unreachable fails", refused, "", `grpc health check of "" on ` + refused + `: Unavailable`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := GRPCProbe(ctx, tt.addr, tt.service)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("GRPCProbe: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("GRPCProbe: err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestMonitorGRPC: with health.grpc the monitor probes the gRPC health
// service, and follows its status.
func TestMonitorGRPC(t *testing.T) {
	addr, hs := grpcHealthServer(t)
	cfg := fast
	cfg.GRPC = &spec.GRPCCheck{Service: "echo"}
	m := runMonitor(t, cfg)
	m.Watch(addr)
	waitFor(t, "ready", func() bool { return m.Ready(addr) })
	hs.SetServingStatus("echo", healthpb.HealthCheckResponse_NOT_SERVING)
	waitFor(t, "out", func() bool { return !m.Ready(addr) })
	if st := m.Status(addr); !strings.Contains(st.LastError, "NOT_SERVING") {
		t.Errorf("last error = %q, want NOT_SERVING", st.LastError)
	}
}

// TestSmokeGRPC: a grpc smoke test passes on SERVING and names the
// check and the status when it fails.
func TestSmokeGRPC(t *testing.T) {
	addr, _ := grpcHealthServer(t)
	tests := []spec.Smoke{{GRPC: &spec.GRPCCheck{Service: "echo"}}}
	if res := RunSmoke(context.Background(), nil, []string{addr}, tests); !res.Passed {
		t.Fatalf("smoke = %+v, want passed", res)
	}
	tests = []spec.Smoke{{GRPC: &spec.GRPCCheck{Service: "down"}}}
	res := RunSmoke(context.Background(), nil, []string{addr}, tests)
	if res.Passed || res.Check != "grpc health down" || !strings.Contains(res.Reason, "NOT_SERVING") {
		t.Errorf("smoke = %+v, want failed on grpc health down with NOT_SERVING", res)
	}
}

// TestHTTP2ClientProbesAnH2CInstance: an instance that speaks only
// HTTP/2 without TLS fails an HTTP/1.1 probe and passes one from
// HTTP2Client.
func TestHTTP2ClientProbesAnH2CInstance(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			w.WriteHeader(http.StatusHTTPVersionNotSupported)
		}
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Probe(ctx, &http.Client{}, addr, "/healthz"); err == nil {
		t.Errorf("an HTTP/1.1 probe of an h2c-only instance passed")
	}
	if err := Probe(ctx, HTTP2Client(&http.Client{}), addr, "/healthz"); err != nil {
		t.Errorf("HTTP2Client probe: %v", err)
	}
}

// countingListener counts the connections it accepted.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// TestMonitorGRPCKeepsItsConnection: a monitor's gRPC health checks
// reuse one connection (issue 22: dialing for every probe), and a
// forgotten address's connection is closed.
func TestMonitorGRPCKeepsItsConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	var checks atomic.Int64
	s := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		checks.Add(1)
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(s, health.NewServer())
	go s.Serve(cl)
	t.Cleanup(s.Stop)
	addr := ln.Addr().String()

	cfg := fast
	cfg.GRPC = &spec.GRPCCheck{}
	// Roomy: a probe that times out drops its connection.
	cfg.Interval, cfg.Timeout = spec.Duration(100*time.Millisecond), spec.Duration(100*time.Millisecond)
	m := runMonitor(t, cfg)
	m.Watch(addr)
	waitFor(t, "10 health checks", func() bool { return checks.Load() >= 10 })
	if n := cl.n.Load(); n > 3 {
		t.Errorf("%d connections for %d health checks, want them to reuse one", n, checks.Load())
	}
	m.Forget(addr)
	m.mu.Lock()
	_, watched := m.targets[addr]
	m.mu.Unlock()
	if watched {
		t.Fatal("still watched")
	}
}
