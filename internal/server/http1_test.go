package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestProxyHTTP1EitherPath: the plaintext listener serves HTTP/1.1 on
// the proxy's fast path, or on net/http with BLUEJAY_HTTP1=net; either
// way a request is forwarded with the version header. The fast path
// refuses a smuggling-shaped request (Content-Length with
// Transfer-Encoding) with 400; net/http reads it by its chunks, dropping
// the length (RFC 9112 section 6.3).
func TestProxyHTTP1EitherPath(t *testing.T) {
	for _, path := range []string{"", "net"} {
		t.Run("BLUEJAY_HTTP1="+path, func(t *testing.T) {
			t.Setenv("BLUEJAY_HTTP1", path)
			addr := start(t, upstream(t, nil), "")
			waitServing(t, http.DefaultClient, "http://"+addr+"/")
			resp, err := http.Get("http://" + addr + "/a//b")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Bluejay-Version") == "" {
				t.Errorf("GET /a//b: %d, version %q; want 200 with the version header", resp.StatusCode, resp.Header.Get("X-Bluejay-Version"))
			}
			if path == "net" {
				return
			}
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX")
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusBadRequest {
				t.Errorf("CL.TE request: %d, want 400", res.StatusCode)
			}
		})
	}
}
