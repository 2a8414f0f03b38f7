package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// runChild runs one of the bench's child processes, listening on the
// non-empty addresses of listen, until SIGTERM:
//
//   - backend: answers every request with "ok\n" on each listen address
//     (when NGINX is missing);
//   - proxy: internal/proxy's Proxy with one route to upstream, set up as
//     `bluejay serve` sets it up, but without the controller, so that a
//     profile sees the data plane only;
//   - httputil: a bare httputil.ReverseProxy with the same transport
//     settings, the floor of what a Go proxy built on it costs;
//   - httputil+pool: the same with a BufferPool, which bluejay's proxy
//     does not set (see README.md);
//   - httputil+tuned: with a BufferPool and at most 256 connections to
//     the upstream, as many as it keeps idle, so that none is closed for
//     being one idle connection too many.
//
// The parent steers the profiles with signals, so that they leave out
// the warm-up: SIGUSR1 starts the CPU profile (cpuprofile) and the second
// SIGUSR1 stops it and prints what the span cost per request; SIGUSR2
// writes the in-use heap (heapprofile) and prints where the memory is;
// SIGTERM stops serving and writes the allocation profile of the whole
// life (memprofile). An empty path skips that profile.
func runChild(mode string, listen []string, upstream string, profiles childProfiles) error {
	var h http.Handler
	switch mode {
	case "backend":
		h = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "ok\n")
		})
	case "proxy":
		p := &proxy.Proxy{Timeout: proxy.DefaultTimeout, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
		p.SetRoute(router.Route{Service: "web", PathPrefix: "/",
			Backends: []router.Backend{{Version: "v1", Weight: 100, Addrs: []string{upstream}}}})
		h = p
	case "httputil":
		h = bareProxy(upstream, nil, 0)
	case "httputil+pool":
		h = bareProxy(upstream, &bufferPool{}, 0)
	case "httputil+tuned":
		h = bareProxy(upstream, &bufferPool{}, 256)
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	var served atomic.Int64
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		h.ServeHTTP(w, r)
	})
	// As internal/server serves the proxy.
	srv := &http.Server{Handler: counted, ReadHeaderTimeout: 10 * time.Second}
	defer srv.Close()
	for _, addr := range listen {
		if addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		go srv.Serve(ln)
	}
	return profiles.steer(&served)
}

// childProfiles are where a child writes its profiles.
type childProfiles struct{ cpu, heap, allocs string }

// steer takes the parent's signals until SIGTERM (see runChild).
func (c childProfiles) steer(served *atomic.Int64) error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTERM, os.Interrupt)
	var (
		prof    *profiling
		cpuDone bool
		err     error
	)
	for sig := range sigs {
		switch {
		case sig == syscall.SIGUSR1 && c.cpu != "" && prof == nil && !cpuDone:
			prof, err = startProfiling(c.cpu, served)
		case sig == syscall.SIGUSR1 && prof != nil:
			err, prof, cpuDone = prof.stop(), nil, true
		case sig == syscall.SIGUSR2 && c.heap != "":
			err = writeHeap(c.heap)
		case sig == syscall.SIGTERM || sig == os.Interrupt:
			if prof != nil {
				prof.stop()
			}
			return writeProfile("allocs", c.allocs)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// bareProxy is httputil.ReverseProxy to upstream with bluejay's default
// transport settings and forwarding headers, and nothing else. pool nil
// means ReverseProxy's default: a new 32 KiB buffer per response.
// maxConns > 0 caps the connections to upstream (requests beyond wait
// for one) and keeps that many idle; 0 is bluejay's default: no cap, 256
// idle.
func bareProxy(upstream string, pool httputil.BufferPool, maxConns int) http.Handler {
	target := &url.URL{Scheme: "http", Host: upstream}
	d := &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}
	idle := 256
	if maxConns > 0 {
		idle = maxConns
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		BufferPool: pool,
		Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConns: 1024, MaxIdleConnsPerHost: idle,
			MaxConnsPerHost: maxConns, IdleConnTimeout: 90 * time.Second, ResponseHeaderTimeout: proxy.DefaultTimeout},
	}
}

// bufferPool is a httputil.BufferPool of 32 KiB buffers, ReverseProxy's
// own size.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
