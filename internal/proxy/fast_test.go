package proxy_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// fastEnv names the environment variable that makes newServer and
// rawProxy serve the fast path, so that this package's whole suite runs
// against either path.
const fastEnv = "BLUEJAY_PROXY_TEST_PATH"

// netHTTPOnly skips a test of a behaviour only the net/http path has.
func netHTTPOnly(t *testing.T, why string) {
	t.Helper()
	if os.Getenv(fastEnv) == "fast" {
		t.Skip("net/http path only: " + why)
	}
}

// TestSuiteOnTheFastPath runs this package's tests again with the
// proxy served by its HTTP/1.1 fast path (issue 21): headers, hygiene,
// bodies, sticky keys, the shield, maintenance, holds, windows, all as
// on the net/http path.
func TestSuiteOnTheFastPath(t *testing.T) {
	if os.Getenv(fastEnv) == "fast" {
		t.Skip("already on the fast path")
	}
	if testing.Short() {
		t.Skip("the suite again: not in -short")
	}
	cmd := exec.Command(os.Args[0], "-test.count=1", "-test.skip=TestSuiteOnTheFastPath|TestFastPathAllocsNothing")
	cmd.Env = append(os.Environ(), fastEnv+"=fast")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the suite on the fast path failed: %v\n%s", err, out)
	}
}

// rawExchange writes req on a new connection to addr and returns every
// byte the server sent until it closed or went quiet for a second.
func rawExchange(t *testing.T, addr, req string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for {
		conn.SetReadDeadline(time.Now().Add(time.Second))
		n, err := conn.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			return out.String()
		}
	}
}

// TestFastPathRefusesSmuggling: a head that h1guard refuses is answered
// 400 and the connection closed, so that nothing after it is read as a
// request; it is counted as the client's fault and never reaches the
// instance.
func TestFastPathRefusesSmuggling(t *testing.T) {
	var hits atomic.Int64
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, "upstream")
	}))
	p := &proxy.Proxy{}
	p.SetRoute(route("web", be("v1", 100, addr)))
	proxyAddr := strings.TrimPrefix(serveFast(t, p, proxy.FastOptions{}), "http://")
	for _, tt := range []struct{ name, req string }{
		{"CL.TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"TE obfuscated", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"},
		{"two lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"},
		{"underscore", "POST / HTTP/1.1\r\nHost: x\r\nContent_Length: 5\r\n\r\n"},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n"},
		{"dot segment", "GET /public/%2e%2e/admin HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"no host", "GET / HTTP/1.1\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := rawExchange(t, proxyAddr, tt.req)
			if !strings.HasPrefix(got, "HTTP/1.1 400 ") || strings.Count(got, "HTTP/1.1") != 1 || strings.Contains(got, "upstream") {
				t.Errorf("%q: got %q, want one 400 and the connection closed", tt.req, got)
			}
		})
	}
	if hits.Load() != 0 {
		t.Errorf("the instance saw %d requests, want none", hits.Load())
	}
	var n int64
	for _, c := range p.ClientErrors() {
		n += c.Count
	}
	if n < 7 {
		t.Errorf("client errors %v, want every refused head counted", p.ClientErrors())
	}
}

// TestFastPathBareLF: a connection whose first head ends its lines with a
// bare LF, which fasthttp would wait past until its timeout, is served by
// the net/http path as net/http serves it: at once.
func TestFastPathBareLF(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "upstream got %s", body)
	}))
	p := &proxy.Proxy{}
	p.SetRoute(route("web", be("v1", 100, addr)))
	proxyAddr := strings.TrimPrefix(serveFast(t, p, proxy.FastOptions{ReadHeaderTimeout: time.Minute}), "http://")
	conn, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST / HTTP/1.1\nHost: x\nContent-Length: 5\n\nhello")
	conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // well under the minute a hang would take
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a bare-LF head: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || string(body) != "upstream got hello" {
		t.Errorf("got %d %q, want 200 %q", res.StatusCode, body, "upstream got hello")
	}
}

// TestFastPathLongHeads: the fast path reads a connection through a
// buffer of FastHeadBuffer, not MaxHeaderBytes. A connection whose first
// head is longer goes to net/http and is served up to MaxHeaderBytes; a
// longer head later on a fast connection gets 431, and the connection
// closes; past MaxHeaderBytes, 431 on either path.
func TestFastPathLongHeads(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "cookie %d", len(r.Header.Get("Cookie")))
	}))
	p := &proxy.Proxy{}
	p.SetRoute(route("web", be("v1", 100, addr)))
	proxyAddr := strings.TrimPrefix(serveFast(t, p, proxy.FastOptions{MaxHeaderBytes: 64 << 10}), "http://")
	head := func(cookie int) string {
		return "GET / HTTP/1.1\r\nHost: x\r\nCookie: " + strings.Repeat("c", cookie) + "\r\n\r\n"
	}
	long := proxy.FastHeadBuffer * 2

	got := rawExchange(t, proxyAddr, head(long))
	if want := fmt.Sprintf("cookie %d", long); !strings.HasPrefix(got, "HTTP/1.1 200 ") || !strings.HasSuffix(got, want) {
		t.Errorf("a long first head: got %.80q..., want 200 %q", got, want)
	}
	got = rawExchange(t, proxyAddr, head(10)+head(long))
	if !strings.HasPrefix(got, "HTTP/1.1 200 ") || !strings.Contains(got, "\r\n\r\ncookie 10HTTP/1.1 431 ") {
		t.Errorf("a long head after a short one: got %.300q, want 200 then 431", got)
	}
	got = rawExchange(t, proxyAddr, head(70<<10))
	if !strings.HasPrefix(got, "HTTP/1.1 431 ") {
		t.Errorf("a first head past MaxHeaderBytes: got %.80q, want 431", got)
	}
}

