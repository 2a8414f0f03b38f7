package nginx

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// generationPath is the status server's location that answers the
// rendered configuration's generation.
const generationPath = "/bluejay/generation"

// layout is what the rendered file needs besides the routes.
type layout struct {
	listen, status, generation string
	// versionHeader, when set, names a response header carrying the
	// version that served the request, as proxy.versionHeader does for
	// the builtin proxy.
	versionHeader string
}

// render returns the file bluejay owns for routes (sorted by service):
// the status server, then per service its upstreams, maps and
// split_clients, then the server blocks.
func render(l layout, routes []router.Route) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Rendered by bluejay (router.nginx): every change overwrites this file.\n# generation %s\n\n", l.generation)
	fmt.Fprintf(&b, "server {\n    listen %s;\n    access_log off;\n", l.status)
	fmt.Fprintf(&b, "    location = %s {\n        default_type text/plain;\n        return 200 %s;\n    }\n", generationPath, quote(l.generation))
	b.WriteString("    location / {\n        return 404;\n    }\n}\n")
	svcs := make([]*service, len(routes))
	for i, r := range routes {
		// The index keeps names apart whatever the services are called.
		svcs[i] = compile(r, fmt.Sprintf("bj%d_%s", i, sanitize(r.Service)), l.versionHeader != "")
		b.Write(svcs[i].b.Bytes())
	}
	writeServers(&b, l.listen, l.versionHeader, svcs)
	return b.Bytes()
}

// service is one route compiled to NGINX names.
type service struct {
	r       router.Route
	name    string            // the prefix of its upstreams and variables
	ups     map[string]string // version → upstream, for versions with addresses
	order   []string          // upstreams in pick order
	target  string            // what proxy_pass gets: an upstream, a variable, or "" (503)
	cookie  string            // "$var" holding the Set-Cookie value of a generated key, or ""
	version string            // the version label, or a "$var" mapping target to it; "" without a version header
	b       bytes.Buffer      // its http-level directives
}

// compile renders r's http-level blocks into s.b and works out its
// proxy_pass target.
func compile(r router.Route, name string, versioned bool) *service {
	s := &service{r: r, name: name, ups: map[string]string{}}
	fmt.Fprintf(&s.b, "\n# service %s\n", r.Service)
	for i, be := range r.Backends {
		if len(be.Addrs) == 0 {
			continue
		}
		up := fmt.Sprintf("%s_%d_%s", name, i, sanitize(be.Version))
		s.ups[be.Version], s.order = up, append(s.order, up)
		fmt.Fprintf(&s.b, "upstream %s {\n    # version %s, weight %d\n", up, be.Version, be.Weight)
		for _, a := range be.Addrs {
			fmt.Fprintf(&s.b, "    server %s max_fails=0;\n", a)
		}
		s.b.WriteString("    keepalive 16;\n}\n")
	}
	split := s.split()
	rule := s.rules()
	switch {
	case rule == "":
		s.target = split
	default:
		s.target = "$" + name + "_pick"
		fmt.Fprintf(&s.b, "map %s $%s_pick {\n    \"\" %s;\n    default %s;\n}\n", rule, name, quote(split), rule)
	}
	if versioned {
		s.versionOf()
	}
	return s
}

// versionOf works out the version header's value: the version itself
// when one upstream takes everything, else a map from the picked
// upstream to its version.
func (s *service) versionOf() {
	label := map[string]string{}
	for v, up := range s.ups {
		label[up] = v
	}
	switch {
	case s.target == "":
	case !strings.HasPrefix(s.target, "$"):
		s.version = quote(label[s.target])
	default:
		s.version = "$" + s.name + "_version"
		fmt.Fprintf(&s.b, "map %s %s {\n", s.target, s.version)
		for _, up := range s.order {
			fmt.Fprintf(&s.b, "    %s %s;\n", up, quote(label[up]))
		}
		s.b.WriteString("    default \"\";\n}\n")
	}
}

