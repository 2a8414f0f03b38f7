package gatewayapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/bluejay-deploy/bluejay/internal/kube"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// Config is the router's settings.
type Config struct {
	// ParentRefs are the Gateways (or their listeners) every route
	// attaches to. A parent without a namespace is in the route's.
	ParentRefs []Parent
	// AcceptTimeout bounds the wait for every parent to accept a change;
	// 0 does not wait.
	AcceptTimeout time.Duration
	// Services says where each service's versions run: the route's
	// namespace and the port of the versions' Services.
	Services map[string]Service
}

// Parent is a parentRef: a Gateway's name and namespace, and optionally
// one listener by section name or port.
type Parent struct {
	Name, Namespace, SectionName string
	Port                         int
}

// Service is where a service's versions run.
type Service struct {
	Namespace string
	Port      int
}

// ErrRejected wraps a Gateway's refusal of a route.
var ErrRejected = errors.New("rejected by the gateway")

// acceptWait bounds how long one SetRoute waits for acceptance before
// answering router.ErrPending, so that a slow Gateway does not hold the
// service's loop (and a person's abort) for AcceptTimeout.
const acceptWait = 2 * time.Second

// minCheck is the least time one SetRoute gives a check of acceptance.
const minCheck = 200 * time.Millisecond

// Router writes HTTPRoutes. It is safe for concurrent use.
type Router struct {
	client gwclient.Interface
	cfg    Config

	mu      sync.Mutex
	pending map[string]written // by service: a change not yet accepted
}

// written is a change applied and awaiting acceptance.
type written struct {
	summary string    // what was written (summary of the spec)
	gen     int64     // the route's generation it became
	at      time.Time // when
}

var _ router.Router = (*Router)(nil)

// New returns a Router that writes routes through client.
func New(client gwclient.Interface, cfg Config) *Router {
	return &Router{client: client, cfg: cfg, pending: map[string]written{}}
}

// SetRoute applies the service's HTTPRoute, checks that the API server
// stored it as written, and waits (up to acceptWait) for its Gateways to
// accept it. A change not accepted yet answers router.ErrPending; calling again
// with the same route only checks the acceptance, until AcceptTimeout
// after the write, when it answers that the Gateway did not accept it.
func (r *Router) SetRoute(ctx context.Context, rt router.Route) error {
	svc, ok := r.cfg.Services[rt.Service]
	if !ok {
		return fmt.Errorf("gatewayapi: service %q is not configured", rt.Service)
	}
	want := r.route(rt, svc)
	sum := summary(want.Spec)
	r.mu.Lock()
	w, ok := r.pending[rt.Service]
	r.mu.Unlock()
	if !ok || w.summary != sum {
		gen, err := r.apply(ctx, want, svc.Namespace)
		if err != nil {
			return err
		}
		if r.cfg.AcceptTimeout <= 0 {
			return nil
		}
		w = written{summary: sum, gen: gen, at: time.Now()}
		r.mu.Lock()
		r.pending[rt.Service] = w
		r.mu.Unlock()
	}
	left := r.cfg.AcceptTimeout - time.Since(w.at)
	pending, err := r.waitAccepted(ctx, svc.Namespace, want.Name, w.gen, want.Spec.ParentRefs, max(min(left, acceptWait), minCheck))
	switch {
	case err == nil && pending == "":
		r.forget(rt.Service, w)
		return nil
	case err != nil:
		r.forget(rt.Service, w)
		return err
	case left <= acceptWait:
		return fmt.Errorf("httproute %s/%s not accepted within %s of the change: %s", svc.Namespace, want.Name, r.cfg.AcceptTimeout, pending)
	}
	return fmt.Errorf("httproute %s/%s: %w: waiting for the gateway to accept it: %s", svc.Namespace, want.Name, router.ErrPending, pending)
}

// forget drops the service's pending change if it is still w.
func (r *Router) forget(service string, w written) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending[service] == w {
		delete(r.pending, service)
	}
}

