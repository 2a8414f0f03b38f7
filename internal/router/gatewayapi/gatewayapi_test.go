package gatewayapi_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/bluejay-deploy/bluejay/internal/kubetest"
	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/router/gatewayapi"
)

// These tests run against a real kube-apiserver with the Gateway API
// CRDs installed (internal/kubetest). No Gateway implementation runs
// there, so where a test needs one, kubetest.Gateway writes the route's
// status as a Gateway controller would once it programmed the route.

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// setup returns a router for service web in a fresh namespace, and the
// client to read what it wrote.
func setup(t testing.TB, accept time.Duration) (*gatewayapi.Router, gwclient.Interface, string) {
	t.Helper()
	s := kubetest.New(t)
	ns := s.Namespace(t)
	client, err := gwclient.NewForConfig(s.Config())
	if err != nil {
		t.Fatal(err)
	}
	rt := gatewayapi.New(client, gatewayapi.Config{
		ParentRefs:    []gatewayapi.Parent{{Name: "public", Namespace: "infra", SectionName: "http"}, {Name: "internal"}},
		AcceptTimeout: accept,
		Services:      map[string]gatewayapi.Service{"web": {Namespace: ns, Port: 8080}},
	})
	return rt, client, ns
}

func canary(v2 int) router.Route {
	return router.Route{Service: "web", Host: "Shop.Example.com", PathPrefix: "/api",
		Backends: []router.Backend{
			{Version: "v2", Weight: v2, Addrs: []string{"web-v2.x.svc:8080"}},
			{Version: "v1", Weight: 100 - v2, Addrs: []string{"web-v1.x.svc:8080"}},
		}}
}

