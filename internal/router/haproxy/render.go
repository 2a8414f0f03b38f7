package haproxy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// files are the paths HAProxy reads that bluejay writes.
type files struct {
	config, mapFile, stateFile string
	// versionMap names each version backend's version, for the version
	// header: a map of its own, as map_str_int would refuse its values.
	versionMap string
}

// settings are the parts of the rendered file that come from the
// configuration rather than from the routes.
type settings struct {
	bind    string
	timeout time.Duration
	files   files
	// versionHeader, when set, names the response header that carries
	// the version that served the request.
	versionHeader string
}

// markerPrefix names the empty backend that tells which generation of
// the file a worker runs: `show backend` lists it, so after a reload
// bluejay sees when the new worker answers the admin socket.
const markerPrefix = "bluejay_config_"

// render returns the file bluejay owns: a defaults section of its own,
// the frontend that picks a service and a version backend per request,
// and the version backends. With state, servers carry their current
// addresses and readiness, so that a reload (bluejay's or anyone's)
// starts where the runtime API left off: HAProxy 2.6 does not restore
// addresses from the server-state file. The marker's hash covers only
// the structure (what the runtime API cannot change), so a weight or
// address change never asks for a reload.
func render(m *model, st settings) (file []byte, marker string) {
	structure := renderWith(m, st, false, "")
	sum := sha256.Sum256(structure)
	marker = markerPrefix + hex.EncodeToString(sum[:6])
	return renderWith(m, st, true, marker), marker
}

func renderWith(m *model, st settings, state bool, marker string) []byte {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# Rendered by bluejay (router.haproxy). Do not edit: bluejay rewrites it on every change.")
	w("# HAProxy loads it after its main configuration: haproxy -f haproxy.cfg -f %s", st.files.config)
	w("")
	w("defaults bluejay")
	w("    mode http")
	w("    option forwardfor")
	w("    option redispatch")
	w("    retries 2")
	w("    timeout connect 5s")
	w("    timeout client 1m")
	w("    timeout server %dms", st.timeout.Milliseconds())
	w("    timeout http-request 10s")
	w("    timeout http-keep-alive 1m")
	w("    timeout queue 5s")
	w("")
	services := m.sortedServices()
	w("frontend bluejay")
	w("    bind %s", st.bind)
	for _, s := range services {
		renderMatch(w, s)
	}
	w(`    http-request return status 404 content-type text/plain string "no route\n" if !{ var(txn.bj_svc) -m found }`)
	for _, s := range services {
		renderPick(w, s, st.files.mapFile)
	}
	for _, s := range services {
		renderBackends(w, s)
	}
	for _, s := range services {
		if c := setCookie(s); c != "" {
			w(`    http-response add-header Set-Cookie %s if { var(txn.bj_svc) -m str %s } { var(txn.bj_new) -m found }`, c, s.Name)
		}
	}
	for _, s := range services {
		for i, sl := range s.Slots {
			w("")
			w("backend %s", backendName(s.Name, i))
			w("    balance roundrobin")
			w("    load-server-state-from-file local")
			w("    server-state-file-name %s", st.files.stateFile)
			if st.versionHeader != "" {
				w("    http-response set-header %s %%[str(%s),map(%s)]", st.versionHeader, mapKey(s.Name, i, "version"), st.files.versionMap)
			}
			for j, sv := range sl.Servers {
				switch {
				case state && sv.Addr != "" && sv.Ready:
					w("    server s%d %s", j+1, hostPort(sv.IP, sv.Port))
				case state && sv.Addr != "":
					w("    server s%d %s disabled", j+1, hostPort(sv.IP, sv.Port))
				default:
					w("    server s%d 0.0.0.0:1 disabled", j+1)
				}
			}
		}
	}
	if marker != "" {
		w("")
		w("# %s marks this file's structure; see bluejay's internal/router/haproxy.", marker)
		w("backend %s", marker)
	}
	return []byte(b.String())
}

