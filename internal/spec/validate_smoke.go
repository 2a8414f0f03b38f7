package spec

import (
	"slices"
	"strings"
)

// httpMethods are the methods a smoke test most likely means.
var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

func (c *checker) smoke(s *Smoke, path string) {
	if s.GRPC != nil {
		for _, f := range []string{"method", "path", "headers", "expectStatus", "expectBody"} {
			if c.x.isSet(path + "." + f) {
				c.add(path+"."+f, "%s is for HTTP smoke tests; a grpc smoke test calls the gRPC health service only", f)
			}
		}
		c.positive(s.Timeout, path+".timeout", "5s")
		return
	}
	switch {
	case s.Path == "":
		c.add(path+".path", "a path is required: the request path, such as /")
	case !strings.HasPrefix(s.Path, "/"):
		c.add(path+".path", "invalid path %q: want a path starting with '/', such as /", s.Path)
	}
	c.method(s.Method, path+".method")
	if s.ExpectStatus < 100 || s.ExpectStatus > 599 {
		c.add(path+".expectStatus", "expectStatus must be an HTTP status from 100 to 599, got %d", s.ExpectStatus)
	}
	c.positive(s.Timeout, path+".timeout", "5s")
	for _, k := range sortedKeys(s.Headers) {
		if !isToken(k) {
			c.add(joinPath(path+".headers", k), "invalid header name %q", k)
		}
	}
}

// method checks an HTTP method: a token, and upper-case if it is a
// standard method, since methods are case-sensitive.
func (c *checker) method(m, path string) {
	upper := strings.ToUpper(m)
	switch {
	case !isToken(m):
		c.add(path, "invalid HTTP method %q: want a method such as %s", m, strings.Join(httpMethods, ", "))
	case upper != m && slices.Contains(httpMethods, upper):
		c.add(path, "HTTP methods are case-sensitive: want %s, got %s", upper, m)
	}
}

// isToken reports whether s is an HTTP token (RFC 9110), as methods and
// header names must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !isTokenChar(r) {
			return false
		}
	}
	return true
}

func isTokenChar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("!#$%&'*+-.^_`|~", r)
}
