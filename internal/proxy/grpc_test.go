package proxy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/sampleapp"
)

// grpcBackend serves svc with a real grpc-go server and returns its
// address.
func grpcBackend(t testing.TB, svc *sampleapp.GRPCService) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	svc.Register(s)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

// h2cServer serves p over HTTP/1.1 and HTTP/2 without TLS, as the
// proxy's h2c listener does, and returns its address.
func h2cServer(t testing.TB, p *proxy.Proxy) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(p)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// dial returns a grpc-go client of addr without TLS.
func dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func grpcRoute(codes []uint32, backends ...router.Backend) router.Route {
	return router.Route{Service: "rpc", Backends: backends, Protocol: router.ProtocolGRPC, GRPCErrorCodes: codes}
}

func codesOf(t *testing.T, p *proxy.Proxy, version string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, in := range findVersion(t, p.Stats(), "rpc", version).Instances {
		for c, n := range in.Codes {
			if n > 0 {
				out[proxy.Class(c).String()] += n
			}
		}
	}
	return out
}

// TestGRPCUnaryThroughProxy: a unary call goes through the proxy over
// h2c to a grpc-go server; its answer and trailers come back, and it
// counts as a request that did not fail.
func TestGRPCUnaryThroughProxy(t *testing.T) {
	p := &proxy.Proxy{Logger: quiet()}
	p.SetRoute(grpcRoute(nil, be("v1", 100, grpcBackend(t, &sampleapp.GRPCService{Version: "v1"}))))
	conn := dial(t, h2cServer(t, p))
	var trailer metadata.MD
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-echo", "hello")
	got, err := sampleapp.Say(ctx, conn, "hi", grpc.Trailer(&trailer))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "version=v1 ") || !strings.HasSuffix(got, ": hi") {
		t.Errorf("answer = %q", got)
	}
	if v, e := trailer.Get("x-version"), trailer.Get("x-echo"); len(v) != 1 || v[0] != "v1" || len(e) != 1 || e[0] != "hello" {
		t.Errorf("trailer = %v, want x-version v1 and x-echo hello", trailer)
	}
	if c := requestsErrors(p.Counts("rpc", "v1")); c != (metrics.Counts{Requests: 1}) {
		t.Errorf("counts = %+v, want 1 request, 0 errors", c)
	}
	if got := codesOf(t, p, "v1"); got["2xx"] != 1 || len(got) != 1 {
		t.Errorf("classes = %v, want 2xx: 1", got)
	}
}

// TestGRPCStatusJudgesTheCall: a call's grpc-status decides whether it
// is an error of its version: by default UNAVAILABLE is and NOT_FOUND is
// not; a route's own error codes replace the default list. The client
// sees the status the server sent.
func TestGRPCStatusJudgesTheCall(t *testing.T) {
	for _, tc := range []struct {
		name   string
		code   grpccodes.Code
		codes  []uint32
		failed bool
	}{
		{"UNAVAILABLE by default", grpccodes.Unavailable, nil, true},
		{"DEADLINE_EXCEEDED by default", grpccodes.DeadlineExceeded, nil, true},
		{"NOT_FOUND by default", grpccodes.NotFound, nil, false},
		{"NOT_FOUND when listed", grpccodes.NotFound, []uint32{uint32(grpccodes.NotFound)}, true},
		{"UNAVAILABLE when not listed", grpccodes.Unavailable, []uint32{uint32(grpccodes.NotFound)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var onError atomic.Int64
			p := &proxy.Proxy{Logger: quiet(), OnError: func(service, version string) { onError.Add(1) }}
			svc := &sampleapp.GRPCService{Version: "v1", ErrorRate: 1, ErrorCode: tc.code}
			p.SetRoute(grpcRoute(tc.codes, be("v1", 100, grpcBackend(t, svc))))
			conn := dial(t, h2cServer(t, p))
			_, err := sampleapp.Say(context.Background(), conn, "hi")
			if st := status.Convert(err); st.Code() != tc.code || !strings.Contains(st.Message(), "injected error") {
				t.Fatalf("client saw %v, want %s injected error", err, tc.code)
			}
			want := metrics.Counts{Requests: 1}
			class := "2xx"
			if tc.failed {
				want.Errors, class = 1, "grpc"
			}
			if c := requestsErrors(p.Counts("rpc", "v1")); c != want {
				t.Errorf("counts = %+v, want %+v", c, want)
			}
			if onError.Load() != want.Errors {
				t.Errorf("OnError called %d times, want %d", onError.Load(), want.Errors)
			}
			if got := codesOf(t, p, "v1"); got[class] != 1 || len(got) != 1 {
				t.Errorf("classes = %v, want %s: 1", got, class)
			}
		})
	}
}