// split renders the weighted pick and returns what it evaluates to: a
// split_clients variable, one upstream, or "" when no version is
// eligible.
func (s *service) split() string {
	type share struct {
		up     string
		weight int
	}
	var shares []share
	total := 0
	for i, be := range s.r.Backends {
		if be.Weight > 0 && len(be.Addrs) > 0 {
			shares = append(shares, share{fmt.Sprintf("%s_%d_%s", s.name, i, sanitize(be.Version)), be.Weight})
			total += be.Weight
		}
	}
	switch len(shares) {
	case 0:
		return ""
	case 1:
		return shares[0].up
	}
	key := "$request_id"
	if s.r.Sticky != nil {
		key = s.stickyKey()
	}
	v := "$" + s.name + "_split"
	fmt.Fprintf(&s.b, "split_clients %s %s {\n", quote(key), v)
	// Boundaries are cumulative, in hundredths of a percent, so that the
	// first backend's range only grows with its weight (sticky users
	// move to it, never back) and rounding never adds up.
	cum, prev := 0, 0
	for i, sh := range shares {
		if i == len(shares)-1 {
			fmt.Fprintf(&s.b, "    * %s;\n", sh.up)
			break
		}
		cum += sh.weight
		bound := (cum*10000 + total/2) / total
		if d := bound - prev; d > 0 {
			fmt.Fprintf(&s.b, "    %d.%02d%% %s;\n", d/100, d%100, sh.up)
		}
		prev = bound
	}
	s.b.WriteString("}\n")
	return v
}

// stickyKey renders the sticky key's maps and returns the variable
// holding it: the header, else the cookie, else a fresh random key
// ($request_id), set in the cookie when the route generates keys.
func (s *service) stickyKey() string {
	st := s.r.Sticky
	key := "$request_id"
	var present []string // the variables of a key the request brought
	if st.Cookie != "" {
		c := s.cookieVar(st.Cookie, "key")
		present = append(present, c)
		fmt.Fprintf(&s.b, "map %s $%s_ckey {\n    \"\" $request_id;\n    default %s;\n}\n", c, s.name, c)
		key = "$" + s.name + "_ckey"
	}
	if st.Header != "" {
		h := headerVar(st.Header)
		present = append(present, h)
		fmt.Fprintf(&s.b, "map %s $%s_key {\n    \"\" %s;\n    default %s;\n}\n", h, s.name, key, h)
		key = "$" + s.name + "_key"
	}
	if st.Generate && st.Cookie != "" {
		s.cookie = "$" + s.name + "_setcookie"
		fmt.Fprintf(&s.b, "map %s %s {\n    \"\" %s;\n    default \"\";\n}\n",
			quote(strings.Join(present, "")), s.cookie, quote(setCookie(st)))
	}
	return key
}

// setCookie is the Set-Cookie value of a generated key.
func setCookie(st *router.Sticky) string {
	path := st.Path
	if path == "" {
		path = "/"
	}
	v := st.Cookie + "=$request_id; Path=" + path
	if st.MaxAge > 0 {
		v += fmt.Sprintf("; Max-Age=%d", st.MaxAge)
	}
	if st.Secure {
		v += "; Secure"
	}
	if st.HTTPOnly {
		v += "; HttpOnly"
	}
	switch strings.ToLower(st.SameSite) {
	case "strict":
		v += "; SameSite=Strict"
	case "none":
		v += "; SameSite=None"
	default:
		v += "; SameSite=Lax"
	}
	return v
}

// cookieVar renders a map extracting cookie name from the Cookie header
// and returns its variable ("" without the cookie). NGINX's $cookie_
// variables cannot name cookies with '-' or '.', so a regex reads it.
func (s *service) cookieVar(name, tag string) string {
	v := fmt.Sprintf("$%s_%s_cookie", s.name, tag)
	capture := fmt.Sprintf("%s_%s_cv", s.name, tag)
	re := fmt.Sprintf(`~(?:^|;)\s*%s=(?<%s>[^;]+)`, regexp.QuoteMeta(name), capture)
	fmt.Fprintf(&s.b, "map $http_cookie %s {\n    %s $%s;\n    default \"\";\n}\n", v, quote(re), capture)
	return v
}

// headerVar is the variable of a request header.
func headerVar(name string) string {
	return "$http_" + strings.ReplaceAll(strings.ToLower(name), "-", "_")
}

