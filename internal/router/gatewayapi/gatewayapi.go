package gatewayapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	watchtools "k8s.io/client-go/tools/watch"
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

// Router writes HTTPRoutes. It is safe for concurrent use.
type Router struct {
	client gwclient.Interface
	cfg    Config
}

var _ router.Router = (*Router)(nil)

// New returns a Router that writes routes through client.
func New(client gwclient.Interface, cfg Config) *Router {
	return &Router{client: client, cfg: cfg}
}

// SetRoute applies the service's HTTPRoute, checks that the API server
// stored it as written, and waits for its Gateways to accept it.
func (r *Router) SetRoute(ctx context.Context, rt router.Route) error {
	svc, ok := r.cfg.Services[rt.Service]
	if !ok {
		return fmt.Errorf("gatewayapi: service %q is not configured", rt.Service)
	}
	want := r.route(rt, svc)
	body, err := json.Marshal(applied{want.TypeMeta, want.ObjectMeta, want.Spec}) // no status: the Gateway's
	if err != nil {
		return err
	}
	routes := r.client.GatewayV1().HTTPRoutes(svc.Namespace)
	force := true
	got, err := routes.Patch(ctx, want.Name, types.ApplyPatchType, body,
		metav1.PatchOptions{FieldManager: kube.FieldManager, Force: &force})
	if err != nil {
		return fmt.Errorf("applying httproute %s/%s: %w", svc.Namespace, want.Name, err)
	}
	// The apply's answer is the stored object: what a read would return.
	if w, g := summary(want.Spec), summary(got.Spec); w != g {
		return fmt.Errorf("httproute %s/%s was stored otherwise than written (an older Gateway API CRD?):\nwrote:  %s\nstored: %s",
			svc.Namespace, want.Name, w, g)
	}
	if r.cfg.AcceptTimeout <= 0 {
		return nil
	}
	return r.waitAccepted(ctx, svc.Namespace, want.Name, got, want.Spec.ParentRefs)
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
// a prefix is a regular expression.
func headerMatch(rule router.Rule) gwv1.HTTPHeaderMatch {
	if rule.Cookie != "" {
		value := regexp.QuoteMeta(rule.Exact) + `(;|$)`
		if rule.Exact == "" {
			value = regexp.QuoteMeta(rule.Prefix) // validate refuses cookie regexes
		}
		return gwv1.HTTPHeaderMatch{Type: ptr(gwv1.HeaderMatchRegularExpression), Name: "Cookie",
			Value: `(^|;\s*)` + regexp.QuoteMeta(rule.Cookie) + "=" + value}
	}
	m := gwv1.HTTPHeaderMatch{Type: ptr(gwv1.HeaderMatchExact), Name: gwv1.HTTPHeaderName(rule.Header), Value: rule.Exact}
	switch {
	case rule.Prefix != "":
		m.Type, m.Value = ptr(gwv1.HeaderMatchRegularExpression), "^"+regexp.QuoteMeta(rule.Prefix)
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

// waitAccepted waits, following a watch on the route from the applied
// revision, until every parent reports the route Accepted and its
// references resolved at generation gen (or later), and fails at once
// when one reports either False there.
func (r *Router) waitAccepted(ctx context.Context, ns, name string, applied *gwv1.HTTPRoute, parents []gwv1.ParentReference) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.AcceptTimeout)
	defer cancel()
	routes := r.client.GatewayV1().HTTPRoutes(ns)
	gen, rv := applied.Generation, applied.ResourceVersion
	var pending string
	check := func(hr *gwv1.HTTPRoute) (bool, error) {
		if hr.Generation > gen {
			gen = hr.Generation // a later change is being applied: judge that one
		}
		pending = accepted(hr, gen, parents)
		if strings.HasPrefix(pending, rejected) {
			return false, fmt.Errorf("httproute %s/%s %w %s", ns, name, ErrRejected, strings.TrimPrefix(pending, rejected))
		}
		return pending == "", nil
	}
	if done, err := check(applied); done || err != nil {
		return err
	}
	for {
		w, err := routes.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(),
			ResourceVersion: rv})
		if err == nil {
			_, err = watchtools.UntilWithoutRetry(ctx, w, func(ev watch.Event) (bool, error) {
				hr, ok := ev.Object.(*gwv1.HTTPRoute)
				if !ok {
					return false, nil
				}
				rv = hr.ResourceVersion
				return check(hr)
			})
			if err == nil || errors.Is(err, ErrRejected) {
				return err
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("httproute %s/%s not accepted within %s: %s", ns, name, r.cfg.AcceptTimeout, pending)
		}
		// The watch ended early (or its revision is too old): read the
		// route and watch again from there.
		hr, err := routes.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			pending = err.Error()
			continue
		}
		rv = hr.ResourceVersion
		if done, err := check(hr); done || err != nil {
			return err
		}
	}
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
