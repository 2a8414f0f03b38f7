package h1guard

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// errRefused stands for "fasthttp refused the request before the handler"
// (its parser, its URI or Host rules, its body limit): Check never saw it.
var errRefused = errors.New("refused by fasthttp before the handler")

// vector is a known smuggling or ambiguity vector: raw is the whole client
// input, rawWant CheckRaw's decision on its first head, fastWant what the
// guarded fasthttp server decided on its first request (nil: forwarded).
type vector struct {
	name     string
	raw      string
	rawWant  error
	fastWant error
}

const (
	get  = "GET / HTTP/1.1\r\nHost: a\r\n"
	post = "POST /p HTTP/1.1\r\nHost: a\r\n"
)

var vectors = []vector{
	// Ordinary requests.
	{"get", get + "\r\n", nil, nil},
	{"post content-length", post + "Content-Length: 5\r\n\r\nhello", nil, nil},
	{"post chunked", post + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", nil, nil},
	{"chunked upper case", post + "Transfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n", nil, nil},
	{"chunked tab before value", post + "Transfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n", nil, nil},
	{"http/1.0", "GET / HTTP/1.0\r\n\r\n", nil, nil},
	{"http/1.0 keep-alive pipelined", "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nPOST /b HTTP/1.0\r\nContent-Length: 2\r\n\r\nhiGET /c HTTP/1.0\r\n\r\n", nil, nil},
	{"pipelined", get + "\r\n" + post + "Content-Length: 3\r\n\r\nabc" + post + "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n" + get + "\r\n", nil, nil},
	{"expect 100-continue", post + "Expect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", nil, nil},
	{"absolute-form", "GET http://a/x?y HTTP/1.1\r\nHost: a\r\n\r\n", nil, nil},
	{"absolute-form http/1.0 no host", "GET http://b/x HTTP/1.0\r\n\r\n", nil, nil},
	{"chunk extension", post + "Transfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\n\r\n", nil, nil},
	{"chunk size leading zeros", post + "Transfer-Encoding: chunked\r\n\r\n0005\r\nhello\r\n0000\r\n\r\n", nil, nil},
	{"chunked trailer", post + "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-T: 1\r\n\r\n" + get + "\r\n", nil, nil},
	{"percent-escapes", "GET /a%20b?q=%zz HTTP/1.1\r\nHost: a\r\n\r\n", nil, nil},

	// CL.TE and TE.CL.
	{"CL.TE", post + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", ErrCLWithTE, ErrCLWithTE},
	{"TE.CL", post + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", ErrCLWithTE, ErrCLWithTE},

	// TE.TE obfuscations.
	{"TE xchunked", post + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", ErrBadTE, errRefused},
	{"TE chunked, identity", post + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", ErrBadTE, errRefused},
	{"TE identity", post + "Transfer-Encoding: identity\r\nContent-Length: 0\r\n\r\n", ErrCLWithTE, ErrCLWithTE},
	{"TE identity alone", post + "Transfer-Encoding: identity\r\n\r\n", ErrBadTE, ErrBadTE},
	{"TE twice", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n", ErrDuplicateTE, errRefused},
	{"TE twice chunked", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", ErrDuplicateTE, errRefused},
	{"TE space before colon", post + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", ErrSpaceInName, errRefused},
	{"TE leading space line", post + " Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", ErrObsFold, errRefused},
	{"TE obs-fold value", post + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", ErrObsFold, ErrObsFold},
	{"TE vertical tab", post + "Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n", ErrBadHeaderValue, errRefused},
	{"TE underscore", post + "Transfer_Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", ErrUnderscoreName, ErrUnderscoreName},
	{"TE on http/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", ErrTEOnHTTP10, errRefused},
	{"TE and CL on http/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", ErrCLWithTE, errRefused},

	// Content-Length.
	{"CL twice equal", post + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", nil, errRefused},
	{"CL twice differing", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", ErrCLConflict, errRefused},
	{"CL plus", post + "Content-Length: +5\r\n\r\nhello", ErrBadCL, errRefused},
	{"CL minus", post + "Content-Length: -1\r\n\r\n", ErrBadCL, errRefused},
	{"CL inner space", post + "Content-Length: 5 5\r\n\r\nhello", ErrBadCL, errRefused},
	{"CL list", post + "Content-Length: 5, 5\r\n\r\nhello", ErrBadCL, errRefused},
	{"CL hex", post + "Content-Length: 0x5\r\n\r\nhello", ErrBadCL, errRefused},
	{"CL empty", post + "Content-Length: \r\n\r\n", ErrBadCL, errRefused},
	{"CL leading zero", post + "Content-Length: 005\r\n\r\nhello", ErrBadCL, ErrBadCL},
	{"CL huge", post + "Content-Length: 99999999999999999999\r\n\r\nhello", ErrBadCL, errRefused},
	{"CL 19 digits", post + "Content-Length: 1000000000000000000\r\n\r\nhello", ErrBadCL, errRefused},
	{"CL underscore", post + "Content_Length: 5\r\n\r\nhello", ErrUnderscoreName, ErrUnderscoreName},

	// Line endings and field syntax.
	{"bare LF head", "GET / HTTP/1.1\nHost: a\n\n" + get + "\r\n", ErrBareLF, ErrBareLF},
	{"bare LF field", get + "X: 1\nY: 2\r\n\r\n", ErrBareLF, ErrBareLF},
	{"bare LF request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", ErrBareLF, nil},
	{"bare CR in value", get + "X: a\rb\r\n\r\n", ErrBadHeaderValue, errRefused},
	{"NUL in value", get + "X: a\x00b\r\n\r\n", ErrBadHeaderValue, errRefused},
	{"obs-fold", get + "X: 1\r\n 2\r\n\r\n", ErrObsFold, ErrObsFold},
	{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", ErrSpaceInName, errRefused},
	{"space inside name", get + "X Y: 1\r\n\r\n", ErrSpaceInName, ErrSpaceInName},
	{"invalid name byte", get + "X(Y): 1\r\n\r\n", ErrBadHeaderName, errRefused},
	{"empty name", get + ": 1\r\n\r\n", ErrBadHeaderName, errRefused},
	{"unterminated", get, ErrUnterminated, errRefused},
	{"leading CRLF after GET", get + "\r\n\r\n" + get + "\r\n", nil, nil},

	// Host.
	{"no Host on http/1.1", "GET / HTTP/1.1\r\n\r\n", ErrMissingHost, errRefused},
	{"empty Host on http/1.1", "GET / HTTP/1.1\r\nHost:\r\n\r\n", ErrMissingHost, errRefused},
	{"Host twice", get + "Host: b\r\n\r\n", ErrDuplicateHost, errRefused},
	{"Host twice equal", get + "host: a\r\n\r\n", ErrDuplicateHost, errRefused},
	{"Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", ErrBadHost, errRefused},
	{"Host percent-escaped", "GET / HTTP/1.1\r\nHost: %c3%a9\r\n\r\n", ErrBadHost, ErrBadHost},
	{"absolute-form percent-escaped host", "GET http://%c3%a9/ HTTP/1.0\r\n\r\n", ErrBadTarget, ErrBadTarget},
	{"Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", ErrBadHost, errRefused},
	{"network-path target without Host", "GET //b/x HTTP/1.0\r\n\r\n", ErrPathNotNormal, ErrPathNotNormal},
	{"network-path target with Host", "GET //b/x HTTP/1.1\r\nHost: a\r\n\r\n", ErrPathNotNormal, ErrPathNotNormal},
	{"absolute-form other host", "GET http://b/x HTTP/1.1\r\nHost: a\r\n\r\n", ErrHostMismatch, ErrHostMismatch},
	{"absolute-form no host on 1.1", "GET http://b/x HTTP/1.1\r\n\r\n", ErrMissingHost, errRefused},
	{"absolute-form ftp", "GET ftp://a/x HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadTarget, ErrBadTarget},
	{"absolute-form userinfo", "GET http://u@a/x HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadTarget, errRefused},

	// Request line.
	{"fragment in target", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadTarget, ErrBadTarget},
	{"dot-dot segment", "GET /public/../admin HTTP/1.1\r\nHost: a\r\n\r\n", ErrPathNotNormal, ErrPathNotNormal},
	{"escaped dot-dot segment", "GET /public/%2e%2E/admin HTTP/1.1\r\nHost: a\r\n\r\n", ErrPathNotNormal, ErrPathNotNormal},
	{"dot segment", "GET /a/./b HTTP/1.1\r\nHost: a\r\n\r\n", ErrPathNotNormal, ErrPathNotNormal},
	{"trailing dot-dot", "GET /a/.. HTTP/1.1\r\nHost: a\r\n\r\n", ErrPathNotNormal, ErrPathNotNormal},
	{"double slash", "GET /a//b HTTP/1.1\r\nHost: a\r\n\r\n", nil, nil},
	{"escaped slash", "GET /a%2F/b HTTP/1.1\r\nHost: a\r\n\r\n", nil, nil},
	{"dots in names", "GET /a/.b/c../...d/f.txt/ HTTP/1.1\r\nHost: a\r\n\r\n", nil, nil},
	{"absolute-form without path", "GET http://a HTTP/1.1\r\nHost: a\r\n\r\n", ErrPathNotNormal, ErrPathNotNormal},
	{"bad escape in path", "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadTarget, ErrBadTarget},
	{"OPTIONS asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadTarget, ErrBadTarget},
	{"asterisk for GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadTarget, errRefused},
	{"relative target", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadTarget, errRefused},
	{"invalid method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadMethod, errRefused},
	{"CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", ErrConnect, ErrConnect},
	{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", ErrBadVersion, ErrBadVersion},
	{"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", ErrBadVersion, errRefused},
	{"two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", ErrBadVersion, errRefused},

	// Expect.
	{"Expect other", post + "Expect: 100-continue, x\r\nContent-Length: 2\r\n\r\nhi", ErrBadExpect, ErrBadExpect},
	{"Expect twice", post + "Expect: 100-continue\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", ErrBadExpect, ErrBadExpect},

	// Chunked bodies: the head is fine; the harness compares the bodies.
	{"chunk size overflow", post + "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nx\r\n0\r\n\r\n", nil, errRefused},
	{"chunk size bare LF", post + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", nil, errRefused},
	{"chunk data bare LF", post + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", nil, errRefused},
	{"chunk size space before ext", post + "Transfer-Encoding: chunked\r\n\r\n5 ;x\r\nhello\r\n0\r\n\r\n", nil, errRefused},
	{"chunk size 0x", post + "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", nil, errRefused},
	{"chunk ext with LF", post + "Transfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n", nil, errRefused},
	{"body shorter than CL", post + "Content-Length: 100\r\n\r\nabc", nil, errRefused},
}

var updateCorpus = flag.Bool("update-corpus", false, "write the vectors to testdata/fuzz/FuzzFraming")

// TestVectors runs each named vector through CheckRaw and through the
// guarded fasthttp server, and checks both decisions.
func TestVectors(t *testing.T) {
	d := newDiffer(t)
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			if err := CheckRaw([]byte(v.raw)); !errors.Is(err, v.rawWant) || (err == nil) != (v.rawWant == nil) {
				t.Errorf("CheckRaw = %v, want %v", err, v.rawWant)
			}
			out := runFast(t, d.fast, []byte(v.raw))
			got := out.rejected
			if got == nil && len(out.seen) == 0 {
				got = errRefused
			}
			if got != v.fastWant {
				t.Errorf("fasthttp + Check: %v, want %v (%s)", got, v.fastWant, describe(out))
			}
		})
	}
}

// TestOrdinaryRequestsPass: what every client sends is forwarded, by both
// servers alike.
func TestOrdinaryRequestsPass(t *testing.T) {
	d := newDiffer(t)
	for _, v := range vectors[:8] {
		t.Run(v.name, func(t *testing.T) {
			netOut, fastOut := d.check(t, []byte(v.raw))
			if fastOut.rejected != nil || len(fastOut.seen) == 0 || len(fastOut.seen) != len(netOut.seen) {
				t.Fatalf("fasthttp %s; net/http %s", describe(fastOut), describe(netOut))
			}
		})
	}
}

// TestEqualContentLengthsNetHTTP shows what CheckRaw's allowance of equal
// Content-Length fields rests on: net/http takes them as one.
func TestEqualContentLengthsNetHTTP(t *testing.T) {
	d := newDiffer(t)
	out := d.runNet(t, []byte(post+"Content-Length: 5\r\nContent-Length:  5\r\n\r\nhello"+get+"\r\n"))
	if len(out.seen) != 2 || out.seen[0].Body != "hello" || out.seen[1].Target != "/" {
		t.Fatalf("net/http saw %s", describe(out))
	}
}

// TestCorpusHasVectors keeps testdata/fuzz/FuzzFraming in step with the
// vectors (go test -run TestCorpusHasVectors -update-corpus rewrites it).
func TestCorpusHasVectors(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzFraming")
	for _, v := range vectors {
		name := filepath.Join(dir, "vector-"+strings.NewReplacer(" ", "-", "/", "", ",", "", ".", "").Replace(v.name))
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", v.raw)
		if *updateCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(name)
		if err != nil || string(got) != want {
			t.Errorf("%s: missing or stale (run with -update-corpus): %v", name, err)
		}
	}
}

// FuzzFraming is the differential property over any input: the guarded
// fasthttp server forwards a prefix of what net/http accepts, request for
// request and body for body, in both body modes.
func FuzzFraming(f *testing.F) {
	for _, v := range vectors {
		f.Add([]byte(v.raw))
	}
	d := newDiffer(f)
	f.Fuzz(func(t *testing.T, input []byte) {
		d.check(t, input)
	})
}
