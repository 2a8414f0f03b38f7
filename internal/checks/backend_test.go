package checks

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// backend is a real HTTP server whose health endpoint answers with a
// status the test sets, and which counts the probes it received.
type backend struct {
	*httptest.Server
	status atomic.Int32 // 0 means 200
	flap   atomic.Bool  // alternate 200 and 503, starting with 503
	hits   atomic.Int64
}

func newBackend(t *testing.T) *backend {
	t.Helper()
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	n := b.hits.Add(1)
	switch {
	case r.URL.Path == "/slow":
		<-r.Context().Done()
	case b.flap.Load() && n%2 == 1:
		w.WriteHeader(http.StatusServiceUnavailable)
	case b.flap.Load():
	case b.status.Load() != 0:
		w.WriteHeader(int(b.status.Load()))
	}
}

// addr is the backend's host:port.
func (b *backend) addr() string { return strings.TrimPrefix(b.URL, "http://") }

// refusedAddr returns an address on which nothing listens.
func refusedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond) // poll interval, not a wait for the condition
	}
}
