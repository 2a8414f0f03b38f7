package proxy_test

import (
	"log/slog"
	"math"
	"net/http"
	"sync"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// TestWeights sends requests from several goroutines: which goroutine
// draws which random number varies, but the numbers drawn do not, so the
// split is the same on every run.
func TestWeights(t *testing.T) {
	const n, workers = 10000, 8
	p := &proxy.Proxy{Rand: seeded(1)}
	p.SetRoute(route("web", be("v1", 90, backend(t, "v1")), be("v2", 10, backend(t, "v2"))))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range n / workers {
				if code, body := send(t, p, "example.com", "/"); code != http.StatusOK {
					t.Errorf("got %d %q, want 200", code, body)
					return
				}
			}
		})
	}
	wg.Wait()
	for version, want := range map[string]float64{"v1": 0.90, "v2": 0.10} {
		c := p.Counts("web", version)
		got := float64(c.Requests) / n
		t.Logf("%s: %d requests, %.4f", version, c.Requests, got)
		if math.Abs(got-want) > 0.02 {
			t.Errorf("%s took %.3f of requests, want %.2f±0.02", version, got, want)
		}
		if c.Errors != 0 {
			t.Errorf("%s: %d errors, want 0", version, c.Errors)
		}
	}
}

func TestZeroWeightGetsNothing(t *testing.T) {
	p := &proxy.Proxy{Rand: seeded(2)}
	p.SetRoute(route("web",
		be("old", 0, backend(t, "old")),
		be("new", 100, backend(t, "new")),
		be("negative", -5, backend(t, "negative")),
		be("noaddrs", 100)))
	for range 200 {
		if code, body := send(t, p, "example.com", "/"); code != http.StatusOK || body != "new" {
			t.Fatalf("got %d %q, want 200 %q", code, body, "new")
		}
	}
	for _, v := range []string{"old", "negative", "noaddrs"} {
		if c := p.Counts("web", v); c.Requests != 0 {
			t.Errorf("%s got %d requests, want 0", v, c.Requests)
		}
	}
}

func TestRoundRobinWithinVersion(t *testing.T) {
	p := &proxy.Proxy{}
	p.SetRoute(route("web", be("v1", 100, backend(t, "a"), backend(t, "b"), backend(t, "c"))))
	got := map[string]int{}
	for range 9 {
		_, body := send(t, p, "example.com", "/")
		got[body]++
	}
	for _, name := range []string{"a", "b", "c"} {
		if got[name] != 3 {
			t.Errorf("instances got %v, want 3 each", got)
			break
		}
	}
}

func TestNoEligibleBackendIs503(t *testing.T) {
	for name, p := range map[string]*proxy.Proxy{
		"all weights zero": withRoute(route("web", be("v1", 0, backend(t, "v1")))),
		"no addresses":     withRoute(route("web", be("v1", 100))),
		"no backends":      withRoute(route("web")),
	} {
		t.Run(name, func(t *testing.T) {
			code, body := send(t, p, "example.com", "/")
			want := "no ready instance for service web\n"
			if code != http.StatusServiceUnavailable || body != want {
				t.Errorf("got %d %q, want 503 %q", code, body, want)
			}
		})
	}
}

func withRoute(r router.Route) *proxy.Proxy {
	p := &proxy.Proxy{Logger: slog.New(slog.DiscardHandler)}
	p.SetRoute(r)
	return p
}
