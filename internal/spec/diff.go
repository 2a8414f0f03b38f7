package spec

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// Diff is what a reload from one valid config to another changes: the
// services added, removed and changed (with the fields that changed), the
// shared settings that take effect live, and the changes that cannot be
// made to a running serve (each with its reason), which refuse the reload.
type Diff struct {
	// Added and Removed name the services, in config order.
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	// Changed maps a service to the paths of its fields that changed
	// ("services[web].canary", "services[web].version").
	Changed map[string][]string `json:"changed,omitempty"`
	// Settings are the changed shared settings that apply live
	// ("analysis", "proxy.tls").
	Settings []string `json:"settings,omitempty"`
	// Refused are the changes a running serve cannot make, each with why.
	Refused []string `json:"refused,omitempty"`
}

// Empty says the two configs are the same as far as a reload goes.
func (d Diff) Empty() bool {
	return len(d.Added)+len(d.Removed)+len(d.Changed)+len(d.Settings)+len(d.Refused) == 0
}

// String is the diff, one change a line, for logs and `bluejay diff`.
func (d Diff) String() string {
	if d.Empty() {
		return "no changes"
	}
	var b strings.Builder
	for _, s := range d.Added {
		fmt.Fprintf(&b, "+ service %s\n", s)
	}
	for _, s := range d.Removed {
		fmt.Fprintf(&b, "- service %s\n", s)
	}
	for _, s := range slices.Sorted(maps.Keys(d.Changed)) {
		fmt.Fprintf(&b, "~ service %s: %s\n", s, strings.Join(d.Changed[s], ", "))
	}
	for _, s := range d.Settings {
		fmt.Fprintf(&b, "~ %s\n", s)
	}
	for _, s := range d.Refused {
		fmt.Fprintf(&b, "! %s\n", s)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// Compare returns what reloading from old to new changes. Both are
// valid, defaulted configs. What is live: the services (added, removed,
// any field but the kind of their platform), the analysis templates and
// the proxy's TLS certificate. Everything else — listeners, the store,
// the router, the admin API, notifications, Prometheus, the Kubernetes
// cluster and the proxy's limits — is read once at start: a change to
// it is Refused, with the field, and the reload changes nothing.
func Compare(old, new *Config) Diff {
	d := Diff{Changed: map[string][]string{}}
	olds := map[string]Service{}
	for _, s := range old.Services {
		olds[s.Name] = s
	}
	news := map[string]bool{}
	for _, s := range new.Services {
		news[s.Name] = true
		o, ok := olds[s.Name]
		if !ok {
			d.Added = append(d.Added, s.Name)
			continue
		}
		if o.Platform.Name() != s.Platform.Name() {
			d.Refused = append(d.Refused, fmt.Sprintf("services[%s].platform: the platform kind cannot change live (%s to %s); remove the service, reload, then add it back",
				s.Name, o.Platform.Name(), s.Platform.Name()))
		}
		if f := changedFields(o, s, "services["+s.Name+"]"); len(f) > 0 {
			d.Changed[s.Name] = f
		}
	}
	for _, s := range old.Services {
		if !news[s.Name] {
			d.Removed = append(d.Removed, s.Name)
		}
	}
	if len(d.Changed) == 0 {
		d.Changed = nil
	}
	if !reflect.DeepEqual(old.Analysis, new.Analysis) {
		d.Settings = append(d.Settings, "analysis")
	}
	op, np := old.Proxy, new.Proxy
	if !reflect.DeepEqual(op.TLS, np.TLS) {
		d.Settings = append(d.Settings, "proxy.tls")
	}
	op.TLS, np.TLS = nil, nil
	if (old.Proxy.TLS == nil) != (new.Proxy.TLS == nil) {
		d.Refused = append(d.Refused, "proxy.tls: turning TLS on or off changes the listener; restart serve")
	} else if old.Proxy.TLS != nil && !reflect.DeepEqual(old.Proxy.TLS.ACME, new.Proxy.TLS.ACME) {
		d.Refused = append(d.Refused, "proxy.tls.acme: the ACME settings are read once at start; restart serve to change them")
	}
	for _, f := range changedFields(op, np, "proxy") {
		d.Refused = append(d.Refused, f+": read once at start; restart serve to change it")
	}
	oc, nc := *old, *new
	oc.Proxy, nc.Proxy, oc.Services, nc.Services, oc.Analysis, nc.Analysis = ProxyConfig{}, ProxyConfig{}, nil, nil, nil, nil
	for _, f := range changedFields(oc, nc, "") {
		d.Refused = append(d.Refused, f+": read once at start; restart serve to change it")
	}
	return d
}

// changedFields lists the yaml paths of the top-level fields of two
// structs of one type that differ, under prefix.
func changedFields(a, b any, prefix string) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for i := range va.NumField() {
		f := va.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || name == "" || reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			continue
		}
		if prefix != "" {
			name = prefix + "." + name
		}
		out = append(out, name)
	}
	return out
}

// Values of Service.OnNewVersion.
const (
	// OnNewVersionAbort rolls the active rollout back, then starts the new version.
	OnNewVersionAbort = "abort"
	// OnNewVersionQueue starts the new version once the active rollout ends.
	OnNewVersionQueue = "queue"
)
