package spec

import (
	"strings"
	"testing"
)

// TestHealthIntervalZeroIsReportedOnInterval: the defaulted timeout
// follows a short interval, but an invalid one is reported once, on the
// field that was written.
func TestHealthIntervalZeroIsReportedOnInterval(t *testing.T) {
	_, err := Parse("h.yaml", []byte(`services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: ["127.0.0.1:9"]}}}
    health: {interval: 0s}
`))
	if err == nil || err.Error() != "h.yaml:5:24: services[0].health.interval: must be more than 0, such as 1s" {
		t.Fatalf("got %v; want the one error on health.interval", err)
	}
}

func TestSuggestAWordAddedOrLeftOff(t *testing.T) {
	known := []string{"name", "health", "healthyThreshold", "smoke", "readyTimeout"}
	for name, want := range map[string]string{"healthcheck": "health", "ready": "readyTimeout", "helth": "health",
		"smokeTests": "smoke", "nam": "name", "xyz": ""} {
		if got := Suggest(name, known); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", name, got, want)
		}
	}
	_, err := Parse("h.yaml", []byte(`services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: ["127.0.0.1:9"]}}}
    healthcheck: {path: /}
`))
	if err == nil || !strings.Contains(err.Error(), `h.yaml:5:5: services[0].healthcheck: unknown field "healthcheck"`) ||
		!strings.HasSuffix(err.Error(), "did you mean health?") {
		t.Fatalf("got %v; want did you mean health", err)
	}
}
