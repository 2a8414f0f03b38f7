package server_test

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/enginetest"
	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/server"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// h2specEnv names the h2spec binary (github.com/summerwind/h2spec, built
// from the Go module proxy by scripts/h2spec.sh, which .ci/run calls).
const h2specEnv = "BLUEJAY_H2SPEC"

// TestH2spec runs the HTTP/2 conformance suite against the proxy's h2c
// listener (proxy.h2c) and its TLS listener (proxy.tls), each forwarding
// to a real instance, and against a bare net/http server with the same
// settings (Protocols, header limit, timeouts) as the reference: a case
// that bluejay fails and the bare server passes is bluejay's bug. The
// cases net/http itself fails are its own (see the log for the counts).
func TestH2spec(t *testing.T) {
	if testing.Short() {
		t.Skip("runs h2spec four times")
	}
	bin := h2specBinary(t)
	target := upstream(t, nil)
	cert, key := selfSigned(t)
	for _, tc := range []struct {
		name string
		set  func(*spec.ProxyConfig)
	}{
		{"h2c", func(pc *spec.ProxyConfig) { pc.H2C = true }},
		{"tls", func(pc *spec.ProxyConfig) { pc.TLS = &spec.ProxyTLS{Cert: cert, Key: key} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &spec.Config{}
			cfg.Proxy.Listen = "127.0.0.1:0"
			tc.set(&cfg.Proxy)
			cfg.ApplyDefaults()
			d := startDataPlane(t, cfg.Proxy, target)
			ref := startReference(t, d.HTTPServer(), cfg.Proxy.TLS)
			secure := cfg.Proxy.TLS != nil

			bluejay := runH2spec(t, bin, d.Addr(), secure)
			bare := runH2spec(t, bin, ref, secure)
			t.Logf("h2spec %s: bluejay %s; bare net/http %s", tc.name, bluejay.counts(), bare.counts())
			t.Logf("failed by bluejay: %v", bluejay.failed())
			t.Logf("failed by net/http: %v", bare.failed())
			if len(bluejay.cases) == 0 || len(bluejay.cases) != len(bare.cases) {
				t.Fatalf("h2spec ran %d cases against bluejay, %d against net/http:\n%s", len(bluejay.cases), len(bare.cases), bluejay.output)
			}
			for _, c := range bluejay.worse(bare) {
				// Once more, alone and with a longer timeout, so that a
				// loaded machine is not taken for a bug.
				again := runH2spec(t, bin, d.Addr(), secure, "-o", "10", c.section)
				if again.cases[c] == "failed" {
					t.Errorf("h2spec %s %q: bluejay fails it, a bare net/http server passes:\n%s", c.section, c.name, again.output)
				}
			}
		})
	}
}

// startDataPlane serves the builtin proxy as bluejay does, with one route
// to target, until the test ends.
func startDataPlane(t *testing.T, pc spec.ProxyConfig, target string) *server.DataPlane {
	t.Helper()
	d, err := server.NewDataPlane(pc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	d.HTTPServer().ErrorLog = log.New(io.Discard, "", 0) // h2spec's protocol errors, by design
	d.Proxy().SetRoute(router.Route{Service: "web", Backends: []router.Backend{{Version: "v1", Weight: 100, Addrs: []string{target}}}})
	done := make(chan error, 1)
	go func() { done <- d.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := errors.Join(d.Shutdown(ctx), <-done); err != nil {
			t.Errorf("data plane: %v", err)
		}
	})
	return d
}

// startReference serves a bare net/http server with like's settings
// (over TLS with t's certificate when set) and returns its address.
func startReference(t *testing.T, like *http.Server, t12 *spec.ProxyTLS) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "version=v1 proto=%s\n", r.Proto)
		}),
		Protocols: like.Protocols, MaxHeaderBytes: like.MaxHeaderBytes,
		ReadHeaderTimeout: like.ReadHeaderTimeout, IdleTimeout: like.IdleTimeout,
		ErrorLog: log.New(io.Discard, "", 0),
	}
	done := make(chan error, 1)
	go func() {
		if t12 != nil {
			srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			done <- srv.ServeTLS(ln, t12.Cert, t12.Key)
			return
		}
		done <- srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("reference server: %v", err)
		}
	})
	return ln.Addr().String()
}

