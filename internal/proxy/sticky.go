package proxy

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// buckets is how many sticky buckets a service's users hash into: a
// weight of 1% is 100 buckets.
const buckets = 10000

// bucketOf hashes a service's sticky key to a bucket with FNV-1a, written
// out so that it allocates nothing. The hash must not change between
// processes or releases: a restarted proxy must put every user where the
// last one did.
func bucketOf(service, key string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(service); i++ {
		h = (h ^ uint64(service[i])) * prime
	}
	h = (h ^ 0) * prime // separates service from key
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * prime
	}
	return h % buckets
}

// stickyKey returns the request's sticky key, generating one (and setting
// its cookie on w) when the route asks for that; "" when there is none.
func (p *Proxy) stickyKey(v *view, rt *route) string {
	st := rt.sticky
	if st.Header != "" {
		if k := v.header(st.Header); k != "" {
			return k
		}
	}
	if st.Cookie != "" {
		if k := v.cookie(st.Cookie); k != "" {
			return k
		}
	}
	if !st.Generate || st.Cookie == "" {
		return ""
	}
	key := p.generateKey(v)
	v.setStickyCookie(rt, key)
	return key
}

func stickyCookie(st *router.Sticky, key string) *http.Cookie {
	c := &http.Cookie{Name: st.Cookie, Value: key, Path: st.Path, MaxAge: st.MaxAge,
		Secure: st.Secure, HttpOnly: st.HTTPOnly, SameSite: http.SameSiteLaxMode}
	if c.Path == "" {
		c.Path = "/"
	}
	switch strings.ToLower(st.SameSite) {
	case "strict":
		c.SameSite = http.SameSiteStrictMode
	case "none":
		c.SameSite = http.SameSiteNoneMode
	}
	return c
}

// rule is a router.Rule compiled for the request path.
type rule struct {
	header, cookie string
	match          func(string) bool
	backend        *backend
}

// compileRules keeps the rules whose version has ready instances: a rule
// never routes to what is not ready, its requests take the weights then.
// A regex that does not compile drops its rule (the spec validates them).
func compileRules(rs []router.Rule, byVersion map[string]*backend) []rule {
	var out []rule
	for _, r := range rs {
		be := byVersion[r.Version]
		if be == nil {
			continue
		}
		m := matcher(r)
		if m == nil {
			continue
		}
		out = append(out, rule{header: r.Header, cookie: r.Cookie, match: m, backend: be})
	}
	return out
}

func matcher(r router.Rule) func(string) bool {
	switch {
	case r.Exact != "":
		return func(v string) bool { return v == r.Exact }
	case r.Prefix != "":
		return func(v string) bool { return strings.HasPrefix(v, r.Prefix) }
	case r.Regex != "":
		re, err := regexp.Compile(r.Regex)
		if err != nil {
			return nil
		}
		return re.MatchString
	}
	return nil
}

// ruled returns the upstream of the first rule r matches, nil if none.
func (rt *route) ruled(r *view) *upstream {
	for _, ru := range rt.rules {
		v := ""
		if ru.header != "" {
			v = r.header(ru.header)
		} else {
			v = r.cookie(ru.cookie)
		}
		if v != "" && ru.match(v) {
			return ru.backend.nextUpstream()
		}
	}
	return nil
}