func get(t *testing.T, client gwclient.Interface, ns string) *gwv1.HTTPRoute {
	t.Helper()
	hr, err := client.GatewayV1().HTTPRoutes(ns).Get(ctx(t), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return hr
}

// backends renders a rule's backendRefs as "web-v2:8080=10 web-v1:8080=90".
func backends(rule gwv1.HTTPRouteRule) string {
	var out []string
	for _, b := range rule.BackendRefs {
		out = append(out, fmt.Sprintf("%s:%d=%d", b.Name, *b.Port, *b.Weight))
	}
	return strings.Join(out, " ")
}

// TestWritesTheSplit: the route attaches to the parents, matches the
// host (lower-cased) and prefix, sends header and cookie routes to their
// version first, splits the rest by weight across the versions'
// Services, and mirrors a share; a new split replaces the old.
func TestWritesTheSplit(t *testing.T) {
	rt, client, ns := setup(t, 0)
	r := canary(10)
	r.Rules = []router.Rule{{Header: "X-Canary", Exact: "always", Version: "v2"}, {Cookie: "bj", Prefix: "beta", Version: "v2"}}
	r.Mirror = &router.Mirror{Version: "v2", Percent: 5}
	if err := rt.SetRoute(ctx(t), r); err != nil {
		t.Fatal(err)
	}
	hr := get(t, client, ns)
	if hr.Labels["app.kubernetes.io/managed-by"] != "bluejay" || hr.Labels["bluejay.dev/service"] != "web" {
		t.Errorf("labels = %v", hr.Labels)
	}
	if len(hr.Spec.Hostnames) != 1 || hr.Spec.Hostnames[0] != "shop.example.com" {
		t.Errorf("hostnames = %v", hr.Spec.Hostnames)
	}
	ps := hr.Spec.ParentRefs
	if len(ps) != 2 || ps[0].Name != "public" || *ps[0].Namespace != "infra" || *ps[0].SectionName != "http" || ps[1].Name != "internal" || ps[1].Namespace != nil {
		t.Errorf("parentRefs = %+v", ps)
	}
	rules := hr.Spec.Rules
	if len(rules) != 3 {
		t.Fatalf("%d rules, want 3: %+v", len(rules), rules)
	}
	for i, rule := range rules {
		if p := rule.Matches[0].Path; *p.Type != gwv1.PathMatchPathPrefix || *p.Value != "/api" {
			t.Errorf("rule %d path = %s %s", i, *p.Type, *p.Value)
		}
	}
	h := rules[0].Matches[0].Headers
	if len(h) != 1 || h[0].Name != "X-Canary" || *h[0].Type != gwv1.HeaderMatchExact || h[0].Value != "always" || backends(rules[0]) != "web-v2:8080=1" {
		t.Errorf("header rule = %+v → %s", h, backends(rules[0]))
	}
	c := rules[1].Matches[0].Headers
	if len(c) != 1 || c[0].Name != "Cookie" || *c[0].Type != gwv1.HeaderMatchRegularExpression || backends(rules[1]) != "web-v2:8080=1" {
		t.Errorf("cookie rule = %+v → %s", c, backends(rules[1]))
	}
	if got := backends(rules[2]); got != "web-v2:8080=10 web-v1:8080=90" {
		t.Errorf("split = %s", got)
	}
	f := rules[2].Filters
	if len(f) != 1 || f[0].Type != gwv1.HTTPRouteFilterRequestMirror || f[0].RequestMirror.BackendRef.Name != "web-v2" || *f[0].RequestMirror.Percent != 5 {
		t.Errorf("mirror = %+v", f)
	}

	if err := rt.SetRoute(ctx(t), canary(50)); err != nil {
		t.Fatal(err)
	}
	hr = get(t, client, ns)
	if len(hr.Spec.Rules) != 1 || backends(hr.Spec.Rules[0]) != "web-v2:8080=50 web-v1:8080=50" || len(hr.Spec.Rules[0].Filters) != 0 {
		t.Errorf("after the second change: %+v", hr.Spec.Rules)
	}
}

// TestUnreadyVersionGetsNoBackend: a version without ready instances
// (its Service may be gone) is left out of the split and its rules.
func TestUnreadyVersionGetsNoBackend(t *testing.T) {
	rt, client, ns := setup(t, 0)
	r := canary(0)
	r.Backends[0].Addrs = nil
	r.Rules = []router.Rule{{Header: "X-Canary", Exact: "always", Version: "v2"}}
	if err := rt.SetRoute(ctx(t), r); err != nil {
		t.Fatal(err)
	}
	hr := get(t, client, ns)
	if len(hr.Spec.Rules) != 1 || backends(hr.Spec.Rules[0]) != "web-v1:8080=100" {
		t.Errorf("rules = %+v", hr.Spec.Rules)
	}
	if err := rt.SetRoute(ctx(t), router.Route{Service: "nope"}); err == nil {
		t.Error("a route for an unconfigured service was written")
	}
}

// TestWaitsForTheGateway: with acceptTimeout, a change returns once the
// Gateway reports it Accepted at its generation; a Gateway that refuses
// it fails the change with its reason; without a Gateway, the change
// fails at the timeout saying what it waited for.
func TestWaitsForTheGateway(t *testing.T) {
	rt, client, ns := setup(t, 20*time.Second)
	kubetest.Gateway(t, client, ns, func(hr *gwv1.HTTPRoute) kubetest.Verdict {
		for _, rule := range hr.Spec.Rules {
			if strings.Contains(backends(rule), "web-v2:8080=7") {
				return kubetest.Verdict{Reason: "UnsupportedValue", Message: "weight 7 is unlucky"}
			}
		}
		return kubetest.Verdict{Accepted: true}
	})
	for _, w := range []int{10, 50} {
		if err := rt.SetRoute(ctx(t), canary(w)); err != nil {
			t.Fatalf("weight %d: %v", w, err)
		}
		hr := get(t, client, ns)
		for _, st := range hr.Status.Parents {
			if c := meta.FindStatusCondition(st.Conditions, "Accepted"); c == nil || c.ObservedGeneration != hr.Generation {
				t.Errorf("weight %d: SetRoute returned before %s accepted generation %d: %+v", w, st.ParentRef.Name, hr.Generation, c)
			}
		}
	}
	err := rt.SetRoute(ctx(t), canary(7))
	if !errors.Is(err, gatewayapi.ErrRejected) || !strings.Contains(err.Error(), "UnsupportedValue") || !strings.Contains(err.Error(), "weight 7 is unlucky") {
		t.Errorf("a refused change: %v", err)
	}

	rt2, _, _ := setup(t, 300*time.Millisecond)
	err = rt2.SetRoute(ctx(t), canary(10))
	if err == nil || !strings.Contains(err.Error(), "not accepted within 300ms") || !strings.Contains(err.Error(), "has not reported") {
		t.Errorf("no gateway: %v", err)
	}
}

// BenchmarkSetRoute measures one weight change: apply, read back, and
// wait for the stand-in Gateway's acceptance.
func BenchmarkSetRoute(b *testing.B) {
	rt, client, ns := setup(b, 20*time.Second)
	kubetest.Gateway(b, client, ns, nil)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := rt.SetRoute(ctx(b), canary(i%100)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPendingThenAccepted: a change the Gateway has not accepted yet
// answers router.ErrPending after a short wait (the service's loop is not
// held for acceptTimeout); asking again with the same route only checks,
// without writing it again, and succeeds once the Gateway accepts it.
func TestPendingThenAccepted(t *testing.T) {
	rt, client, ns := setup(t, time.Minute)
	start := time.Now()
	err := rt.SetRoute(ctx(t), canary(10))
	if !errors.Is(err, router.ErrPending) {
		t.Fatalf("no gateway yet: %v, want ErrPending", err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("SetRoute held the caller %s", took)
	}
	gen := get(t, client, ns).Generation
	kubetest.Gateway(t, client, ns, nil)
	deadline := time.Now().Add(20 * time.Second)
	for err = rt.SetRoute(ctx(t), canary(10)); err != nil; err = rt.SetRoute(ctx(t), canary(10)) {
		if !errors.Is(err, router.ErrPending) || time.Now().After(deadline) {
			t.Fatalf("after the gateway came: %v", err)
		}
	}
	if g := get(t, client, ns).Generation; g != gen {
		t.Errorf("asking again wrote the route again: generation %d → %d", gen, g)
	}
}
