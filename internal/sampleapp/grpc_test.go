package sampleapp

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// startGRPC serves the --grpc mode with o on a loopback port until the
// test ends and returns a client of it.
func startGRPC(t *testing.T, o options) *grpc.ClientConn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveGRPC(ctx, o, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serveGRPC: %v", err)
		}
	})
	conn, err := grpc.NewClient("passthrough:///"+ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func healthOf(t *testing.T, conn *grpc.ClientConn, service string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	res, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatal(err)
	}
	return res.GetStatus()
}

// TestGRPCMode: the --grpc mode serves the health service and Echo; its
// fault flags fail calls with UNAVAILABLE and the health service with
// NOT_SERVING.
func TestGRPCMode(t *testing.T) {
	conn := startGRPC(t, options{version: "v7", port: 1})
	if got := healthOf(t, conn, EchoService); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health = %s, want SERVING", got)
	}
	if got, err := Say(context.Background(), conn, "hi"); err != nil || got != "version=v7 instance=1: hi" {
		t.Errorf("Say = %q, %v", got, err)
	}
	next, err := Tick(context.Background(), conn, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if msg, err := next(); err != nil || !strings.HasSuffix(msg, "tick="+string(rune('1'+i))) {
			t.Errorf("tick %d = %q, %v", i+1, msg, err)
		}
	}

	conn = startGRPC(t, options{version: "v8", port: 1, errorRate: 1, failHealth: true})
	if got := healthOf(t, conn, ""); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health with --fail-health = %s, want NOT_SERVING", got)
	}
	if _, err := Say(context.Background(), conn, "hi"); status.Code(err) != codes.Unavailable {
		t.Errorf("Say with --error-rate 1 = %v, want UNAVAILABLE", err)
	}
}

// TestCallMode: --call counts the answers by version and the failures
// by code.
func TestCallMode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go serveGRPC(ctx, options{version: "v3", port: 1, errorRate: 0.5}, ln)
	var out bytes.Buffer
	if err := callLoop(context.Background(), ln.Addr().String(), 200, 500*time.Millisecond, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	last := lines[len(lines)-1]
	if !strings.Contains(last, " v3=") || !strings.Contains(last, " UNAVAILABLE=") {
		t.Errorf("summary %q, want calls answered by v3 and failed UNAVAILABLE", last)
	}
}