// TestFastPathBodiesBothWays: request bodies arrive whole by length, by
// chunks and longer than BodyBuffer (handed to the net/http path), and a
// response larger than any buffer streams back whole.
func TestFastPathBodiesBothWays(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			for range 8 {
				w.Write(big) // 8 MiB, unframed by length: chunked
			}
			return
		}
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d %x", len(b), sha256.Sum256(b))
	}))
	p := &proxy.Proxy{BodyBuffer: 64 << 10}
	p.SetRoute(route("web", be("v1", 100, addr)))
	url := serveFast(t, p, proxy.FastOptions{})
	c := &http.Client{}
	for _, tt := range []struct {
		name    string
		body    []byte
		chunked bool
	}{
		{"small by length", big[:1000], false},
		{"small chunked", big[:1000], true},
		{"large by length", big, false},
		{"large chunked", big, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var r io.Reader = bytes.NewReader(tt.body)
			if tt.chunked {
				r = io.MultiReader(r) // hides the length: chunked
			}
			req, _ := http.NewRequest(http.MethodPost, url+"/up", r)
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if want := fmt.Sprintf("%d %x", len(tt.body), sha256.Sum256(tt.body)); string(got) != want {
				t.Errorf("upstream got %q, want %q", got, want)
			}
		})
	}
	res, err := c.Get(url + "/down")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, res.Body)
	want := sha256.Sum256(bytes.Repeat(big, 8))
	if err != nil || n != int64(8*len(big)) || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Errorf("download: %d bytes, err %v; want %d whole", n, err, 8*len(big))
	}
}

// TestFastPathHandsOverH2CAndWebSocket: what the fast path does not
// speak goes to the net/http server on the same listener, invisibly: an
// h2c connection (prior knowledge) and a WebSocket upgrade.
func TestFastPathHandsOverH2CAndWebSocket(t *testing.T) {
	p := &proxy.Proxy{}
	p.SetRoute(route("web", be("v1", 100, upgrader(t))))
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	url := serveFast(t, p, proxy.FastOptions{Fallback: &http.Server{Handler: p, Protocols: &protocols}})
	addr := strings.TrimPrefix(url, "http://")

	t.Run("h2c", func(t *testing.T) {
		var h2c http.Protocols
		h2c.SetUnencryptedHTTP2(true)
		c := &http.Client{Transport: &http.Transport{Protocols: &h2c}}
		defer c.CloseIdleConnections()
		res, err := c.Get(url + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.ProtoMajor != 2 || string(body) != "plain request" {
			t.Errorf("h2c: got %s %q, want HTTP/2 and the instance's answer", res.Proto, body)
		}
	})
	t.Run("websocket", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// A plain request first: the connection starts on the fast path.
		io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(conn)
		for i, want := range []int{http.StatusOK, http.StatusSwitchingProtocols} {
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("response %d: %v", i, err)
			}
			io.Copy(io.Discard, res.Body)
			if res.StatusCode != want {
				t.Errorf("response %d: %d, want %d", i, res.StatusCode, want)
			}
		}
	})
}

// TestFastPathSticksAndShields: a generated sticky key comes back as a
// cookie and keeps its user on one version; a GET that fails on the
// canary is answered by the stable version, and the failure still counts
// against the canary.
func TestFastPathSticksAndShields(t *testing.T) {
	failing := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	r := route("web", be("v1", 50, backend(t, "v1")), be("v2", 50, failing))
	r.Sticky = &router.Sticky{Cookie: "k", Generate: true}
	r.Shield = &router.Shield{Stable: "v1", Methods: []string{http.MethodGet}}
	p := &proxy.Proxy{VersionHeader: "X-Version"}
	p.SetRoute(r)
	url := serveFast(t, p, proxy.FastOptions{})
	for range 40 {
		res, err := http.Get(url + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(body) != "v1" || res.Header.Get("X-Version") != "v1" {
			t.Fatalf("shielded GET: %d %q version %q, want 200 from v1", res.StatusCode, body, res.Header.Get("X-Version"))
		}
		cookies := res.Cookies()
		if len(cookies) != 1 || cookies[0].Name != "k" || cookies[0].Value == "" || cookies[0].Path != "/" {
			t.Fatalf("Set-Cookie %q, want the generated sticky key", res.Header.Values("Set-Cookie"))
		}
		// The key keeps its user where it was put: ask again with it.
		req, _ := http.NewRequest(http.MethodGet, url+"/", nil)
		req.AddCookie(cookies[0])
		again, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		again.Body.Close()
		if len(again.Cookies()) != 0 {
			t.Errorf("a request with its key got a new one")
		}
	}
	if c := p.Counts("web", "v2"); c.Errors == 0 || c.Errors != c.Requests {
		t.Errorf("v2 counts %+v, want its failures counted though shielded", c)
	}
}
