package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics/web"
)

// server is a real JSON endpoint that checks the method, a header and the
// body it was sent, and answers with status and doc.
func server(t *testing.T, status int, doc string) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer x" || string(body) != `{"q":"errors"}` {
			http.Error(w, "bad request: "+r.Method+" "+string(body), http.StatusBadRequest)
			return
		}
		if status == 0 {
			time.Sleep(2 * time.Second) // a slow endpoint, for the timeout
		}
		w.WriteHeader(max(status, 200))
		io.WriteString(w, doc)
	}))
	t.Cleanup(s.Close)
	return s
}

func measure(t *testing.T, s *httptest.Server, path string, timeout time.Duration) (any, error) {
	t.Helper()
	p, err := web.New(web.Provider{URL: s.URL, Method: "POST", Headers: map[string]string{"Authorization": "Bearer x"},
		Body: `{"q":"errors"}`, Timeout: timeout}, path)
	if err != nil {
		t.Fatal(err)
	}
	return p.Measure(context.Background())
}

func TestWebReadsTheValueAtJSONPath(t *testing.T) {
	s := server(t, 200, `{"data": {"value": 0.25, "status": "ok", "items": [{"n": 3}]}}`)
	for _, tc := range []struct {
		path string
		want any
	}{
		{"$.data.value", 0.25},
		{"$.data.status", "ok"},
		{"$.data.items[0].n", 3.0},
		{".data.value", 0.25},
	} {
		got, err := measure(t, s, tc.path, time.Second)
		if err != nil || got != tc.want {
			t.Errorf("%s: %v, %v; want %v", tc.path, got, err, tc.want)
		}
	}
	doc, err := measure(t, s, "", time.Second)
	if m, ok := doc.(map[string]any); err != nil || !ok || m["data"] == nil {
		t.Errorf("no jsonPath: %v, %v; want the whole document", doc, err)
	}
}

func TestWebFailuresAreErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc, path, want string
		status                int
		timeout               time.Duration
	}{
		{"a status outside 2xx", `{"value": 1}`, "$.value", "status 503", 503, time.Second},
		{"not JSON", `<html>`, "$.value", "not JSON", 200, time.Second},
		{"a path that matches nothing", `{"value": 1}`, "$.other", "not found", 200, time.Second},
		{"a path that matches many", `{"v": [1, 2]}`, "$.v[*]", "matched 2 values", 200, time.Second},
		{"a timeout", `{"value": 1}`, "$.value", "deadline exceeded", 0, 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := measure(t, server(t, tc.status, tc.doc), tc.path, tc.timeout)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestWebRefusesABadJSONPath(t *testing.T) {
	if _, err := web.Compile("$.data[oops"); err == nil || !strings.Contains(err.Error(), "invalid jsonPath") {
		t.Fatalf("err %v, want invalid jsonPath", err)
	}
}
