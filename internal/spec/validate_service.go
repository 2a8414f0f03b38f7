package spec

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode"
)

var serviceName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// route is what a service matches; two services may not share one.
type route struct{ host, prefix string }

// services checks each service and that names and routes are unique.
func (c *checker) services(ss []Service) {
	if len(ss) == 0 {
		c.add("services", "at least one service is required")
	}
	names := map[string]int{}
	routes := map[route]int{}
	for i := range ss {
		path := indexPath("services", i)
		c.service(&ss[i], path)
		if c.x.bad[path] {
			continue // not a service as written; comparing it would mislead
		}
		c.unique(names, ss[i].Name, i, path)
		c.uniqueRoute(routes, ss, i, path)
	}
}

// unique refuses a service name used by an earlier service.
func (c *checker) unique(seen map[string]int, name string, i int, path string) {
	if name == "" {
		return
	}
	if j, dup := seen[name]; dup {
		first := indexPath("services", j)
		c.add(path+".name", "duplicate service name %q (first at %s, line %d): each service needs its own name",
			name, first, c.x.at(first+".name").line)
		return
	}
	seen[name] = i
}

// uniqueRoute refuses a host and path prefix that an earlier service has.
func (c *checker) uniqueRoute(seen map[route]int, ss []Service, i int, path string) {
	m := ss[i].Match
	r := route{strings.ToLower(m.Host), m.PathPrefix}
	if j, dup := seen[r]; dup {
		host := cmpOr(m.Host, "any host")
		c.add(path+".match", "%s and pathPrefix %s already go to service %q (services[%d]): give each service its own host or pathPrefix",
			host, m.PathPrefix, ss[j].Name, j)
		return
	}
	seen[r] = i
}

func cmpOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// service checks one service's fields.
func (c *checker) service(s *Service, path string) {
	c.name(s.Name, path+".name")
	if err := checkVersion(s.Version); err != nil {
		c.add(path+".version", "%v", err)
	}
	c.match(&s.Match, path+".match")
	c.platform(s, path+".platform")
	c.health(&s.Health, path+".health")
	c.protocol(s, path)
	c.hsts(s.HSTS, path+".hsts")
	for i := range s.Smoke {
		c.smoke(&s.Smoke[i], indexPath(path+".smoke", i))
	}
	c.canary(&s.Canary, c.templates, path+".canary")
	if s.Canary.Baseline == BaselineDedicated && s.Platform.Process == nil {
		c.add(path+".canary.baseline", "a dedicated baseline starts fresh instances of the stable version, which needs platform.process")
	}
	c.rolling(&s.Rolling, path+".rolling")
	c.serviceDeadline(s, path)
	c.hooks(&s.Hooks, path+".hooks")
	if m := s.Migrations; m != nil {
		c.migrations(m, path+".migrations")
	}
	if s.Sticky != nil {
		c.sticky(s.Sticky, path+".sticky")
	}
	if s.Shield != nil {
		for i, m := range s.Shield.Methods {
			c.method(m, indexPath(path+".shield.methods", i))
		}
	}
	if o := s.Outlier; o != nil {
		c.atLeast(o.ConsecutiveFailures, 1, path+".outlier.consecutiveFailures")
		c.positive(o.BaseEjection, path+".outlier.baseEjection", "10s")
		if o.MaxEjection < o.BaseEjection {
			c.add(path+".outlier.maxEjection", "maxEjection %s must be at least baseEjection %s", o.MaxEjection, o.BaseEjection)
		}
	}
	switch s.Strategy {
	case StrategyBlueGreen, StrategyCanary:
	case StrategyRolling:
		if s.Platform.Process == nil && s.Platform.Kubernetes == nil && s.Platform.Docker == nil {
			c.add(path+".strategy", "the rolling strategy replaces instances, which needs platform.process, platform.kubernetes or platform.docker (a static platform cannot add or remove them)")
		}
	default:
		c.add(path+".strategy", "unknown strategy %q (valid: %s, %s, %s)", s.Strategy, StrategyBlueGreen, StrategyCanary, StrategyRolling)
	}
	c.blueGreen(&s.BlueGreen, path+".blueGreen")
}

