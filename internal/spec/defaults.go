package spec

import (
	"fmt"
	"time"
)

// Defaults of string fields, as documented on the fields of Config.
const (
	defaultProxyListen = "127.0.0.1:8080"
	defaultAdminListen = "127.0.0.1:7070"
	defaultStorePath   = "./bluejay.db"
	defaultLogDir      = "./logs"
)

// ApplyDefaults fills every field left at its zero value with the
// default its doc comment names. Load and Parse do this too, with one
// difference: a value the file writes explicitly is kept even when it is
// zero (watch: 0s completes at once), and validation then judges it.
// Strings are the exception: an empty string always means "default".
func (c *Config) ApplyDefaults() {
	c.applyDefaults(func(string) bool { return false })
}

// defaulter fills zero fields unless the file set them; set reports
// whether the file wrote the field at a path.
type defaulter struct{ set func(path string) bool }

func (d defaulter) duration(f *Duration, path string, v time.Duration) {
	if *f == 0 && !d.set(path) {
		*f = Duration(v)
	}
}

func (d defaulter) int(f *int, path string, v int) {
	if *f == 0 && !d.set(path) {
		*f = v
	}
}

func defaultString(f *string, v string) {
	if *f == "" {
		*f = v
	}
}

func (c *Config) applyDefaults(set func(path string) bool) {
	d := defaulter{set}
	defaultString(&c.Proxy.Listen, defaultProxyListen)
	d.duration(&c.Proxy.Timeout, "proxy.timeout", 30*time.Second)
	d.duration(&c.Proxy.DrainTimeout, "proxy.drainTimeout", 30*time.Second)
	d.int(&c.Proxy.MaxHeaderBytes, "proxy.maxHeaderBytes", 64<<10)
	d.duration(&c.Proxy.ReadHeaderTimeout, "proxy.readHeaderTimeout", 10*time.Second)
	d.duration(&c.Proxy.IdleTimeout, "proxy.idleTimeout", 2*time.Minute)
	d.duration(&c.Proxy.BodyTimeout, "proxy.bodyTimeout", 30*time.Second)
	d.int(&c.Proxy.MaxBodyBuffer, "proxy.maxBodyBuffer", 64<<10)
	if c.Proxy.Upgrades == nil && !d.set("proxy.upgrades") {
		c.Proxy.Upgrades = []string{"websocket"}
	}
	defaultString(&c.Admin.Listen, defaultAdminListen)
	defaultString(&c.Store.Path, defaultStorePath)
	c.defaultEdge()
	if c.Store.Etcd != nil {
		defaultString(&c.Store.Etcd.Prefix, "/bluejay")
		d.duration(&c.Store.Etcd.LeaseTTL, "store.etcd.leaseTTL", 5*time.Second)
	}
	if c.Prometheus != nil {
		d.duration(&c.Prometheus.Timeout, "prometheus.timeout", 10*time.Second)
		if c.Prometheus.Fleet {
			defaultString(&c.Prometheus.Counts.Requests, defaultFleetCountRequests)
			defaultString(&c.Prometheus.Counts.Errors, defaultFleetCountErrors)
		}
		defaultString(&c.Prometheus.Counts.Requests, defaultCountRequests)
		defaultString(&c.Prometheus.Counts.Errors, defaultCountErrors)
	}
	if c.Router.Nginx != nil {
		c.Router.Nginx.applyDefaults(d, c.Proxy.Listen, c.Proxy.VersionHeader)
	}
	if c.Router.HAProxy != nil {
		c.Router.HAProxy.applyDefaults(d, c.Proxy)
	}
	if c.Router.GatewayAPI != nil {
		c.Router.GatewayAPI.applyDefaults(d)
	}
	defaultString(&c.Kubernetes.Namespace, "default")
	d.duration(&c.Store.Retention.MaxAge, "store.retention.maxAge", 90*24*time.Hour)
	d.int(&c.Store.Retention.MaxRollouts, "store.retention.maxRollouts", 1000)
	for i := range c.Services {
		c.Services[i].applyDefaults(d, indexPath("services", i))
	}
	for i := range c.Notifications {
		c.Notifications[i].applyDefaults(d, indexPath("notifications", i))
	}
	c.applyAnalysisDefaults(d)
}

