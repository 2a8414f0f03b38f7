package h1guard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/url"
	"unsafe"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http/httpguts"
)

// The reasons Check and CheckRaw give. Each is a sentinel, so a caller can
// count them by errors.Is, and returning one allocates nothing.
var (
	ErrCLWithTE       = errors.New("h1guard: Content-Length with Transfer-Encoding")
	ErrCLConflict     = errors.New("h1guard: Content-Length fields that differ")
	ErrBadCL          = errors.New("h1guard: invalid Content-Length")
	ErrDuplicateTE    = errors.New("h1guard: more than one Transfer-Encoding")
	ErrBadTE          = errors.New("h1guard: Transfer-Encoding other than chunked")
	ErrTEOnHTTP10     = errors.New("h1guard: Transfer-Encoding on HTTP/1.0")
	ErrBadHeaderName  = errors.New("h1guard: invalid header name")
	ErrSpaceInName    = errors.New("h1guard: whitespace in header name or before colon")
	ErrUnderscoreName = errors.New("h1guard: underscore variant of Content-Length or Transfer-Encoding")
	ErrObsFold        = errors.New("h1guard: obs-fold (header line starting with whitespace)")
	ErrBadHeaderValue = errors.New("h1guard: control byte in header value")
	ErrBareLF         = errors.New("h1guard: line not ended by CRLF")
	ErrUnterminated   = errors.New("h1guard: header block not ended by an empty line")
	ErrMissingHost    = errors.New("h1guard: HTTP/1.1 request without Host")
	ErrDuplicateHost  = errors.New("h1guard: more than one Host")
	ErrBadHost        = errors.New("h1guard: invalid Host")
	ErrHostMismatch   = errors.New("h1guard: absolute-form target's authority differs from Host")
	ErrBadMethod      = errors.New("h1guard: invalid method")
	ErrConnect        = errors.New("h1guard: CONNECT is not proxied")
	ErrBadTarget      = errors.New("h1guard: invalid request-target")
	ErrPathNotNormal  = errors.New("h1guard: path with a . or .. segment, or starting with //")
	ErrBadVersion     = errors.New("h1guard: HTTP version other than HTTP/1.1 or HTTP/1.0")
	ErrBadRequestLine = errors.New("h1guard: malformed request line")
	ErrBadExpect      = errors.New("h1guard: Expect other than one 100-continue")
)

// Check decides whether a request head parsed by fasthttp may be forwarded:
// nil, or the reason to answer 400 and close the connection. It reads the
// request line from h and the header block from h.RawHeaders(), the wire
// bytes fasthttp set aside while parsing, because fasthttp's parsed view has
// already folded, merged or dropped what Check must see (a second
// Transfer-Encoding value, a folded line, a Host replaced by the target's
// authority). It must run before the request is routed, with the header as
// the server parsed it; it does not allocate for an origin-form target.
func Check(h *fasthttp.RequestHeader) error {
	var r head
	if err := r.requestLine(h.Method(), h.RequestURI(), h.Protocol()); err != nil {
		return err
	}
	block := h.RawHeaders()
	if len(block) == 0 {
		// fasthttp keeps no raw copy of an empty block.
		block = crlf
	}
	if _, err := r.fields(block); err != nil {
		return err
	}
	return r.decide()
}

// CheckRaw is Check over the raw bytes of a request head: the request line,
// the header fields and the empty line that ends them. Bytes after the empty
// line (a body, the next request) are not examined.
func CheckRaw(raw []byte) error {
	var r head
	line, rest, err := cutLine(raw)
	if err != nil {
		return err
	}
	method, after, ok := bytes.Cut(line, sp)
	if !ok {
		return ErrBadRequestLine
	}
	target, proto, ok := bytes.Cut(after, sp)
	if !ok {
		return ErrBadRequestLine
	}
	if err := r.requestLine(method, target, proto); err != nil {
		return err
	}
	if _, err := r.fields(rest); err != nil {
		return err
	}
	return r.decide()
}

var (
	crlf = []byte("\r\n")
	sp   = []byte(" ")
)

// head is what one pass over a request head learns; decide judges it.
type head struct {
	target    []byte
	http11    bool
	authority []byte // of an absolute-form target

	hosts, cls, tes, expects int
	host, cl, te, expect     []byte
}

func (r *head) requestLine(method, target, proto []byte) error {
	if !validToken(method) {
		return ErrBadMethod
	}
	if string(method) == "CONNECT" {
		return ErrConnect
	}
	switch string(proto) {
	case "HTTP/1.1":
		r.http11 = true
	case "HTTP/1.0":
	default:
		return ErrBadVersion
	}
	r.target = target
	return r.requestTarget()
}