// h2specBinary finds h2spec: $BLUEJAY_H2SPEC, then the cache
// scripts/h2spec.sh builds into, then PATH; a missing one skips the test
// (fails it under BLUEJAY_REQUIRE_ENGINES=1).
func h2specBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(h2specEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			enginetest.Missing(t, "h2spec", fmt.Errorf("%s=%s: %w", h2specEnv, p, err))
		}
		return p
	}
	cache := os.Getenv("BLUEJAY_CACHE")
	if cache == "" {
		if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
			cache = filepath.Join(x, "bluejay")
		} else if home, err := os.UserHomeDir(); err == nil {
			cache = filepath.Join(home, ".cache", "bluejay")
		}
	}
	if p := filepath.Join(cache, "h2spec-v2.2.1"); isExecutable(p) {
		return p
	}
	p, err := exec.LookPath("h2spec")
	if err != nil {
		enginetest.Missing(t, "h2spec", fmt.Errorf("not in $%s, %s, nor PATH: build it with scripts/h2spec.sh", h2specEnv, cache))
	}
	return p
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// h2specCase is one case of a run: its section ("http2/4.2") and name.
type h2specCase struct{ section, name string }

// h2specResults are the outcome of each case of a run: "passed",
// "failed" or "skipped"; output is what h2spec printed.
type h2specResults struct {
	cases  map[h2specCase]string
	output string
}

// counts sums the outcomes.
func (r h2specResults) counts() string {
	n := map[string]int{}
	for _, o := range r.cases {
		n[o]++
	}
	return fmt.Sprintf("%d passed, %d failed, %d skipped (of %d)", n["passed"], n["failed"], n["skipped"], len(r.cases))
}

// failed returns the cases r failed, in order.
func (r h2specResults) failed() []h2specCase { return r.worse(h2specResults{}) }

// worse returns the cases r failed that ref passed, in order.
func (r h2specResults) worse(ref h2specResults) []h2specCase {
	var out []h2specCase
	for c, o := range r.cases {
		if o == "failed" && (ref.cases == nil || ref.cases[c] == "passed") {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b h2specCase) int {
		return strings.Compare(a.section+"\x00"+a.name, b.section+"\x00"+b.name)
	})
	return out
}

// runH2spec runs h2spec against addr (args select options and sections)
// and reads its JUnit report.
func runH2spec(t *testing.T, bin, addr string, secure bool, args ...string) h2specResults {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	report := filepath.Join(t.TempDir(), "report.xml")
	all := []string{"-h", host, "-p", port, "-j", report, "-o", "3"}
	if secure {
		all = append(all, "-t", "-k")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append(all, args...)...).CombinedOutput()
	raw, rerr := os.ReadFile(report)
	if rerr != nil {
		// h2spec exits 1 when a case fails; only a missing report is an error.
		t.Fatalf("h2spec %v: %v, %v\n%s", args, err, rerr, out)
	}
	var doc struct {
		Suites []struct {
			Cases []struct {
				Section string    `xml:"package,attr"`
				Name    string    `xml:"classname,attr"`
				Error   *struct{} `xml:"error"`
				Failure *struct{} `xml:"failure"`
				Skipped *struct{} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("h2spec's report: %v", err)
	}
	res := h2specResults{cases: map[h2specCase]string{}, output: string(out)}
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			outcome := "passed"
			switch {
			case c.Skipped != nil:
				outcome = "skipped"
			case c.Error != nil || c.Failure != nil:
				outcome = "failed"
			}
			res.cases[h2specCase{c.Section, c.Name}] = outcome
		}
	}
	return res
}
