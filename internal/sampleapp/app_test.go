package sampleapp

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"port given", []string{"--port", "8081", "--version", "v2"}, ""},
		{"no port", []string{"--version", "v2"}, "--port is required"},
		{"error rate above 1", []string{"--port", "1", "--error-rate", "1.5"}, "between 0 and 1"},
		{"negative errors after", []string{"--port", "1", "--errors-after-requests", "-1"}, "negative"},
		{"unknown flag", []string{"--port", "1", "--nope"}, "not defined"},
		{"schema v2 with db", []string{"--port", "1", "--db", "postgres://x@127.0.0.1/db", "--schema", "v2"}, ""},
		{"unknown schema", []string{"--port", "1", "--schema", "v3"}, "want v1 or v2"},
		{"db and db-env", []string{"--port", "1", "--db", "postgres://x@h/db", "--db-env", "HOME"}, "give one"},
		{"empty db-env", []string{"--port", "1", "--db-env", "BLUEJAY_SAMPLEAPP_TEST_UNSET"}, "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFlags(tt.args)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("parseFlags: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("parseFlags error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	tests := []struct {
		name       string
		opts       options
		path       string
		wantStatus int
		wantBody   string
	}{
		{"root", options{port: 9001, version: "v2"}, "/", 200, "version=v2 instance=9001\n"},
		{"other path", options{port: 9001, version: "v2"}, "/api/x", 200, "version=v2"},
		{"health", options{port: 9001, version: "v2"}, "/healthz", 200, "ok"},
		{"failing health", options{port: 9001, failHealth: true}, "/healthz", 503, "unhealthy"},
		{"version", options{port: 9001, version: "v3"}, "/version", 200, "v3\n"},
		{"stats", options{port: 9001}, "/stats", 200, "requests=0 inflight=0\n"},
		{"error rate 1", options{port: 9001, version: "v2", errorRate: 1}, "/", 500, "injected error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(t, newApp(tt.opts).routes(), tt.path)
			if status != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("GET %s = %d %q, want %d with %q", tt.path, status, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func TestErrorsAfterRequests(t *testing.T) {
	h := newApp(options{port: 9001, version: "v2", errorRate: 1, errorsAfter: 3}).routes()
	want := []int{200, 200, 200, 500, 500}
	for i, w := range want {
		if status, _ := get(t, h, "/"); status != w {
			t.Fatalf("request %d: status %d, want %d", i+1, status, w)
		}
	}
	// Health checks do not count as requests to /.
	if status, _ := get(t, h, "/healthz"); status != 200 {
		t.Fatalf("/healthz: status %d, want 200", status)
	}
	if _, body := get(t, h, "/stats"); body != "requests=5 inflight=0\n" {
		t.Fatalf("/stats = %q, want requests=5 inflight=0", body)
	}
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

func TestMetricsCountRequestsByCode(t *testing.T) {
	h := newApp(options{version: "v2", errorRate: 1, errorsAfter: 1}).routes()
	for range 3 {
		get(t, h, "/")
	}
	get(t, h, "/healthz") // not counted: only / is the service
	_, body := get(t, h, "/metrics")
	for _, want := range []string{`http_requests_total{code="200"} 1`, `http_requests_total{code="500"} 2`, "http_request_duration_seconds_count 3"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}

// TestHelpExitsZero: `app --help` prints the usage and exits 0, like
// any program asked for help.
func TestHelpExitsZero(t *testing.T) {
	if code := Main([]string{"--help"}); code != 0 {
		t.Fatalf("Main(--help) = %d, want 0", code)
	}
	if code := Main([]string{"--bogus"}); code != 2 {
		t.Fatalf("Main(--bogus) = %d, want 2", code)
	}
}
