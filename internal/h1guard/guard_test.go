package h1guard

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// parsed returns raw's head as fasthttp's server parses it.
func parsed(t testing.TB, raw string) *fasthttp.RequestHeader {
	t.Helper()
	var h fasthttp.RequestHeader
	if err := h.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatalf("fasthttp refused %q: %v", raw, err)
	}
	return &h
}

// ordinary is a browser-like GET: the head the fast path sees most.
const ordinary = "GET /api/items?page=2 HTTP/1.1\r\n" +
	"Host: shop.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Cookie: session=abc123; theme=dark\r\n" +
	"Connection: keep-alive\r\n" +
	"\r\n"

func TestCheckOrdinary(t *testing.T) {
	for _, raw := range []string{
		ordinary,
		"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"PUT /a%2Fb HTTP/1.1\r\nHost: a:8080\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
		"GET http://a:8080/x HTTP/1.1\r\nHost: a:8080\r\n\r\n",
	} {
		if err := Check(parsed(t, raw)); err != nil {
			t.Errorf("Check(%q) = %v", raw, err)
		}
		if err := CheckRaw([]byte(raw)); err != nil {
			t.Errorf("CheckRaw(%q) = %v", raw, err)
		}
	}
}

// TestCheckNoAllocs: Check runs on every request of the fast path, which
// must not allocate in steady state.
func TestCheckNoAllocs(t *testing.T) {
	for _, raw := range []string{
		ordinary,
		"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET /a%20b HTTP/1.0\r\n\r\n",
	} {
		h := parsed(t, raw)
		if n := testing.AllocsPerRun(100, func() {
			if err := Check(h); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("Check(%q) allocates %v times", raw, n)
		}
	}
	// A refusal allocates nothing either: the reasons are sentinels.
	h := parsed(t, "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
	if n := testing.AllocsPerRun(100, func() { _ = Check(h) }); n != 0 {
		t.Errorf("refusing allocates %v times", n)
	}
}

func BenchmarkCheck(b *testing.B) {
	h := parsed(b, ordinary)
	b.ReportAllocs()
	for b.Loop() {
		if err := Check(h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse is fasthttp's own parse of the same head, for scale.
func BenchmarkParse(b *testing.B) {
	var h fasthttp.RequestHeader
	r := strings.NewReader(ordinary)
	br := bufio.NewReader(r)
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(ordinary)
		br.Reset(r)
		if err := h.Read(br); err != nil {
			b.Fatal(err)
		}
	}
}

// TestValueEnd checks the word-at-a-time scan against the byte loop for
// every byte value at every offset of values of several lengths.
func TestValueEnd(t *testing.T) {
	for n := 1; n <= 19; n++ {
		for at := 0; at < n; at++ {
			for c := range 256 {
				v := []byte(strings.Repeat("a\x80~ ", 5)[:n])
				v[at] = byte(c)
				want := ctlIndex(v)
				if want < 0 {
					want = len(v)
				}
				if got := valueEnd(v); got != want {
					t.Fatalf("valueEnd(%q) = %d, want %d", v, got, want)
				}
			}
		}
	}
}