// apply writes the route by server-side apply and checks the stored
// spec against the written one; it returns the route's generation.
func (r *Router) apply(ctx context.Context, want *gwv1.HTTPRoute, ns string) (int64, error) {
	body, err := json.Marshal(applied{want.TypeMeta, want.ObjectMeta, want.Spec}) // no status: the Gateway's
	if err != nil {
		return 0, err
	}
	force := true
	got, err := r.client.GatewayV1().HTTPRoutes(ns).Patch(ctx, want.Name, types.ApplyPatchType, body,
		metav1.PatchOptions{FieldManager: kube.FieldManager, Force: &force})
	if err != nil {
		return 0, fmt.Errorf("applying httproute %s/%s: %w", ns, want.Name, err)
	}
	// The apply's answer is the stored object: what a read would return.
	if w, g := summary(want.Spec), summary(got.Spec); w != g {
		return 0, fmt.Errorf("httproute %s/%s was stored otherwise than written (an older Gateway API CRD?):\nwrote:  %s\nstored: %s",
			ns, want.Name, w, g)
	}
	return got.Generation, nil
}

// applied is what an apply sends: an HTTPRoute without its status.
type applied struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta  `json:"metadata"`
	Spec            gwv1.HTTPRouteSpec `json:"spec"`
}

// WaitDrained returns at once: a Gateway drains the connections to a
// backend it no longer picks, and a stopped pod gets its grace period.
func (r *Router) WaitDrained(context.Context, []string) error { return nil }

// route builds the service's HTTPRoute.
func (r *Router) route(rt router.Route, svc Service) *gwv1.HTTPRoute {
	name := rt.Service
	prefix := rt.PathPrefix
	if prefix == "" {
		prefix = "/"
	}
	path := &gwv1.HTTPPathMatch{Type: ptr(gwv1.PathMatchPathPrefix), Value: ptr(prefix)}
	ready := map[string]bool{}
	for _, b := range rt.Backends {
		ready[b.Version] = len(b.Addrs) > 0
	}
	ref := func(version string, weight int) gwv1.HTTPBackendRef {
		return gwv1.HTTPBackendRef{BackendRef: gwv1.BackendRef{
			BackendObjectReference: backend(rt.Service, version, svc.Port),
			Weight:                 ptr(int32(weight)),
		}}
	}
	var rules []gwv1.HTTPRouteRule
	for _, rule := range rt.Rules {
		if !ready[rule.Version] {
			continue
		}
		rules = append(rules, gwv1.HTTPRouteRule{
			Matches:     []gwv1.HTTPRouteMatch{{Path: path, Headers: []gwv1.HTTPHeaderMatch{headerMatch(rule)}}},
			BackendRefs: []gwv1.HTTPBackendRef{ref(rule.Version, 1)},
		})
	}
	split := gwv1.HTTPRouteRule{Matches: []gwv1.HTTPRouteMatch{{Path: path}}}
	for _, b := range rt.Backends {
		if ready[b.Version] {
			split.BackendRefs = append(split.BackendRefs, ref(b.Version, b.Weight))
		}
	}
	if m := rt.Mirror; m != nil && ready[m.Version] && m.Percent > 0 {
		split.Filters = []gwv1.HTTPRouteFilter{{
			Type: gwv1.HTTPRouteFilterRequestMirror,
			RequestMirror: &gwv1.HTTPRequestMirrorFilter{
				BackendRef: backend(rt.Service, m.Version, svc.Port),
				Percent:    ptr(int32(m.Percent)),
			},
		}}
	}
	rules = append(rules, split)
	hr := &gwv1.HTTPRoute{
		TypeMeta: metav1.TypeMeta{APIVersion: gwv1.GroupVersion.String(), Kind: "HTTPRoute"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: svc.Namespace,
			Labels: map[string]string{kube.LabelManagedBy: kube.FieldManager, kube.LabelService: rt.Service}},
		Spec: gwv1.HTTPRouteSpec{Rules: rules},
	}
	for _, p := range r.cfg.ParentRefs {
		pr := gwv1.ParentReference{Group: ptr(gwv1.Group(gwv1.GroupName)), Kind: ptr(gwv1.Kind("Gateway")), Name: gwv1.ObjectName(p.Name)}
		if p.Namespace != "" {
			pr.Namespace = ptr(gwv1.Namespace(p.Namespace))
		}
		if p.SectionName != "" {
			pr.SectionName = ptr(gwv1.SectionName(p.SectionName))
		}
		if p.Port > 0 {
			pr.Port = ptr(gwv1.PortNumber(p.Port))
		}
		hr.Spec.ParentRefs = append(hr.Spec.ParentRefs, pr)
	}
	if rt.Host != "" {
		hr.Spec.Hostnames = []gwv1.Hostname{gwv1.Hostname(strings.ToLower(rt.Host))}
	}
	return hr
}