// renderMatch selects the service for a request: the first service, in
// specificity order, whose host and path prefix match.
func renderMatch(w func(string, ...any), s *service) {
	cond := fmt.Sprintf("{ path -m beg %s }", quote(s.Prefix))
	if s.Host != "" {
		h := s.Host
		if strings.Contains(h, ":") {
			h = "[" + h + "]"
		}
		acl := "bj_host_" + s.Name
		w("    acl %s req.hdr(host),lower -m str %s", acl, quote(h))
		w("    acl %s req.hdr(host),lower -m beg %s", acl, quote(h+":"))
		cond = acl + " " + cond
	}
	w("    http-request set-var(txn.bj_svc) str(%s) if !{ var(txn.bj_svc) -m found } %s", s.Name, cond)
}

// renderPick draws the request's pick in [0, buckets): the sticky key's
// hash when there is one, else a random number; then reads the version
// backends' ranges from the map, which the runtime API replaces
// atomically.
func renderPick(w func(string, ...any), s *service, mapFile string) {
	in := "bj_" + s.Name
	w("    acl %s var(txn.bj_svc) -m str %s", in, s.Name)
	if st := s.Sticky; st != nil {
		// The header is checked first: its rule comes last and wins.
		if st.Cookie != "" {
			f := fmt.Sprintf("req.cook(%s)", st.Cookie)
			w("    http-request set-var(txn.bj_key) %s if %s { %s -m len 1: }", f, in, f)
		}
		if st.Header != "" {
			f := fmt.Sprintf("req.fhdr(%s,1)", st.Header)
			w("    http-request set-var(txn.bj_key) %s if %s { %s -m len 1: }", f, in, f)
		}
		if st.Generate && st.Cookie != "" {
			w("    http-request set-var(txn.bj_new) uuid if %s !{ var(txn.bj_key) -m found }", in)
			w("    http-request set-var(txn.bj_key) var(txn.bj_new) if %s { var(txn.bj_new) -m found }", in)
		}
		w("    http-request set-var(txn.bj_pick) var(txn.bj_key),xxh32(%d),mod(%d) if %s { var(txn.bj_key) -m found }", seed(s.Name), buckets, in)
		w("    http-request set-var(txn.bj_pick) rand(%d) if %s !{ var(txn.bj_key) -m found }", buckets, in)
	} else {
		w("    http-request set-var(txn.bj_pick) rand(%d) if %s", buckets, in)
	}
	for i := range s.Slots {
		w("    http-request set-var(txn.bj_lo%d) str(%s),map_str_int(%s,0) if %s", i, mapKey(s.Name, i, "lo"), mapFile, in)
		w("    http-request set-var(txn.bj_hi%d) str(%s),map_str_int(%s,0) if %s", i, mapKey(s.Name, i, "hi"), mapFile, in)
	}
}

// renderBackends sends the request to the first rule's version backend
// that matches and has a usable server (a rule to a version without
// ready instances is ignored, as in the builtin proxy), else to the
// version backend whose range holds the pick.
func renderBackends(w func(string, ...any), s *service) {
	in := "bj_" + s.Name
	for _, r := range s.Rules {
		be := backendName(s.Name, r.Slot)
		w("    use_backend %s if %s %s { nbsrv(%s) gt 0 }", be, in, ruleCond(r.Rule), be)
	}
	for i := range s.Slots {
		w("    use_backend %s if %s { var(txn.bj_pick),sub(txn.bj_lo%d) ge 0 } { var(txn.bj_pick),sub(txn.bj_hi%d) lt 0 }",
			backendName(s.Name, i), in, i, i)
	}
}

// ruleCond is a rule's match: the first header value or the cookie,
// non-empty, compared exactly, by prefix or by regex (PCRE).
func ruleCond(r router.Rule) string {
	f := fmt.Sprintf("req.fhdr(%s,1)", r.Header)
	if r.Header == "" {
		f = fmt.Sprintf("req.cook(%s)", r.Cookie)
	}
	var m string
	switch {
	case r.Exact != "":
		m = "-m str " + quote(r.Exact)
	case r.Prefix != "":
		m = "-m beg " + quote(r.Prefix)
	default:
		m = "-m reg " + quote(r.Regex)
	}
	return fmt.Sprintf("{ %s -m len 1: } { %s %s }", f, f, m)
}

