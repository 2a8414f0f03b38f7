package checks

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer is an HTTP server that counts the connections it accepted.
func countingServer(t *testing.T, h http.HandlerFunc) (addr string, conns *atomic.Int64, srv *httptest.Server) {
	t.Helper()
	conns = new(atomic.Int64)
	srv = httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), conns, srv
}

// TestProberProbe: the Prober's verdicts are Probe's.
func TestProberProbe(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/healthz", http.StatusFound) })
	mux.HandleFunc("/slow", func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) { w.Write(make([]byte, 200<<10)) })
	mux.HandleFunc("/bighead", func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("X-Big", strings.Repeat("a", 8<<10)) })
	mux.HandleFunc("/query", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "deep=1" || r.Host == "" {
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	up := strings.TrimPrefix(srv.URL, "http://")
	refused := refusedAddr(t)
	p := NewProber(ProberOptions{MaxHeader: 4 << 10})
	defer p.Close()

	tests := []struct {
		name    string
		addr    string
		path    string
		wantErr string // "" means pass
	}{
		{"200 passes", up, "/healthz", ""},
		{"204 passes", up, "/nocontent", ""},
		{"query and host sent", up, "/query?deep=1", ""},
		{"big body passes", up, "/big", ""},
		{"503 fails", up, "/down", "GET http://" + up + "/down: status 503"},
		{"404 fails", up, "/nope", "status 404"},
		{"redirect not followed", up, "/moved", "status 302"},
		{"header over the limit", up, "/bighead", "response header over 4096 bytes"},
		{"connection refused", refused, "/healthz", "GET http://" + refused + "/healthz: dial tcp"},
		{"timeout", up, "/slow", "context deadline exceeded"},
		{"bad path", up, "/%zz", "probe http://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if tt.path == "/slow" {
				ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
			}
			defer cancel()
			err := p.Probe(ctx, tt.addr, tt.path)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Probe: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Probe: err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestProberKeepsItsConnection: probes of one address reuse one
// connection; a body over MaxBody closes it.
func TestProberKeepsItsConnection(t *testing.T) {
	addr, conns, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Write(make([]byte, 4<<10))
		}
	})
	p := NewProber(ProberOptions{MaxBody: 1 << 10})
	defer p.Close()
	for range 20 {
		if err := p.Probe(context.Background(), addr, "/healthz"); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 probes opened %d connections, want 1", n)
	}
	if n := p.IdleConns(); n != 1 {
		t.Errorf("IdleConns = %d, want 1", n)
	}
	if err := p.Probe(context.Background(), addr, "/big"); err != nil {
		t.Fatal(err)
	}
	if n := p.IdleConns(); n != 0 {
		t.Errorf("after a body over MaxBody, IdleConns = %d, want 0 (closed, not kept)", n)
	}
}

// TestProberReplacesAClosedConnection: a kept connection that the server
// closed meanwhile is replaced, and the probe passes.
func TestProberReplacesAClosedConnection(t *testing.T) {
	addr, conns, srv := countingServer(t, func(http.ResponseWriter, *http.Request) {})
	p := NewProber(ProberOptions{})
	defer p.Close()
	if err := p.Probe(context.Background(), addr, "/healthz"); err != nil {
		t.Fatal(err)
	}
	srv.CloseClientConnections()
	for range 3 {
		if err := p.Probe(context.Background(), addr, "/healthz"); err != nil {
			t.Fatalf("probe after the server closed the kept connection: %v", err)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// TestProberCancel: cancelling a probe under way ends it at once with
// the context's error, and its connection is not kept.
func TestProberCancel(t *testing.T) {
	started := make(chan struct{})
	addr, _, _ := countingServer(t, func(_ http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	})
	p := NewProber(ProberOptions{})
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Probe(ctx, addr, "/hang") }()
	<-started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want one wrapping context.Canceled", err)
	}
	if n := p.IdleConns(); n != 0 {
		t.Errorf("IdleConns = %d, want 0", n)
	}
}

// TestProberTimeoutIsDeadlineExceeded: the monitor's inconclusive rule
// needs a timed-out probe's error to be the context's.
func TestProberTimeoutIsDeadlineExceeded(t *testing.T) {
	b := newBackend(t)
	p := NewProber(ProberOptions{})
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Probe(ctx, b.addr(), "/slow"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want one wrapping context.DeadlineExceeded", err)
	}
}

// TestProberExpiresIdleConnections: an idle connection is closed after
// IdleTimeout, by the sweep, and none is kept after Close.
func TestProberExpiresIdleConnections(t *testing.T) {
	addr, _, _ := countingServer(t, func(http.ResponseWriter, *http.Request) {})
	p := NewProber(ProberOptions{IdleTimeout: 20 * time.Millisecond})
	if err := p.Probe(context.Background(), addr, "/healthz"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the idle connection expired", func() bool { return p.IdleConns() == 0 })
	p.Close()
	if err := p.Probe(context.Background(), addr, "/healthz"); err != nil {
		t.Fatal(err)
	}
	if n := p.IdleConns(); n != 0 {
		t.Errorf("after Close, IdleConns = %d, want 0", n)
	}
}