// rules renders the route's header and cookie rules as a chain of maps,
// the first rule's checked first, and returns the variable holding the
// upstream of the first match ("" when none matches), or "" without
// rules. A rule to a version without addresses is left out: its requests
// take the weights, as in the builtin proxy.
func (s *service) rules() string {
	type compiled struct{ src, pattern, up string }
	var rs []compiled
	for i, ru := range s.r.Rules {
		up, ok := s.ups[ru.Version]
		if !ok {
			continue
		}
		src := headerVar(ru.Header)
		if ru.Header == "" {
			src = s.cookieVar(ru.Cookie, fmt.Sprintf("r%d", i))
		}
		var pattern string
		switch {
		case ru.Exact != "":
			pattern = "~^" + regexp.QuoteMeta(ru.Exact) + "$"
		case ru.Prefix != "":
			pattern = "~^" + regexp.QuoteMeta(ru.Prefix)
		case ru.Regex != "":
			pattern = "~" + ru.Regex
		default:
			continue
		}
		rs = append(rs, compiled{src, pattern, up})
	}
	if len(rs) == 0 {
		return ""
	}
	next := `""`
	for i := len(rs) - 1; i >= 0; i-- {
		v := fmt.Sprintf("$%s_rule%d", s.name, i)
		// An empty value never matches, as in the builtin proxy: exact
		// strings are looked up before regexes.
		fmt.Fprintf(&s.b, "map %s %s {\n    \"\" %s;\n    %s %s;\n    default %s;\n}\n", rs[i].src, v, next, quote(rs[i].pattern), rs[i].up, next)
		next = v
	}
	return next
}

// writeServers renders the server blocks: a default server for the
// host-less routes and one per host. A host's server also carries the
// host-less routes that none of its own prefixes covers, so that, as in
// the builtin proxy, a host's routes win over host-less ones whatever
// their length, and host-less ones serve the rest.
func writeServers(b *bytes.Buffer, listen, versionHeader string, svcs []*service) {
	byHost := map[string][]*service{}
	var anyHost []*service
	for _, s := range svcs {
		if h := strings.ToLower(s.r.Host); h != "" {
			byHost[h] = append(byHost[h], s)
		} else {
			anyHost = append(anyHost, s)
		}
	}
	writeServer(b, listen, "", versionHeader, anyHost)
	for _, h := range slices.Sorted(mapsKeys(byHost)) {
		own := byHost[h]
		locs := slices.Clone(own)
		for _, a := range anyHost {
			if !slices.ContainsFunc(own, func(o *service) bool { return strings.HasPrefix(prefix(a.r), prefix(o.r)) }) {
				locs = append(locs, a)
			}
		}
		writeServer(b, listen, h, versionHeader, locs)
	}
}

func writeServer(b *bytes.Buffer, listen, host, versionHeader string, locs []*service) {
	if host == "" {
		fmt.Fprintf(b, "\nserver {\n    listen %s default_server;\n    server_name _;\n", listen)
	} else {
		fmt.Fprintf(b, "\nserver {\n    listen %s;\n    server_name %s;\n", listen, host)
	}
	b.WriteString(serverCommon)
	root := false
	for _, s := range locs {
		p := prefix(s.r)
		root = root || p == "/"
		fmt.Fprintf(b, "    location ^~ %s {\n        # service %s\n", quote(p), s.r.Service)
		if s.cookie != "" {
			fmt.Fprintf(b, "        add_header Set-Cookie %s always;\n", s.cookie)
		}
		if versionHeader != "" && s.version != "" {
			fmt.Fprintf(b, "        add_header %s %s always;\n", versionHeader, s.version)
		}
		switch {
		case s.target == "":
			b.WriteString("        return 503;\n")
		case strings.HasPrefix(s.target, "$"):
			fmt.Fprintf(b, "        if (%s = \"\") {\n            return 503;\n        }\n        proxy_pass http://%s;\n", s.target, s.target)
		default:
			fmt.Fprintf(b, "        proxy_pass http://%s;\n", s.target)
		}
		b.WriteString("    }\n")
	}
	if !root {
		b.WriteString("    location / {\n        return 404;\n    }\n")
	}
	b.WriteString("}\n")
}

// serverCommon forwards as the builtin proxy does: the path and Host as
// the client sent them, the forwarding headers set afresh, keep-alive
// connections to the instances.
const serverCommon = `    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_set_header X-Forwarded-Host $http_host;
    proxy_set_header X-Forwarded-Proto $scheme;
`

func prefix(r router.Route) string {
	if r.PathPrefix == "" {
		return "/"
	}
	return r.PathPrefix
}

// quote writes s as an NGINX quoted string: '\' and '"' escaped.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// sanitize keeps the characters NGINX names may hold.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