// setCookie is the Set-Cookie header of a generated sticky key, written
// as Go's net/http writes the builtin proxy's; "" when keys are not
// generated.
func setCookie(s *service) string {
	st := s.Sticky
	if st == nil || !st.Generate || st.Cookie == "" {
		return ""
	}
	parts := []string{st.Cookie + "=%[var(txn.bj_new)]"}
	path := st.Path
	if path == "" {
		path = "/"
	}
	parts = append(parts, "Path="+escapeLogFormat(path))
	if st.MaxAge > 0 {
		parts = append(parts, "Max-Age="+strconv.Itoa(st.MaxAge))
	}
	if st.HTTPOnly {
		parts = append(parts, "HttpOnly")
	}
	if st.Secure {
		parts = append(parts, "Secure")
	}
	switch strings.ToLower(st.SameSite) {
	case "strict":
		parts = append(parts, "SameSite=Strict")
	case "none":
		parts = append(parts, "SameSite=None")
	default:
		parts = append(parts, "SameSite=Lax")
	}
	return doubleQuote(strings.Join(parts, "; "))
}

// mapEntries are the map file's entries: each version backend's range.
func mapEntries(m *model) [][2]string {
	var out [][2]string
	for _, s := range m.sortedServices() {
		for i, sl := range s.Slots {
			out = append(out, [2]string{mapKey(s.Name, i, "lo"), strconv.Itoa(sl.Lo)}, [2]string{mapKey(s.Name, i, "hi"), strconv.Itoa(sl.Hi)})
		}
	}
	return out
}

// versionEntries are the version map's entries: each version backend's
// version (a backend no version holds has none).
func versionEntries(m *model) [][2]string {
	var out [][2]string
	for _, s := range m.sortedServices() {
		for i, sl := range s.Slots {
			if sl.Version != "" {
				out = append(out, [2]string{mapKey(s.Name, i, "version"), sl.Version})
			}
		}
	}
	return out
}

// renderMap returns the map file with entries.
func renderMap(entries [][2]string) []byte {
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e[0] + " " + e[1] + "\n")
	}
	return []byte(b.String())
}

func mapKey(svc string, slot int, end string) string {
	return fmt.Sprintf("%s/%d/%s", svc, slot, end)
}

// backendName is the version backend of a service's slot.
func backendName(svc string, slot int) string { return fmt.Sprintf("bj_%s_%d", svc, slot) }

// seed salts the sticky hash per service, so that a user's bucket in
// one service says nothing of another.
func seed(svc string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(svc))
	return h.Sum32() & 0x7fffffff
}

func hostPort(ip string, port int) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]:" + strconv.Itoa(port)
	}
	return ip + ":" + strconv.Itoa(port)
}

// quote writes s as one word of HAProxy's configuration: in single
// quotes, where nothing is expanded, unless s holds one; then in double
// quotes with '\', '"' and '$' escaped.
func quote(s string) string {
	if !strings.Contains(s, "'") {
		return "'" + s + "'"
	}
	return doubleQuote(s)
}

func doubleQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`)
	return `"` + r.Replace(s) + `"`
}

// escapeLogFormat escapes '%' in the literal parts of a log-format
// string.
func escapeLogFormat(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// checkWord refuses a string that cannot be written in the file or sent
// to the runtime API as one word.
func checkWord(what, s string) error {
	if i := strings.IndexFunc(s, func(r rune) bool {
		return r <= ' ' || r == 0x7f || slices.Contains([]rune{';', ',', '(', ')', '#', '\'', '"', '\\', '$'}, r)
	}); i >= 0 {
		return fmt.Errorf("%s %q: HAProxy cannot take %q here", what, s, s[i])
	}
	return nil
}
