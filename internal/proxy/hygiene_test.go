package proxy_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// Issue 14: a hostile client must not steer a rollout, see what it must
// not see, pin the proxy's upstream connections or pass headers that only
// bluejay or a trusted proxy may set. These tests talk to a real proxy
// server over raw sockets, as such a client would.

// sink is a backend that reads every request's body and answers with its
// length and SHA-256; it counts the requests that reached it.
type sink struct {
	addr     string
	requests atomic.Int64
	mu       sync.Mutex
	last     *http.Request
}

func newSink(t *testing.T) *sink {
	s := &sink{}
	s.addr = serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		body, err := io.ReadAll(r.Body)
		s.mu.Lock()
		s.last = r
		s.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sum := sha256.Sum256(body)
		fmt.Fprintf(w, "len=%d cl=%d te=%v sha=%s", len(body), r.ContentLength, r.TransferEncoding, hex.EncodeToString(sum[:]))
	}))
	return s
}

// rawProxy serves p on a real listener and returns its address.
func rawProxy(t *testing.T, p *proxy.Proxy) string {
	t.Helper()
	if os.Getenv("BLUEJAY_PROXY_TEST_PATH") == "fast" {
		return strings.TrimPrefix(serveFast(t, p, proxy.FastOptions{}), "http://")
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// exchange writes req on a new connection to addr, half-closes it when
// halfClose is set, and returns the response ("" status when none came).
// A reply that takes longer than 10s fails the test: the old proxy never
// answered a stalled or malformed request in time.
func exchange(t *testing.T, addr, req string, halfClose bool) (status int, body string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	if halfClose {
		conn.(*net.TCPConn).CloseWrite()
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// newHostile is a proxy routing web to one sink, counting OnError.
func newHostile(t *testing.T, tune func(*proxy.Proxy)) (*proxy.Proxy, *sink, *atomic.Int64) {
	t.Helper()
	var onError atomic.Int64
	p := &proxy.Proxy{Logger: slog.New(slog.DiscardHandler), OnError: func(string, string) { onError.Add(1) }}
	if tune != nil {
		tune(p)
	}
	s := newSink(t)
	p.SetRoute(route("web", be("v1", 100, s.addr)))
	return p, s, &onError
}

// assertClientsFault checks that nothing counted against v1 and that the
// client's fault was counted for web with reason.
func assertClientsFault(t *testing.T, p *proxy.Proxy, onError *atomic.Int64, reason string) {
	t.Helper()
	if c := requestsErrors(p.Counts("web", "v1")); c.Errors != 0 {
		t.Errorf("counts = %+v, want no error: the client's fault is not the version's", c)
	}
	if w := p.Window("web", "v1", time.Now().Add(-time.Minute), time.Now().Add(time.Second)); w.Errors != 0 {
		t.Errorf("window has %d errors, want 0", w.Errors)
	}
	if n := onError.Load(); n != 0 {
		t.Errorf("OnError called %d times, want never: the analysis must not wake", n)
	}
	for _, vs := range p.Stats() {
		for _, in := range vs.Instances {
			if in.Codes[proxy.ClassError] != 0 || in.Codes[proxy.ClassCanceled] != 0 {
				t.Errorf("instance %s classes %v: the client's fault is counted against it", in.Addr, in.Codes)
			}
		}
	}
	got := map[string]int64{}
	for _, e := range p.ClientErrors() {
		got[e.Service+"/"+e.Reason] = e.Count
	}
	if got["web/"+reason] == 0 {
		t.Errorf("client errors = %v, want web/%s counted", got, reason)
	}
}

// buffering are the two ways a body reaches the upstream: read ahead
// before the pick (the default), or streamed from its first byte, when the
// transport reports the client's read error to the error handler.
var buffering = []struct {
	name string
	tune func(*proxy.Proxy)
}{
	{"buffered", nil},
	{"streamed", func(p *proxy.Proxy) { p.BodyBuffer = -1 }},
}

// TestMalformedChunkedBodyIsTheClients pins the bug where a chunk size of
// "zz" was answered 502 and counted as an error of the version: two such
// requests rolled a healthy version back.
func TestMalformedChunkedBodyIsTheClients(t *testing.T) {
	for _, b := range buffering {
		t.Run(b.name, func(t *testing.T) {
			p, _, onError := newHostile(t, b.tune)
			addr := rawProxy(t, p)
			for range 2 {
				status, body := exchange(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", false)
				if status != http.StatusBadRequest {
					t.Errorf("malformed chunk size: got %d %q, want 400", status, body)
				}
			}
			assertClientsFault(t, p, onError, proxy.ClientMalformed)
		})
	}
}

// TestTruncatedBodyHalfCloseIs400 pins the bug where a client that sent
// part of its Content-Length body and half-closed read
// "HTTP/1.1 499 status code 499".
func TestTruncatedBodyHalfCloseIs400(t *testing.T) {
	for _, b := range buffering {
		t.Run(b.name, func(t *testing.T) {
			p, _, onError := newHostile(t, b.tune)
			addr := rawProxy(t, p)
			status, body := exchange(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b", true)
			if status != http.StatusBadRequest {
				t.Errorf("truncated body, half-closed: got %d %q, want 400", status, body)
			}
			assertClientsFault(t, p, onError, proxy.ClientTruncated)
		})
	}
}

// TestStalledBodyIs408: a body that stops arriving is cut after
// BodyTimeout, as the client's fault; the old proxy waited for ever.
func TestStalledBodyIs408(t *testing.T) {
	for _, b := range buffering {
		t.Run(b.name, func(t *testing.T) {
			p, _, onError := newHostile(t, func(p *proxy.Proxy) {
				p.BodyTimeout = 200 * time.Millisecond
				if b.tune != nil {
					b.tune(p)
				}
			})
			addr := rawProxy(t, p)
			status, body := exchange(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nfive!", false)
			if status != http.StatusRequestTimeout {
				t.Errorf("stalled body: got %d %q, want 408", status, body)
			}
			assertClientsFault(t, p, onError, proxy.ClientTimeout)
		})
	}
}

// TestBodyOverMaxBodyBytesIs413: declared or chunked, a body over
// MaxBodyBytes is refused, and the backend never sees it.
func TestBodyOverMaxBodyBytesIs413(t *testing.T) {
	for _, b := range buffering {
		t.Run(b.name, func(t *testing.T) {
			p, s, onError := newHostile(t, func(p *proxy.Proxy) {
				p.MaxBodyBytes = 16
				if b.tune != nil {
					b.tune(p)
				}
			})
			addr := rawProxy(t, p)
			for _, req := range []string{
				"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n12345678901234567",
				"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n12345678901234567\r\n0\r\n\r\n",
			} {
				if status, body := exchange(t, addr, req, false); status != http.StatusRequestEntityTooLarge {
					t.Errorf("17-byte body: got %d %q, want 413", status, body)
				}
			}
			if status, body := exchange(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n1234567890123456", false); status != 200 || !strings.Contains(body, "len=16") {
				t.Errorf("16-byte body: got %d %q, want it forwarded", status, body)
			}
			if b.tune == nil && s.requests.Load() != 1 {
				t.Errorf("backend saw %d requests, want only the one within the limit", s.requests.Load())
			}
			assertClientsFault(t, p, onError, proxy.ClientTooLarge)
		})
	}
}

// TestBodiesArriveWhole: a small chunked body is read ahead and sent with
// its length; one longer than BodyBuffer streams, every byte intact.
func TestBodiesArriveWhole(t *testing.T) {
	p, _, _ := newHostile(t, func(p *proxy.Proxy) { p.BodyBuffer = 1024 })
	url, c := newServer(t, p)
	for _, n := range []int{10, 1024, 1025, 300_000} {
		body := strings.Repeat("b", n)
		sum := sha256.Sum256([]byte(body))
		req, _ := http.NewRequest(http.MethodPost, url, io.NopCloser(strings.NewReader(body))) // unknown length: chunked
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(res.Body)
		res.Body.Close()
		want := fmt.Sprintf("len=%d cl=%d te=[] sha=%s", n, n, hex.EncodeToString(sum[:]))
		if n > 1024 {
			want = fmt.Sprintf("len=%d cl=-1 te=[chunked] sha=%s", n, hex.EncodeToString(sum[:]))
		}
		if string(got) != want {
			t.Errorf("%d-byte chunked body: backend saw %q, want %q", n, got, want)
		}
	}
}

// stall opens n connections that send a request's headers and part of
// its body, then nothing; they are closed at cleanup.
func stall(t *testing.T, addr string, n int) {
	t.Helper()
	for range n {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		if _, err := io.WriteString(conn, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nsome"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStalledUploadsDoNotPinUpstreamConnections pins the bug where about
// 256 clients that sent headers and stalled their body held every pooled
// connection to an instance, and other users' requests hung.
func TestStalledUploadsDoNotPinUpstreamConnections(t *testing.T) {
	p, s, _ := newHostile(t, nil)
	addr := rawProxy(t, p)
	stall(t, addr, 300)
	for i := range 5 {
		if status, body := exchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false); status != 200 {
			t.Fatalf("request %d beside 300 stalled uploads: got %d %q, want 200", i, status, body)
		}
	}
	if n := s.requests.Load(); n != 5 {
		t.Errorf("backend saw %d requests, want the 5 GETs only: a stalled upload takes no upstream connection", n)
	}
}

// TestWaitForUpstreamConnectionIsBounded: with every connection to an
// instance taken (streamed uploads that stall), the next request waits
// for one no longer than Timeout, then gets 504; the old proxy queued it
// for ever.
func TestWaitForUpstreamConnectionIsBounded(t *testing.T) {
	netHTTPOnly(t, "streamed uploads go to the net/http path, whose connections to the instance are its own: "+
		"the fast path's GET finds its pool free")
	p, s, _ := newHostile(t, func(p *proxy.Proxy) {
		p.BodyBuffer, p.Timeout = -1, 500*time.Millisecond
	})
	addr := rawProxy(t, p)
	stall(t, addr, 256)
	waitFor(t, "256 stalled uploads to reach the backend", func() bool { return s.requests.Load() == 256 })
	if status, body := exchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false); status != http.StatusGatewayTimeout {
		t.Errorf("request with every upstream connection taken: got %d %q, want 504", status, body)
	}
}

// TestSpoofedForwardingHeaders pins the headers that passed through from
// an untrusted client: X-Real-IP, X-Forwarded-Port, -Prefix, -Ssl,
// -Server and X-Bluejay-Mirror. A trusted proxy keeps them as before.
func TestSpoofedForwardingHeaders(t *testing.T) {
	spoofed := http.Header{
		"X-Real-Ip":          {"6.6.6.6"},
		"X-Forwarded-Port":   {"443"},
		"X-Forwarded-Prefix": {"/admin"},
		"X-Forwarded-Ssl":    {"on"},
		"X-Forwarded-Server": {"evil"},
		"X-Forwarded-For":    {"6.6.6.6"},
		"Forwarded":          {"for=6.6.6.6"},
		"X-Bluejay-Mirror":   {"1"},
		"X-Bluejay-Whatever": {"x"},
		"X-Request-Id":       {"kept"},
	}
	t.Run("untrusted", func(t *testing.T) {
		p := &proxy.Proxy{}
		p.SetRoute(route("web", be("v1", 100, echo(t))))
		url, client := newServer(t, p)
		_, s := sendThrough(t, client, url, spoofed.Clone())
		for name := range spoofed {
			got := s.Header.Values(name)
			switch name {
			case "X-Request-Id":
				if len(got) != 1 {
					t.Errorf("upstream saw %s %q, want it kept", name, got)
				}
			case "X-Forwarded-For":
				if len(got) != 1 || got[0] != "127.0.0.1" {
					t.Errorf("upstream saw %s %q, want bluejay's own", name, got)
				}
			default:
				if len(got) != 0 {
					t.Errorf("upstream saw %s %q from an untrusted client, want it stripped", name, got)
				}
			}
		}
	})
	t.Run("trusted", func(t *testing.T) {
		p := &proxy.Proxy{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
		p.SetRoute(route("web", be("v1", 100, echo(t))))
		url, client := newServer(t, p)
		_, s := sendThrough(t, client, url, spoofed.Clone())
		for _, name := range []string{"X-Real-Ip", "X-Forwarded-Port", "X-Forwarded-Prefix"} {
			if got := s.Header.Values(name); len(got) != 1 || got[0] != spoofed.Get(name) {
				t.Errorf("upstream saw %s %q from a trusted proxy, want it kept", name, got)
			}
		}
		if got := s.Header.Get("X-Forwarded-For"); got != "6.6.6.6, 127.0.0.1" {
			t.Errorf("upstream saw X-Forwarded-For %q, want the trusted one with the peer appended", got)
		}
	})
}

// upgrader is a backend that accepts any Upgrade with 101 and then echoes
// one line, as a backend that speaks h2c would take over the connection.
func upgrader(t *testing.T) string {
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := r.Header.Get("Upgrade")
		if up == "" {
			fmt.Fprint(w, "plain request")
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", up)
		rw.Flush()
	}))
}

// TestUpgradesOnlyToAllowedProtocols pins h2c smuggling: an Upgrade: h2c
// was forwarded, and a backend answering 101 gave the client a raw tunnel
// past routing, header rewriting and metrics.
func TestUpgradesOnlyToAllowedProtocols(t *testing.T) {
	for _, tt := range []struct {
		name, upgrade string
		allowed       []string
		want          int
	}{
		{"h2c by default", "h2c", nil, http.StatusOK},
		{"h2c even when listed", "h2c", []string{"h2c", "websocket"}, http.StatusOK},
		{"websocket by default", "websocket", nil, http.StatusSwitchingProtocols},
		{"other by default", "echo", nil, http.StatusOK},
		{"other when listed", "echo", []string{"echo"}, http.StatusSwitchingProtocols},
		{"websocket when none", "websocket", []string{}, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := &proxy.Proxy{Upgrades: tt.allowed}
			p.SetRoute(route("web", be("v1", 100, upgrader(t))))
			addr := rawProxy(t, p)
			req := "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: " + tt.upgrade +
				"\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
			if status, body := exchange(t, addr, req, false); status != tt.want {
				t.Errorf("Upgrade: %s with upgrades %q: got %d %q, want %d", tt.upgrade, tt.allowed, status, body, tt.want)
			}
		})
	}
}

// TestClientFaultsLeaveCountsAlone: a request whose body fails is not an
// error of the version, while an upstream failure still is.
func TestClientFaultsLeaveCountsAlone(t *testing.T) {
	p, _, onError := newHostile(t, nil)
	addr := rawProxy(t, p)
	exchange(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n", false)
	if status, _ := exchange(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", false); status != 200 {
		t.Fatalf("a good request: %d, want 200", status)
	}
	if c := requestsErrors(p.Counts("web", "v1")); c != (metrics.Counts{Requests: 1}) {
		t.Errorf("counts = %+v, want the good request only: the malformed one never reached an upstream", c)
	}
	assertClientsFault(t, p, onError, proxy.ClientMalformed)
}

// TestGRPCBodiesStream: a gRPC call's body is a stream of messages that
// may pause for long (the client waits for answers, or has nothing to
// say): on a gRPC route it is neither read ahead nor cut by BodyTimeout.
// On an HTTP route the same Content-Type claims nothing: a client cannot
// opt out of the read-ahead by naming gRPC.
func TestGRPCBodiesStream(t *testing.T) {
	first := make(chan struct{})
	var got atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		n, _ := io.ReadFull(r.Body, buf)
		close(first) // the first message arrived before the rest was sent
		rest, _ := io.ReadAll(r.Body)
		got.Store(int64(n + len(rest)))
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	p := &proxy.Proxy{BodyTimeout: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	p.SetRoute(router.Route{Service: "web", Protocol: router.ProtocolGRPC,
		Backends: []router.Backend{be("v1", 100, srv.Listener.Addr().String())}})
	url, client := newServer(t, p)

	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, url+"/pkg.Svc/Call", pr)
	req.Header.Set("Content-Type", "application/grpc+proto")
	done := make(chan *http.Response, 1)
	go func() {
		res, err := client.Do(req)
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	pw.Write([]byte("hello"))
	select {
	case <-first:
	case <-time.After(5 * time.Second):
		t.Fatal("the backend never got the first message: the call's body was read ahead")
	}
	<-time.After(4 * p.BodyTimeout) // idle on purpose, past BodyTimeout
	pw.Write([]byte(" world"))
	pw.Close()
	if res := <-done; res == nil || res.StatusCode != 200 || got.Load() != 11 {
		t.Errorf("gRPC call idle past BodyTimeout: %v, backend got %d bytes; want 200 and all 11", res, got.Load())
	}
}

// TestGRPCContentTypeClaimsNothing: on an HTTP route, a client that names
// gRPC in its Content-Type and then stalls its body is cut by BodyTimeout
// like any other (408): the streaming exemption is the route's.
func TestGRPCContentTypeClaimsNothing(t *testing.T) {
	var reached atomic.Int64
	backend := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	p := &proxy.Proxy{BodyTimeout: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	p.SetRoute(route("web", be("v1", 100, backend)))
	url, client := newServer(t, p)

	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest(http.MethodPost, url+"/pkg.Svc/Call", pr)
	req.Header.Set("Content-Type", "application/grpc")
	go pw.Write([]byte("hello")) // then nothing: a stall
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestTimeout || reached.Load() != 0 {
		t.Errorf("stalled body naming gRPC on an HTTP route: %d, backend reached %d times; want 408 and 0", res.StatusCode, reached.Load())
	}
}

// earlyAnswer is a transport that answers at once and reads the request
// body from a goroutine of its own, as HTTP/2's does, going on after the
// answer.
type earlyAnswer struct{ reads sync.WaitGroup }

func (e *earlyAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	if body := r.Body; body != nil {
		e.reads.Go(func() { io.Copy(io.Discard, body) })
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

// TestBodyReadAfterHandlerReturned: a transport may read a request body
// while and after the proxy's handler returns. Such reads must leave the
// client's connection alone: over HTTP/2 the stream is gone (the proxy
// crashed there, a nil dereference in net/http, which -race reports as a
// race first), over HTTP/1 a deadline would be the next request's.
func TestBodyReadAfterHandlerReturned(t *testing.T) {
	for _, protocol := range []string{router.ProtocolHTTP, router.ProtocolH2C} {
		t.Run(protocol, func(t *testing.T) {
			tr := &earlyAnswer{}
			p := &proxy.Proxy{Logger: quiet(), BodyBuffer: 1 << 10, Transport: tr}
			p.SetRoute(router.Route{Service: "web", Protocol: protocol,
				Backends: []router.Backend{be("v1", 100, "127.0.0.1:1")}})
			addr := h2cServer(t, p)
			client := h2cClient(t)
			for range 50 {
				pr, pw := io.Pipe()
				go func() {
					chunk := make([]byte, 512)
					for range 64 { // past the buffer, and on after the answer
						if _, err := pw.Write(chunk); err != nil {
							return
						}
					}
					pw.Close()
				}()
				req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", pr)
				if err != nil {
					t.Fatal(err)
				}
				res, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				pr.Close()
			}
			tr.reads.Wait()
			// The proxy still answers over the same connection.
			res, err := client.Get("http://" + addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Errorf("the next request: status %d", res.StatusCode)
			}
		})
	}
}
