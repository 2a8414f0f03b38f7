package proxy

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

func TestStatusFor(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	live := context.Background()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	timeout := &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"no route", live, errNoRoute, http.StatusNotFound},
		{"no instance", live, errNoInstance, http.StatusServiceUnavailable},
		{"connection refused", live, refused, http.StatusBadGateway},
		{"connection reset", live, syscall.ECONNRESET, http.StatusBadGateway},
		{"net timeout", live, timeout, http.StatusGatewayTimeout},
		{"deadline", live, fmt.Errorf("round trip: %w", context.DeadlineExceeded), http.StatusGatewayTimeout},
		{"client gone", canceled, context.Canceled, StatusClientClosedRequest},
		{"client gone wins over what it caused", canceled, refused, StatusClientClosedRequest},
		{"cancel not from the client", live, context.Canceled, http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statusFor(tt.ctx, tt.err); got != tt.want {
				t.Errorf("statusFor(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "",
		"example.com":      "example.com",
		"Example.COM:8080": "example.com",
		"[::1]:80":         "::1",
		"[::1]":            "::1",
		"10.0.0.1:443":     "10.0.0.1",
	} {
		if got := normalizeHost(in); got != want {
			t.Errorf("normalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPickSkipsIneligible pins the cumulative weights: with weights 0, 30,
// 70 and a random number n, the pick is v2 below 30 and v3 from 30 up.
func TestPickSkipsIneligible(t *testing.T) {
	p := &Proxy{}
	rt := p.compile(routeOf("web", "", "", 0, 30, 70))
	for n, want := range map[uint64]string{0: "v2", 29: "v2", 30: "v3", 99: "v3", 100: "v2", 130: "v3"} {
		if got := rt.pick(n).version; got != want {
			t.Errorf("pick(%d) = %s, want %s", n, got, want)
		}
	}
}

// routeOf builds a route with versions v1, v2, ... of the given weights,
// each with two addresses that are never dialed.
func routeOf(service, host, prefix string, weights ...int) router.Route {
	r := router.Route{Service: service, Host: host, PathPrefix: prefix}
	for i, w := range weights {
		r.Backends = append(r.Backends, router.Backend{
			Version: fmt.Sprintf("v%d", i+1),
			Weight:  w,
			Addrs:   []string{fmt.Sprintf("127.0.0.1:%d", 10000+2*i), fmt.Sprintf("127.0.0.1:%d", 10001+2*i)},
		})
	}
	return r
}
