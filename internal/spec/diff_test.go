package spec_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

const diffBase = `proxy: {listen: 127.0.0.1:8080}
admin: {listen: 127.0.0.1:9090, token: t}
services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: ["127.0.0.1:9001"]}}}
  - name: api
    match: {host: api.test}
    version: v1
    platform: {static: {targets: {v1: ["127.0.0.1:9002"]}}}
`

func TestCompare(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // replaced in diffBase
		want     string // Diff.String()
	}{
		{name: "same", want: "no changes"},
		{name: "version", old: "    version: v1\n    platform: {static: {targets: {v1: [\"127.0.0.1:9001\"]}}}",
			new:  "    version: v2\n    platform: {static: {targets: {v1: [\"127.0.0.1:9001\"], v2: [\"127.0.0.1:9003\"]}}}",
			want: "~ service web: services[web].version, services[web].platform"},
		{name: "added and removed", old: "  - name: api\n    match: {host: api.test}", new: "  - name: shop\n    match: {host: api.test}",
			want: "+ service shop\n- service api"},
		{name: "admin listener refused", old: "127.0.0.1:9090", new: "127.0.0.1:9091",
			want: "! admin: read once at start; restart serve to change it"},
		{name: "proxy limit refused", old: "{listen: 127.0.0.1:8080}", new: "{listen: 127.0.0.1:8080, timeout: 5s}",
			want: "! proxy.timeout: read once at start; restart serve to change it"},
		{name: "platform kind refused", old: "    platform: {static: {targets: {v1: [\"127.0.0.1:9002\"]}}}",
			new:  "    platform: {process: {command: [./app, --port, \"{{.Port}}\"]}}",
			want: "~ service api: services[api].platform\n! services[api].platform: the platform kind cannot change live (static to process); remove the service, reload, then add it back"},
		{name: "analysis is live", old: "services:", new: "analysis:\n  strict: {metrics: [{name: e, condition: \"canary.errorRate <= 0.01\"}]}\nservices:",
			want: "~ analysis"},
	}
	old, err := spec.Parse("bluejay.yaml", []byte(diffBase))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := diffBase
			if tc.old != "" {
				if !strings.Contains(text, tc.old) {
					t.Fatalf("base has no %q", tc.old)
				}
				text = strings.Replace(text, tc.old, tc.new, 1)
			}
			cfg, err := spec.Parse("bluejay.yaml", []byte(text))
			if err != nil {
				t.Fatal(err)
			}
			d := spec.Compare(old, cfg)
			if got := d.String(); got != tc.want {
				t.Errorf("Compare:\n%s\nwant:\n%s", got, tc.want)
			}
			if refused := slices.ContainsFunc(strings.Split(tc.want, "\n"), func(l string) bool { return strings.HasPrefix(l, "!") }); refused != (len(d.Refused) > 0) {
				t.Errorf("Refused = %v", d.Refused)
			}
		})
	}
}

func TestOnNewVersionValidated(t *testing.T) {
	_, err := spec.Parse("bluejay.yaml", []byte(strings.Replace(diffBase, "    version: v1\n", "    version: v1\n    onNewVersion: later\n", 1)))
	if err == nil || !strings.Contains(err.Error(), "bluejay.yaml:6:19: services[0].onNewVersion: unknown onNewVersion \"later\" (valid: abort, queue)") {
		t.Errorf("onNewVersion: later = %v", err)
	}
}