func (c *checker) name(name, path string) {
	const want = "lower-case letters, digits and '-', starting with a letter, at most 63 characters"
	switch {
	case name == "":
		c.add(path, "a service name is required: %s", want)
	case !serviceName.MatchString(name):
		c.add(path, "invalid service name %q: want %s", name, want)
	}
}

// checkVersion checks a version label, which names files and URLs.
func checkVersion(v string) error {
	switch {
	case v == "":
		return fmt.Errorf("a version is required, such as v1, 1.4.0 or a git sha")
	case strings.ContainsFunc(v, unicode.IsSpace) || strings.Contains(v, "/"):
		return fmt.Errorf("invalid version %q: want a label without spaces or '/', such as v1, 1.4.0 or a git sha", v)
	}
	return nil
}

func (c *checker) match(m *Match, path string) {
	if !strings.HasPrefix(m.PathPrefix, "/") {
		c.add(path+".pathPrefix", "invalid pathPrefix %q: want a path starting with '/', such as /api", m.PathPrefix)
	}
	if strings.ContainsAny(m.Host, "/ ") {
		c.add(path+".host", "invalid host %q: want a host name without scheme or path, such as example.com", m.Host)
	}
}

func (c *checker) health(h *Health, path string) {
	if !strings.HasPrefix(h.Path, "/") {
		c.add(path+".path", "invalid path %q: want a path starting with '/', such as /healthz", h.Path)
	}
	c.positive(h.Interval, path+".interval", "1s")
	c.positive(h.ReadyTimeout, path+".readyTimeout", "2m")
	switch {
	case h.Timeout <= 0:
		c.positive(h.Timeout, path+".timeout", "1s")
	case h.Timeout > h.Interval && h.Interval > 0 && !c.x.dropped(path+".interval"):
		c.add(path+".timeout", "timeout %s must not exceed interval %s", h.Timeout, h.Interval)
	}
	c.atLeast(h.HealthyThreshold, 1, path+".healthyThreshold")
	c.atLeast(h.UnhealthyThreshold, 1, path+".unhealthyThreshold")
}

// positive refuses a zero duration where a wait is needed.
func (c *checker) positive(d Duration, path, example string) {
	if d <= 0 {
		c.add(path, "must be more than 0, such as %s", example)
	}
}

// atLeast refuses a number below least.
func (c *checker) atLeast(n, least int, path string) {
	if n < least {
		c.add(path, "must be %d or more, got %d", least, n)
	}
}

func (c *checker) blueGreen(b *BlueGreen, path string) {
	if b.PreviewWeight < 0 || b.PreviewWeight > 99 {
		c.add(path+".previewWeight", "previewWeight must be from 0 to 99 (a percentage of traffic; 0 skips the preview), got %d", b.PreviewWeight)
	}
	if b.PreviewWeight > 0 && b.PreviewDuration <= 0 {
		c.add(path+".previewDuration", "previewDuration must be more than 0 when previewWeight is set, such as 30s")
	}
	if r := b.MaxErrorRate; r != nil && !(*r >= 0 && *r <= 1) {
		c.add(path+".maxErrorRate", "maxErrorRate must be from 0 to 1 (a share: 0.05 is 5%%), got %v", formatFloat(*r))
	}
	c.atLeast(b.MinRequests, 0, path+".minRequests")
	if b.OnNoTraffic != NoTrafficPause && b.OnNoTraffic != NoTrafficComplete {
		c.add(path+".onNoTraffic", "unknown onNoTraffic %q (valid: pause, complete)", b.OnNoTraffic)
	}
}

func formatFloat(f float64) string {
	if math.IsNaN(f) {
		return "NaN"
	}
	return fmt.Sprint(f)
}

func (c *checker) rolling(r *Rolling, path string) {
	c.atLeast(r.MaxSurge, 1, path+".maxSurge")
	c.atLeast(r.MaxUnavailable, 0, path+".maxUnavailable")
	c.positive(r.ProgressDeadline, path+".progressDeadline", "10m")
}