// requestTarget accepts origin-form ("/path?query") and absolute-form with
// an http or https scheme, each only where net/http's url.ParseRequestURI
// accepts it too.
func (r *head) requestTarget() error {
	t := r.target
	if len(t) == 0 {
		return ErrBadTarget
	}
	for _, c := range t {
		// No fragment: net/http keeps "#..." in the path, fasthttp cuts it off.
		if c <= ' ' || c == 0x7f || c == '#' {
			return ErrBadTarget
		}
	}
	switch {
	case t[0] == '/':
		path, _, _ := bytes.Cut(t, []byte("?"))
		if !validEscapes(path) {
			return ErrBadTarget
		}
		return pathNormal(path)
	case len(t) == 1 && t[0] == '*':
		// net/http answers OPTIONS * itself and never hands it to the
		// proxy; neither may the fast path forward it.
		return ErrBadTarget
	}
	// Absolute-form is rare enough to be parsed by net/url itself, which
	// allocates; the common forms above do not.
	if !hasPrefixFold(t, "http://") && !hasPrefixFold(t, "https://") {
		return ErrBadTarget
	}
	u, err := url.ParseRequestURI(string(t))
	if err != nil || u.Host == "" || u.User != nil || u.Opaque != "" {
		return ErrBadTarget
	}
	_, rest, _ := bytes.Cut(t, []byte("://"))
	end := bytes.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	r.authority = rest[:end]
	if !validHost(r.authority) {
		return ErrBadTarget
	}
	path, _, _ := bytes.Cut(rest[end:], []byte("?"))
	if len(path) == 0 {
		// net/http's path is "", fasthttp's "/".
		return ErrPathNotNormal
	}
	return pathNormal(path)
}

// pathNormal refuses a path whose percent-decoded form has a "." or ".."
// segment, or that starts with "//". fasthttp normalizes the decoded path
// (those segments removed), net/http keeps it as it is:
// "/public/%2e%2e/admin" would be /admin to one and under /public to the
// other; and fasthttp reads "//x/y" as host x. Other empty segments
// ("/a//b") pass: the proxy's fast path routes and forwards the path as
// sent, as net/http does, and only fasthttp's normalized view (which it
// does not use) would drop them. p starts with "/" and its escapes are
// valid.
func pathNormal(p []byte) error {
	if len(p) > 1 && p[1] == '/' {
		return ErrPathNotNormal
	}
	seg, dots := 0, 0 // decoded bytes in the current segment, and its dots
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' {
			c = unhex(p[i+1])<<4 | unhex(p[i+2])
			i += 2
		}
		if c != '/' {
			seg++
			if c == '.' {
				dots++
			}
			continue
		}
		if seg > 0 && seg == dots && seg <= 2 {
			return ErrPathNotNormal
		}
		seg, dots = 0, 0
	}
	if seg > 0 && seg == dots && seg <= 2 {
		return ErrPathNotNormal
	}
	return nil
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// fields scans a header block up to and including its empty line and
// returns the bytes after it. One pass: each byte is looked at once, the
// value's eight at a time.
func (r *head) fields(b []byte) ([]byte, error) {
	for {
		if len(b) == 0 {
			return nil, ErrUnterminated
		}
		switch b[0] {
		case '\r':
			if len(b) < 2 {
				return nil, ErrUnterminated
			}
			if b[1] != '\n' {
				return nil, ErrBadHeaderName
			}
			return b[2:], nil
		case '\n':
			return nil, ErrBareLF
		case ' ', '\t':
			return nil, ErrObsFold
		}
		n, err := r.field(b)
		if err != nil {
			return nil, err
		}
		b = b[n:]
	}
}

// cutLine returns the line before the first CRLF and the bytes after it.
func cutLine(b []byte) (line, rest []byte, err error) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return nil, nil, ErrUnterminated
	}
	if i == 0 || b[i-1] != '\r' {
		return nil, nil, ErrBareLF
	}
	return b[:i-1], b[i+1:], nil
}

// field reads the header line at the start of b and returns its length,
// CRLF included.
func (r *head) field(b []byte) (int, error) {
	underscore := false
	colon := 0
name:
	for ; colon < len(b); colon++ {
		switch nameByte[b[colon]] {
		case nameToken:
		case nameUnderscore:
			underscore = true
		case nameSpace:
			return 0, ErrSpaceInName
		default:
			if b[colon] == ':' && colon > 0 {
				break name
			}
			return 0, ErrBadHeaderName
		}
	}
	if colon == len(b) {
		return 0, ErrUnterminated
	}
	name := b[:colon]
	end := colon + 1 + valueEnd(b[colon+1:])
	switch {
	case end+1 >= len(b):
		return 0, ErrUnterminated
	case b[end] == '\n':
		return 0, ErrBareLF
	case b[end] != '\r':
		return 0, ErrBadHeaderValue
	case b[end+1] != '\n':
		return 0, ErrBadHeaderValue // a bare CR
	}
	value := trimOWS(b[colon+1 : end])
	if underscore {
		// Some upstreams (CGI-style gateways) read "_" as "-": to them
		// Content_Length would be a second Content-Length.
		if dashFold(name, "content-length") || dashFold(name, "transfer-encoding") {
			return 0, ErrUnderscoreName
		}
		return end + 2, nil
	}
	switch len(name) {
	case len("host"):
		if equalFold(name, "host") {
			r.hosts++
			r.host = value
		}
	case len("content-length"):
		if equalFold(name, "content-length") {
			if r.cls > 0 && !bytes.Equal(r.cl, value) {
				return 0, ErrCLConflict
			}
			r.cls++
			r.cl = value
		}
	case len("transfer-encoding"):
		if equalFold(name, "transfer-encoding") {
			r.tes++
			r.te = value
		}
	case len("expect"):
		if equalFold(name, "expect") {
			r.expects++
			r.expect = value
		}
	}
	return end + 2, nil
}

