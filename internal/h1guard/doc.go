// Package h1guard is the HTTP/1.1 framing guard of the proxy's fast path.
//
// The threat is request smuggling: two HTTP/1.1 parsers reading one byte
// stream and cutting it into different requests. If the proxy takes a body
// by Content-Length while the instance behind it takes it by
// Transfer-Encoding (or the other way round, or one honours an obfuscated
// "Transfer-Encoding: xchunked" the other ignores), the tail of one client's
// body becomes a request of its own upstream: it bypasses the proxy's rules
// and may be answered to another client. The fast path parses with
// valyala/fasthttp, which is lenient where net/http, the parser of the rest
// of bluejay, refuses; so before routing, the proxy calls Check on every
// parsed head and answers 400 and closes the connection on any error.
//
// The rule: forward a request only if net/http would have framed and
// addressed it the same way and nothing about it is ambiguous. Check
// refuses
//   - Content-Length together with Transfer-Encoding; Transfer-Encoding other
//     than one field "chunked" (any case), and any on HTTP/1.0;
//   - Content-Length fields that differ, or one that is not 1 to 18 digits
//     without sign or leading zero (equal duplicates are one, as in net/http;
//     fasthttp refuses them before Check runs);
//   - Content_Length and Transfer_Encoding, which CGI-style upstreams read as
//     the real thing;
//   - header names that are not tokens or have whitespace before the colon;
//     obs-fold; control bytes (NUL, CR, LF...) in values; lines not ended by
//     CRLF;
//   - HTTP/1.1 without exactly one Host, more than one Host, an invalid Host
//     or one with percent-escapes (fasthttp routes by the decoded host), an
//     absolute-form target whose authority is not the Host;
//   - invalid method tokens, CONNECT, versions other than HTTP/1.1 and
//     HTTP/1.0, targets other than origin-form and http(s) absolute-form
//     that net/url accepts, a target with a fragment (net/http keeps it in
//     the path, fasthttp drops it), OPTIONS * (net/http answers it itself);
//   - a path whose decoded form has a "." or ".." segment, or that starts
//     with "//": fasthttp normalizes those away (and reads "//x" as a host),
//     net/http keeps the path as sent, and so does the fast path, which
//     routes and forwards the path as sent: "/a//b" passes;
//   - Expect other than one "100-continue" (net/http answers 417 and closes).
//
// Check reads the request line from the RequestHeader and the header block
// from RequestHeader.RawHeaders, the wire bytes fasthttp keeps: its parsed
// view has already joined folded lines and replaced Host with an
// absolute-form target's authority. What no head shows is left to fasthttp
// and pinned by the tests: bare LF ending the request line (both parsers
// take it, and the proxy re-serializes the head), empty lines before a
// request line (RFC 9112 section 2.2), and chunked bodies (fasthttp's
// chunk reader is at least as strict as net/http's). CheckRaw applies the
// same rules to raw head bytes, request line included.
//
// The evidence is the differential test: FuzzFraming feeds one byte stream,
// pipelined requests and bodies included, to a real net/http server and to
// a real fasthttp.Server whose handler runs Check, and requires the guarded
// side to forward a prefix of what net/http accepts, request for request and
// body for body. Its seeds are the known smuggling vectors (vectors_test.go,
// testdata/fuzz/FuzzFraming).
package h1guard
