package haproxy

import (
	"cmp"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// buckets is the range the frontend draws a request's pick from (a
// random number, or the sticky key's hash): a weight of 1% is 100
// buckets, as in the builtin proxy.
const buckets = 10000

// model is everything bluejay put into HAProxy, kept in memory and in
// the model file so that a restarted bluejay renders the same file.
type model struct {
	Services map[string]*service `json:"services"`
}

// service is one route's frontend rules and version backends.
type service struct {
	Name   string         `json:"name"`
	Host   string         `json:"host,omitempty"`
	Prefix string         `json:"prefix"`
	Sticky *router.Sticky `json:"sticky,omitempty"`
	Rules  []rule         `json:"rules,omitempty"`
	// Slots are the service's version backends, bj_<service>_<i>.
	Slots []*slot `json:"slots"`
}

// rule is a router.Rule whose version has a slot.
type rule struct {
	router.Rule
	Slot int `json:"slot"`
}

// slot is one version backend: which version holds it, the share of
// buckets [Lo, Hi) it takes, and its servers.
type slot struct {
	Version string    `json:"version,omitempty"`
	Lo      int       `json:"lo"`
	Hi      int       `json:"hi"`
	Servers []*server `json:"servers"`
}

// server is one server slot of a version backend, s1 to sN.
type server struct {
	// Addr is the instance's address as the route gave it; "" for a slot
	// never used.
	Addr string `json:"addr,omitempty"`
	// IP and Port are Addr resolved, as HAProxy holds them.
	IP   string `json:"ip,omitempty"`
	Port int    `json:"port,omitempty"`
	// Ready servers take requests; the others are drained (or never
	// used) and take none.
	Ready bool `json:"ready,omitempty"`
}

// clone returns a deep copy of m.
func (m *model) clone() *model {
	out := &model{Services: make(map[string]*service, len(m.Services))}
	for k, s := range m.Services {
		c := *s
		c.Rules = slices.Clone(s.Rules)
		if s.Sticky != nil {
			st := *s.Sticky
			c.Sticky = &st
		}
		c.Slots = make([]*slot, len(s.Slots))
		for i, sl := range s.Slots {
			cs := *sl
			cs.Servers = make([]*server, len(sl.Servers))
			for j, sv := range sl.Servers {
				v := *sv
				cs.Servers[j] = &v
			}
			c.Slots[i] = &cs
		}
		out.Services[k] = &c
	}
	return out
}

// sortedServices returns the services in the order the frontend tries
// them, the builtin proxy's: routes with a host before host-less ones
// (a request's host only matches its own), longer prefixes first, then
// by name so that equal matches resolve the same way every time.
func (m *model) sortedServices() []*service {
	out := slices.Collect(maps.Values(m.Services))
	slices.SortFunc(out, func(a, b *service) int {
		if (a.Host == "") != (b.Host == "") {
			if a.Host != "" {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(len(b.Prefix), len(a.Prefix)); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return out
}

// resolver resolves an instance's host to the IP HAProxy connects to.
type resolver func(host string) (string, error)

// apply updates s (nil: a new service) to route r with versions version
// backends of slots servers each. A new version never takes a slot that
// still receives requests for another (its range is not empty yet).
func apply(s *service, r router.Route, versions, slots int, resolve resolver) (*service, error) {
	if s == nil {
		s = &service{Name: r.Service}
		for range versions {
			sl := &slot{}
			for range slots {
				sl.Servers = append(sl.Servers, &server{})
			}
			s.Slots = append(s.Slots, sl)
		}
	}
	s.Host, s.Prefix, s.Sticky = normalizeHost(r.Host), cmp.Or(r.PathPrefix, "/"), nil
	if r.Sticky != nil {
		st := *r.Sticky
		s.Sticky = &st
	}
	bySlot, err := assignSlots(s, r)
	if err != nil {
		return nil, err
	}
	for i, sl := range s.Slots {
		b, ok := bySlot[i]
		if !ok {
			sl.Lo, sl.Hi = 0, 0
			for _, sv := range sl.Servers {
				sv.Ready = false
			}
			continue
		}
		if err := assignServers(sl, b, resolve); err != nil {
			return nil, err
		}
	}
	setRanges(s, r, bySlot)
	s.Rules = nil
	slotOf := map[string]int{}
	for i, b := range bySlot {
		slotOf[b.Version] = i
	}
	for _, ru := range r.Rules {
		if i, ok := slotOf[ru.Version]; ok {
			s.Rules = append(s.Rules, rule{Rule: ru, Slot: i})
		}
	}
	return s, nil
}

// assignSlots gives every version of r a slot: the one it holds already,
// else a free one (see freeSlot).
func assignSlots(s *service, r router.Route) (map[int]router.Backend, error) {
	inRoute := map[string]bool{}
	for _, b := range r.Backends {
		if inRoute[b.Version] {
			return nil, fmt.Errorf("version %s appears twice in the route", b.Version)
		}
		inRoute[b.Version] = true
	}
	bySlot := map[int]router.Backend{}
	var pending []router.Backend
	for _, b := range r.Backends {
		i := slices.IndexFunc(s.Slots, func(sl *slot) bool { return sl.Version == b.Version })
		if i < 0 {
			pending = append(pending, b)
			continue
		}
		bySlot[i] = b
	}
	for _, b := range pending {
		i := freeSlot(s, inRoute, bySlot)
		if i < 0 {
			return nil, fmt.Errorf("service %s: no free version backend for %s: %d versions are in the route or still take requests (router.haproxy.versions is %d)",
				s.Name, b.Version, len(r.Backends), len(s.Slots))
		}
		s.Slots[i].Version = b.Version
		bySlot[i] = b
	}
	return bySlot, nil
}

// freeSlot returns a slot no version of the route holds and no request
// is sent to (its range is empty), preferring one never used; -1 if
// none.
func freeSlot(s *service, inRoute map[string]bool, taken map[int]router.Backend) int {
	best := -1
	for i, sl := range s.Slots {
		if _, ok := taken[i]; ok || inRoute[sl.Version] || sl.Hi > sl.Lo {
			continue
		}
		if sl.Version == "" {
			return i
		}
		if best < 0 {
			best = i
		}
	}
	return best
}

// assignServers puts b's addresses in sl's servers: an address keeps
// its server, a new one takes a server never used, else one that left
// the split (drained); servers whose address left are drained.
func assignServers(sl *slot, b router.Backend, resolve resolver) error {
	if len(b.Addrs) > len(sl.Servers) {
		return fmt.Errorf("version %s has %d instances; router.haproxy.slots is %d", b.Version, len(b.Addrs), len(sl.Servers))
	}
	want := map[string]bool{}
	for _, a := range b.Addrs {
		want[a] = true
	}
	have := map[string]*server{}
	for _, sv := range sl.Servers {
		if sv.Addr != "" && want[sv.Addr] && have[sv.Addr] == nil {
			have[sv.Addr] = sv
			continue
		}
		sv.Ready = false
	}
	for _, a := range b.Addrs {
		sv := have[a]
		if sv == nil {
			sv = freeServer(sl, have)
			ip, port, err := resolveAddr(a, resolve)
			if err != nil {
				return fmt.Errorf("version %s: %w", b.Version, err)
			}
			sv.Addr, sv.IP, sv.Port = a, ip, port
			have[a] = sv
		}
		sv.Ready = true
	}
	return nil
}

// freeServer returns a server of sl not holding an address in have,
// preferring one never used.
func freeServer(sl *slot, have map[string]*server) *server {
	var fallback *server
	for _, sv := range sl.Servers {
		if sv.Addr == "" {
			return sv
		}
		if have[sv.Addr] != sv && fallback == nil {
			fallback = sv
		}
	}
	return fallback
}

// resolveAddr splits host:port and resolves the host.
func resolveAddr(addr string, resolve resolver) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("instance address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("instance address %q: bad port", addr)
	}
	ip := host
	if net.ParseIP(host) == nil {
		if ip, err = resolve(host); err != nil {
			return "", 0, fmt.Errorf("instance address %q: %w", addr, err)
		}
	}
	return ip, port, nil
}

// setRanges gives the eligible versions (weight > 0, at least one
// address) their share of the buckets in pick order, as the builtin
// proxy's cumulative weights do: as the first version grows, its range
// grows and keys move to it from the others, never back.
func setRanges(s *service, r router.Route, bySlot map[int]router.Backend) {
	slotOf := map[string]int{}
	for i, b := range bySlot {
		slotOf[b.Version] = i
	}
	total := 0
	for _, b := range r.Backends {
		if eligible(b) {
			total += b.Weight
		}
	}
	cum := 0
	for _, b := range r.Backends {
		sl := s.Slots[slotOf[b.Version]]
		sl.Lo, sl.Hi = 0, 0
		if !eligible(b) {
			continue
		}
		// A bucket k belongs to the backend when k·total < cum·buckets,
		// the builtin proxy's test: hi is the ceiling of cum·buckets/total.
		sl.Lo = ceilDiv(cum*buckets, total)
		cum += b.Weight
		sl.Hi = ceilDiv(cum*buckets, total)
	}
}

func eligible(b router.Backend) bool { return b.Weight > 0 && len(b.Addrs) > 0 }

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// normalizeHost lower-cases a host and drops IPv6 brackets, as the
// builtin proxy compares hosts.
func normalizeHost(h string) string {
	b := []byte(h)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	s := string(b)
	if len(s) > 1 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	return s
}