// valueEnd returns the index of the first control byte in v other than
// HTAB (CR, LF, NUL, DEL...), or len(v), eight bytes at a time: only a word
// holding a byte below 0x20 or equal to 0x7f is looked at byte by byte.
func valueEnd(v []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(v); i += 8 {
		x := binary.LittleEndian.Uint64(v[i:])
		del := x ^ (0x7f * ones)
		if ((x-0x20*ones)&^x|(del-ones)&^del)&highs == 0 {
			continue
		}
		if j := ctlIndex(v[i : i+8]); j >= 0 {
			return i + j
		}
	}
	if j := ctlIndex(v[i:]); j >= 0 {
		return i + j
	}
	return len(v)
}

func ctlIndex(v []byte) int {
	for i, c := range v {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return i
		}
	}
	return -1
}

// decide judges the facts gathered, most telling reason first.
func (r *head) decide() error {
	if r.tes > 0 {
		switch {
		case r.cls > 0:
			return ErrCLWithTE
		case !r.http11:
			return ErrTEOnHTTP10
		case r.tes > 1:
			return ErrDuplicateTE
		case !equalFold(r.te, "chunked"):
			return ErrBadTE
		}
	}
	if r.cls > 0 && !validContentLength(r.cl) {
		return ErrBadCL
	}
	switch {
	case r.hosts > 1:
		return ErrDuplicateHost
	case r.hosts == 0 && r.http11:
		return ErrMissingHost
	case r.hosts == 1 && len(r.host) == 0 && r.http11:
		return ErrMissingHost
	case r.hosts == 1 && !validHost(r.host):
		return ErrBadHost
	case r.authority != nil && r.hosts == 1 && !bytes.EqualFold(r.authority, r.host):
		return ErrHostMismatch
	}
	if r.expects > 1 || (r.expects == 1 && !equalFold(r.expect, "100-continue")) {
		return ErrBadExpect
	}
	return nil
}

// validContentLength accepts 1*DIGIT without a sign, a leading zero (some
// parsers read octal) or more digits than any body this proxy will take.
func validContentLength(v []byte) bool {
	if len(v) == 0 || len(v) > 18 || (v[0] == '0' && len(v) > 1) {
		return false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// validHost is net/http's Host check, less userinfo and percent-escapes:
// fasthttp decodes "%61" to "a" in the host it routes by, net/http does not.
func validHost(h []byte) bool {
	return bytes.IndexByte(h, '@') < 0 && bytes.IndexByte(h, '%') < 0 &&
		httpguts.ValidHostHeader(unsafe.String(unsafe.SliceData(h), len(h)))
}

// validEscapes reports whether every % in p starts a %XX escape, as
// net/url's unescape demands of a path.
func validEscapes(p []byte) bool {
	for i := bytes.IndexByte(p, '%'); i >= 0; i = bytes.IndexByte(p, '%') {
		if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			return false
		}
		p = p[i+3:]
	}
	return true
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// nameByte classes the bytes of a header name: RFC 9110's tchar (as
// net/http's check has it), "_" among them, whitespace, the rest.
const (
	nameInvalid = iota
	nameToken
	nameUnderscore
	nameSpace
)

var nameByte = func() (t [256]uint8) {
	for c := range 128 {
		if httpguts.IsTokenRune(rune(c)) {
			t[c] = nameToken
		}
	}
	t['_'] = nameUnderscore
	t[' '], t['\t'] = nameSpace, nameSpace
	return t
}()

func validToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if nameByte[c] != nameToken && nameByte[c] != nameUnderscore {
			return false
		}
	}
	return true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold compares ASCII case-insensitively; s is lower case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

// dashFold is equalFold reading "_" in b as "-".
func dashFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := lower(b[i])
		if c == '_' {
			c = '-'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func hasPrefixFold(b []byte, s string) bool {
	return len(b) >= len(s) && equalFold(b[:len(s)], s)
}
