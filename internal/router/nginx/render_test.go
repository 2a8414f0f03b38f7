package nginx

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

var update = flag.Bool("update", false, "rewrite testdata/render.golden")

// TestRenderGolden pins the rendered file for a canary with a sticky
// key, a rule and a version without instances, beside a host's service
// and an empty one (nginx -t checks such files in the conformance suite;
// this shows what a change does to them).
func TestRenderGolden(t *testing.T) {
	routes := []router.Route{
		{Service: "api", PathPrefix: "/api/", Backends: []router.Backend{{Version: "v1", Weight: 100, Addrs: []string{}}}},
		{Service: "web", Host: "web.example", Backends: []router.Backend{
			{Version: "v2", Weight: 20, Addrs: []string{"127.0.0.1:9002"}},
			{Version: "v3", Weight: 0, Addrs: []string{}},
			{Version: "v1", Weight: 80, Addrs: []string{"127.0.0.1:9001", "127.0.0.1:9011"}},
		},
			Sticky: &router.Sticky{Header: "X-User-Id", Cookie: "bj-key", Generate: true, MaxAge: 86400, HTTPOnly: true},
			Rules:  []router.Rule{{Header: "X-Canary", Exact: "always", Version: "v2"}, {Cookie: "beta", Regex: `^(yes|1)$`, Version: "v2"}},
		},
	}
	got := render(layout{listen: "127.0.0.1:8080", status: "127.0.0.1:7079", generation: "0123456789abcdef"}, routes)
	if *update {
		if err := os.WriteFile("testdata/render.golden", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/render.golden")
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("rendered file differs from testdata/render.golden:\n%s", got)
	}
}

// TestSplitBoundaries pins split_clients' shares: cumulative boundaries
// in hundredths of a percent, a tiny weight rounded away rather than
// given 0%, the last backend taking the rest.
func TestSplitBoundaries(t *testing.T) {
	for _, c := range []struct {
		weights []int
		want    string
	}{
		{[]int{1, 2}, "    33.33% u0;\n    * u1;\n"},
		{[]int{1, 1, 1}, "    33.33% u0;\n    33.34% u1;\n    * u2;\n"},
		{[]int{1, 99999}, "    * u1;\n"},
		{[]int{5, 0, 95}, "    5.00% u0;\n    * u2;\n"},
	} {
		r := router.Route{Service: "s"}
		for _, w := range c.weights {
			r.Backends = append(r.Backends, router.Backend{Version: "u", Weight: w, Addrs: []string{"127.0.0.1:1"}})
		}
		s := &service{r: r, name: "x"}
		s.split()
		got := s.b.String()
		got = got[len("split_clients \"$request_id\" $x_split {\n") : len(got)-2]
		want := c.want
		for i := range c.weights {
			want = strings.ReplaceAll(want, "u"+string(rune('0'+i)), "x_"+string(rune('0'+i))+"_u")
		}
		if got != want {
			t.Errorf("weights %v: got\n%swant\n%s", c.weights, got, want)
		}
	}
}

// TestRenderVersionHeader: with a version header, a split names the
// picked upstream's version through a map, and a single version names it
// outright; without one, nothing is added.
func TestRenderVersionHeader(t *testing.T) {
	split := router.Route{Service: "web", Backends: []router.Backend{
		{Version: "v2", Weight: 20, Addrs: []string{"127.0.0.1:9002"}},
		{Version: "v1", Weight: 80, Addrs: []string{"127.0.0.1:9001"}}}}
	one := router.Route{Service: "api", PathPrefix: "/api/", Backends: []router.Backend{{Version: "v7", Weight: 100, Addrs: []string{"127.0.0.1:9007"}}}}
	got := string(render(layout{listen: "127.0.0.1:8080", status: "127.0.0.1:7079", generation: "g", versionHeader: "X-Bluejay-Version"},
		[]router.Route{one, split}))
	for _, want := range []string{
		"map $bj1_web_split $bj1_web_version {\n    bj1_web_0_v2 \"v2\";\n    bj1_web_1_v1 \"v1\";\n    default \"\";\n}",
		"add_header X-Bluejay-Version $bj1_web_version always;",
		`add_header X-Bluejay-Version "v7" always;`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("rendered file lacks %q:\n%s", want, got)
		}
	}
	plain := string(render(layout{listen: "127.0.0.1:8080", status: "127.0.0.1:7079", generation: "g"}, []router.Route{one, split}))
	if strings.Contains(plain, "X-Bluejay-Version") || strings.Contains(plain, "_web_version") {
		t.Errorf("without a version header the file names versions in headers:\n%s", plain)
	}
}