// backend references a version's Service, with every field the API
// server would default set, so that the route reads back as written.
func backend(service, version string, port int) gwv1.BackendObjectReference {
	return gwv1.BackendObjectReference{
		Group: ptr(gwv1.Group("")),
		Kind:  ptr(gwv1.Kind("Service")),
		Name:  gwv1.ObjectName(kube.Name(service, version)),
		Port:  ptr(gwv1.PortNumber(port)),
	}
}

// headerMatch matches a rule's header, or its cookie within the Cookie
// header. Gateway API has exact and regular-expression header matches;
// a prefix is a regular expression. Whether an implementation searches
// for the expression (Go, NGINX) or requires it to match the whole value
// (Envoy: Envoy Gateway, Istio, Cilium, Contour) is its own choice, so
// the expressions written here match alike either way: anchored at both
// ends, with the rest of the value spelt out. A rule's own regex is
// passed as written, with the implementation's semantics.
func headerMatch(rule router.Rule) gwv1.HTTPHeaderMatch {
	if rule.Cookie != "" {
		value := regexp.QuoteMeta(rule.Exact)
		if rule.Exact == "" {
			value = regexp.QuoteMeta(rule.Prefix) + `[^;]*` // validate refuses cookie regexes
		}
		return gwv1.HTTPHeaderMatch{Type: ptr(gwv1.HeaderMatchRegularExpression), Name: "Cookie",
			Value: `^(.*;\s*)?` + regexp.QuoteMeta(rule.Cookie) + "=" + value + `\s*(;.*)?$`}
	}
	m := gwv1.HTTPHeaderMatch{Type: ptr(gwv1.HeaderMatchExact), Name: gwv1.HTTPHeaderName(rule.Header), Value: rule.Exact}
	switch {
	case rule.Prefix != "":
		m.Type, m.Value = ptr(gwv1.HeaderMatchRegularExpression), "^"+regexp.QuoteMeta(rule.Prefix)+".*$"
	case rule.Regex != "":
		m.Type, m.Value = ptr(gwv1.HeaderMatchRegularExpression), rule.Regex
	}
	return m
}

// summary renders what bluejay owns of a route's spec in one line, the
// same for the written and the stored spec when they route alike.
func summary(s gwv1.HTTPRouteSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "hosts=%v", s.Hostnames)
	for _, p := range s.ParentRefs {
		fmt.Fprintf(&b, " parent=%s/%s/%s/%s:%s:%d", deref(p.Group), deref(p.Kind), deref(p.Namespace), p.Name, deref(p.SectionName), deref(p.Port))
	}
	for i, rule := range s.Rules {
		fmt.Fprintf(&b, " rule%d[", i)
		for _, m := range rule.Matches {
			if m.Path != nil {
				fmt.Fprintf(&b, "path %s %s;", deref(m.Path.Type), deref(m.Path.Value))
			}
			for _, h := range m.Headers {
				fmt.Fprintf(&b, "header %s %s %q;", deref(h.Type), h.Name, h.Value)
			}
		}
		for _, f := range rule.Filters {
			fmt.Fprintf(&b, "filter %s", f.Type)
			if m := f.RequestMirror; m != nil {
				fmt.Fprintf(&b, " %s:%d %d%%", m.BackendRef.Name, deref(m.BackendRef.Port), deref(m.Percent))
			}
			b.WriteString(";")
		}
		for _, ref := range rule.BackendRefs {
			fmt.Fprintf(&b, "%s/%s/%s:%d=%d;", deref(ref.Group), deref(ref.Kind), ref.Name, deref(ref.Port), deref(ref.Weight))
		}
		b.WriteString("]")
	}
	return b.String()
}