func (s *Service) applyDefaults(d defaulter, path string) {
	defaultString(&s.Match.PathPrefix, "/")
	defaultString(&s.Strategy, StrategyBlueGreen)
	if p := s.Platform.Process; p != nil {
		p.applyDefaults(d, path+".platform.process")
	}
	if p := s.Platform.Kubernetes; p != nil {
		p.applyDefaults(d, path+".platform.kubernetes")
	}
	defaultString(&s.Protocol, ProtocolHTTP)
	if s.Protocol == ProtocolGRPC && s.Health.GRPC == nil && s.Health.Path == "" {
		s.Health.GRPC = &GRPCCheck{} // a gRPC server does not answer GET /healthz
	}
	if p := s.Platform.Docker; p != nil {
		p.applyDefaults(d, path+".platform.docker")
	}
	s.Health.applyDefaults(d, path+".health")
	for i := range s.Smoke {
		s.Smoke[i].applyDefaults(d, indexPath(path+".smoke", i))
	}
	s.BlueGreen.applyDefaults(d, path+".blueGreen")
	// The strategies' own deadlines default to the service's.
	d.duration(&s.ProgressDeadline, path+".progressDeadline", 10*time.Minute)
	defaultString(&s.OnProgressDeadline, "abort")
	defaultString(&s.OnNewVersion, OnNewVersionAbort)
	d.duration(&s.Canary.ProgressDeadline, path+".canary.progressDeadline", s.ProgressDeadline.D())
	if s.OnProgressDeadline == "pause" { // an invalid value is reported where it is written, not here
		defaultString(&s.Canary.OnProgressDeadline, s.OnProgressDeadline)
	}
	d.duration(&s.Rolling.ProgressDeadline, path+".rolling.progressDeadline", s.ProgressDeadline.D())
	s.Hooks.applyDefaults(d, path+".hooks")
	if m := s.Migrations; m != nil {
		m.applyDefaults(d, path+".migrations")
	}
	// Canary defaults apply to every service: `deploy --strategy canary`
	// may pick it for a service configured blue-green.
	s.Canary.applyDefaults(d, path+".canary")
	s.Rolling.applyDefaults(d, path+".rolling")
	if s.Sticky != nil {
		s.Sticky.applyDefaults(d, path+".sticky")
	}
	if s.Shield != nil && len(s.Shield.Methods) == 0 {
		s.Shield.Methods = []string{"GET", "HEAD", "OPTIONS"}
	}
	if o := s.Outlier; o != nil {
		d.int(&o.ConsecutiveFailures, path+".outlier.consecutiveFailures", 5)
		d.duration(&o.BaseEjection, path+".outlier.baseEjection", 10*time.Second)
		d.duration(&o.MaxEjection, path+".outlier.maxEjection", 5*time.Minute)
	}
}

func (p *Process) applyDefaults(d defaulter, path string) {
	if p.Replicas == 0 { // 0 means the default even when written
		p.Replicas = 1
	}
	defaultString(&p.LogDir, defaultLogDir)
	d.duration(&p.StopGrace, path+".stopGrace", 10*time.Second)
}

func (h *Health) applyDefaults(d defaulter, path string) {
	defaultString(&h.Path, "/healthz")
	d.duration(&h.Interval, path+".interval", time.Second)
	// A shorter interval than the default timeout shortens the timeout
	// too, so that setting only the interval is valid; an invalid
	// interval (0 or less) leaves it 1s, so only the interval is reported.
	timeout := time.Second
	if iv := h.Interval.D(); iv > 0 {
		timeout = min(timeout, iv)
	}
	d.duration(&h.Timeout, path+".timeout", timeout)
	d.int(&h.HealthyThreshold, path+".healthyThreshold", 2)
	d.int(&h.UnhealthyThreshold, path+".unhealthyThreshold", 3)
	d.duration(&h.ReadyTimeout, path+".readyTimeout", 2*time.Minute)
}

func (s *Smoke) applyDefaults(d defaulter, path string) {
	d.duration(&s.Timeout, path+".timeout", 5*time.Second)
	if s.GRPC != nil {
		defaultString(&s.Name, "grpc health "+cmpOr(s.GRPC.Service, `""`))
		return
	}
	defaultString(&s.Method, "GET")
	defaultString(&s.Name, fmt.Sprintf("%s %s", s.Method, s.Path))
	d.int(&s.ExpectStatus, path+".expectStatus", 200)
}

func (b *BlueGreen) applyDefaults(d defaulter, path string) {
	if b.PreviewWeight > 0 {
		d.duration(&b.PreviewDuration, path+".previewDuration", 30*time.Second)
	}
	d.duration(&b.Watch, path+".watch", 30*time.Second)
	d.duration(&b.ScaleDownDelay, path+".scaleDownDelay", 5*time.Minute)
	if b.MaxErrorRate == nil {
		b.MaxErrorRate = new(0.05)
	}
	d.int(&b.MinRequests, path+".minRequests", 20)
	defaultString(&b.OnNoTraffic, NoTrafficPause)
	if b.AutoPromote == nil {
		b.AutoPromote = new(true)
	}
}

func (r *Rolling) applyDefaults(d defaulter, path string) {
	d.int(&r.MaxSurge, path+".maxSurge", 1)
	d.duration(&r.MinHealthyTime, path+".minHealthyTime", 5*time.Second)
	d.duration(&r.ProgressDeadline, path+".progressDeadline", 10*time.Minute)
	if r.AutoRevert == nil {
		r.AutoRevert = new(true)
	}
}

func (st *Sticky) applyDefaults(d defaulter, path string) {
	if st.Header == "" {
		defaultString(&st.Cookie, "bluejay-key")
	}
	if st.Generate == nil {
		st.Generate = new(st.Cookie != "")
	}
	d.duration(&st.MaxAge, path+".maxAge", 24*time.Hour)
	defaultString(&st.Path, "/")
	if st.HTTPOnly == nil {
		st.HTTPOnly = new(true)
	}
	defaultString(&st.SameSite, "lax")
}
