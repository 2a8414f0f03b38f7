package loadgen_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/loadgen"
	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

// backend is a test server that counts the requests it received.
type backend struct {
	*httptest.Server
	hits atomic.Int64
}

func newBackend(t *testing.T, h http.HandlerFunc) *backend {
	t.Helper()
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(b.Close)
	return b
}

// addr is the server's host:port.
func (b *backend) addr() string { return strings.TrimPrefix(b.URL, "http://") }

// fixed returns an Addrs func that always returns addrs.
func fixed(addrs ...string) func() []string { return func() []string { return addrs } }

// start runs g in the background until the returned stop is called; stop
// returns once Run has.
func start(t *testing.T, g *loadgen.Generator, targets ...loadgen.Target) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.Run(ctx, targets...)
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return within 10s of its context's end")
		}
	}
	t.Cleanup(stop)
	return stop
}

// eventually polls cond until it holds or 10s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// closedAddr returns an address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// all returns the version's sample over a window that holds every request
// of a test.
func all(g *loadgen.Generator, version string) metrics.Sample {
	return g.Sample(version, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}