// waitAccepted reads the route, then follows a watch on it for up to
// wait, until every parent reports it Accepted with its references
// resolved at generation gen (or later); it returns what the route still
// waits for ("" once accepted), or an error when a parent rejected it or
// the route cannot be read or watched at all (no permission, say).
func (r *Router) waitAccepted(ctx context.Context, ns, name string, gen int64, parents []gwv1.ParentReference, wait time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	routes := r.client.GatewayV1().HTTPRoutes(ns)
	check := func(hr *gwv1.HTTPRoute) (string, error) {
		if hr.Generation > gen {
			gen = hr.Generation // a later change is being applied: judge that one
		}
		pending := accepted(hr, gen, parents)
		if strings.HasPrefix(pending, rejected) {
			return "", fmt.Errorf("httproute %s/%s %w %s", ns, name, ErrRejected, strings.TrimPrefix(pending, rejected))
		}
		return pending, nil
	}
	backoff := 50 * time.Millisecond
	pending := "the gateway has not reported on the route"
	for {
		hr, err := routes.Get(ctx, name, metav1.GetOptions{})
		switch {
		case ctx.Err() != nil:
			return pending, nil
		case err != nil && fatal(err):
			return "", fmt.Errorf("reading httproute %s/%s: %w", ns, name, err)
		case err != nil:
			pending = "reading the route: " + err.Error()
		default:
			if pending, err = check(hr); err != nil || pending == "" {
				return pending, err
			}
			pending, err = r.follow(ctx, ns, name, hr.ResourceVersion, check)
			if err != nil || pending == "" {
				return pending, err
			}
		}
		// The read or the watch failed or ended early: try again, a
		// little later each time.
		select {
		case <-ctx.Done():
			return pending, nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// follow watches the route from revision rv, checking each version of
// it, until check says it is accepted or fails, the watch ends, or ctx
// does; it returns what the route still waits for.
func (r *Router) follow(ctx context.Context, ns, name, rv string, check func(*gwv1.HTTPRoute) (string, error)) (string, error) {
	w, err := r.client.GatewayV1().HTTPRoutes(ns).Watch(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(), ResourceVersion: rv})
	if err != nil {
		if fatal(err) {
			return "", fmt.Errorf("watching httproute %s/%s: %w", ns, name, err)
		}
		return "watching the route: " + err.Error(), nil
	}
	defer w.Stop()
	pending := "the gateway has not reported on the route"
	for {
		select {
		case <-ctx.Done():
			return pending, nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return pending, nil
			}
			hr, isRoute := ev.Object.(*gwv1.HTTPRoute)
			if !isRoute {
				continue // an error event (an expired revision): the caller reads again
			}
			if pending, err = check(hr); err != nil || pending == "" {
				return pending, err
			}
		}
	}
}

// fatal reports whether an API error will not go away by retrying.
func fatal(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsNotFound(err) ||
		apierrors.IsMethodNotSupported(err) || apierrors.IsBadRequest(err)
}

// rejected starts what accepted says of a parent that refused the route.
const rejected = "rejected: "

// accepted says what the route still waits for at generation gen: ""
// when every parent accepted it with its references resolved, else the
// first parent's missing report, or rejected and the refusal.
func accepted(hr *gwv1.HTTPRoute, gen int64, parents []gwv1.ParentReference) string {
	for _, p := range parents {
		st, ok := parentStatus(hr.Status.Parents, p, hr.Namespace)
		if !ok {
			return fmt.Sprintf("gateway %s has not reported on the route", parentName(p, hr.Namespace))
		}
		for _, t := range []gwv1.RouteConditionType{gwv1.RouteConditionAccepted, gwv1.RouteConditionResolvedRefs} {
			c := meta.FindStatusCondition(st.Conditions, string(t))
			switch {
			case c == nil || c.ObservedGeneration < gen:
				return fmt.Sprintf("gateway %s (%s) has not reported %s for generation %d", parentName(p, hr.Namespace), st.ControllerName, t, gen)
			case c.Status == metav1.ConditionFalse:
				return fmt.Sprintf("%s%s (%s): %s %s: %s", rejected, parentName(p, hr.Namespace), st.ControllerName, t, c.Reason, c.Message)
			case c.Status != metav1.ConditionTrue:
				return fmt.Sprintf("gateway %s: %s is %s: %s", parentName(p, hr.Namespace), t, c.Status, c.Message)
			}
		}
	}
	return ""
}

// parentStatus finds the status a parent's Gateway wrote for p.
func parentStatus(sts []gwv1.RouteParentStatus, p gwv1.ParentReference, routeNS string) (gwv1.RouteParentStatus, bool) {
	for _, st := range sts {
		q := st.ParentRef
		if q.Name == p.Name && nsOf(q.Namespace, routeNS) == nsOf(p.Namespace, routeNS) &&
			deref(q.SectionName) == deref(p.SectionName) && deref(q.Port) == deref(p.Port) {
			return st, true
		}
	}
	return gwv1.RouteParentStatus{}, false
}

func parentName(p gwv1.ParentReference, routeNS string) string {
	n := nsOf(p.Namespace, routeNS) + "/" + string(p.Name)
	if s := deref(p.SectionName); s != "" {
		n += "/" + string(s)
	}
	return n
}

func nsOf(ns *gwv1.Namespace, routeNS string) string {
	if ns == nil || *ns == "" {
		return routeNS
	}
	return string(*ns)
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