// TestGRPCStreamAcrossWeightChange: a server-streaming call keeps
// streaming from its instance while the route moves all traffic to
// another version; new calls go to the new version. The call is recorded
// when it ends (its latency runs to the end of the call), and a client
// that ends it is not an error.
func TestGRPCStreamAcrossWeightChange(t *testing.T) {
	p := &proxy.Proxy{Logger: quiet()}
	v1 := grpcBackend(t, &sampleapp.GRPCService{Version: "v1"})
	v2 := grpcBackend(t, &sampleapp.GRPCService{Version: "v2"})
	p.SetRoute(grpcRoute(nil, be("v1", 100, v1), be("v2", 0, v2)))
	conn := dial(t, h2cServer(t, p))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	next, err := sampleapp.Tick(ctx, conn, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	read := func(n int) {
		t.Helper()
		for range n {
			msg, err := next()
			if err != nil {
				t.Fatalf("stream broke: %v", err)
			}
			if !strings.HasPrefix(msg, "version=v1 ") {
				t.Fatalf("stream message %q, want one from v1", msg)
			}
		}
	}
	read(3)
	p.SetRoute(grpcRoute(nil, be("v2", 100, v2)))
	read(3)
	if got, err := sampleapp.Say(context.Background(), conn, "hi"); err != nil || !strings.HasPrefix(got, "version=v2 ") {
		t.Errorf("a new call after the change = %q, %v; want one from v2", got, err)
	}
	if s := p.Window("rpc", "v1", time.Now().Add(-time.Minute), time.Now().Add(time.Minute)); s.Requests != 0 {
		t.Errorf("the open stream is already recorded in the window: %+v", s)
	}
	if p.InFlight(v1) != 1 {
		t.Errorf("in flight on v1 = %d, want the stream", p.InFlight(v1))
	}

	cancel()
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	if err := p.WaitDrained(dctx, []string{v1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stream's outcome", func() bool {
		return p.Window("rpc", "v1", time.Now().Add(-time.Minute), time.Now().Add(time.Minute)).Requests == 1
	})
	if c := requestsErrors(p.Counts("rpc", "v1")); c != (metrics.Counts{Requests: 1}) {
		t.Errorf("v1 counts = %+v, want the stream, not an error", c)
	}
	if got := codesOf(t, p, "v1"); got["canceled"] != 1 || len(got) != 1 {
		t.Errorf("v1 classes = %v, want canceled: 1", got)
	}
}

// h2cClient is an HTTP/2 client without TLS, by prior knowledge.
func h2cClient(t testing.TB) *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// TestH2CTrailersBothWays: on an h2c route the instance is spoken to in
// HTTP/2; a request's trailers reach it after the body, and its
// response trailers reach the client.
func TestH2CTrailersBothWays(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-Got")
		fmt.Fprintf(w, "proto=%d body=%s", r.ProtoMajor, body)
		w.Header().Set("X-Got", r.Trailer.Get("X-Sum"))
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)

	p := &proxy.Proxy{Logger: quiet()}
	p.SetRoute(router.Route{Service: "rpc", Protocol: router.ProtocolH2C,
		Backends: []router.Backend{be("v1", 100, srv.Listener.Addr().String())}})
	addr := h2cServer(t, p)

	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", io.NopCloser(strings.NewReader("payload")))
	if err != nil {
		t.Fatal(err)
	}
	req.Trailer = http.Header{"X-Sum": {"42"}}
	res, err := h2cClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != "proto=2 body=payload" {
		t.Errorf("body = %q, want the instance spoken to in HTTP/2", body)
	}
	if got := res.Trailer.Get("X-Got"); got != "42" {
		t.Errorf("trailer X-Got = %q, want the request trailer 42 seen by the instance (response trailers %v)", got, res.Trailer)
	}
}

// TestGRPCStatusAfterMessages: a call that sends messages and then fails
// in its trailers is judged by them, when its body ends, not by its 200
// headers; a call that ends without any grpc-status fails too.
func TestGRPCStatusAfterMessages(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
		w.Write([]byte{0, 0, 0, 0, 0}) // one empty message
		w.(http.Flusher).Flush()
		switch r.URL.Path {
		case "/fail":
			w.Header().Set("Grpc-Status", "14")
			w.Header().Set("Grpc-Message", "gone")
		case "/ok":
			w.Header().Set("Grpc-Status", "0")
		}
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)

	p := &proxy.Proxy{Logger: quiet()}
	p.SetRoute(grpcRoute(nil, be("v1", 100, srv.Listener.Addr().String())))
	addr := h2cServer(t, p)
	client := h2cClient(t)
	for _, path := range []string{"/ok", "/fail", "/nostatus"} {
		res, err := client.Post("http://"+addr+path, "application/grpc", strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if path == "/fail" && (res.Trailer.Get("Grpc-Status") != "14" || res.Trailer.Get("Grpc-Message") != "gone") {
			t.Errorf("%s: trailers = %v, want grpc-status 14 and its message", path, res.Trailer)
		}
	}
	if c := requestsErrors(p.Counts("rpc", "v1")); c != (metrics.Counts{Requests: 3, Errors: 2}) {
		t.Errorf("counts = %+v, want 3 requests, 2 errors (UNAVAILABLE and no status)", c)
	}
	if got := codesOf(t, p, "v1"); got["2xx"] != 1 || got["grpc"] != 2 {
		t.Errorf("classes = %v, want 2xx: 1, grpc: 2", got)
	}
}
