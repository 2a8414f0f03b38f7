package checks

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/healthz", http.StatusFound) })
	mux.HandleFunc("/slow", func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	up := strings.TrimPrefix(srv.URL, "http://")
	refused := refusedAddr(t)

	tests := []struct {
		name    string
		addr    string
		path    string
		wantErr string // "" means pass
	}{
		{"200 passes", up, "/healthz", ""},
		{"204 passes", up, "/nocontent", ""},
		{"503 fails", up, "/down", "GET http://" + up + "/down: status 503"},
		{"404 fails", up, "/nope", "status 404"},
		{"redirect not followed", up, "/moved", "status 302"},
		{"connection refused", refused, "/healthz", "GET http://" + refused + "/healthz: dial tcp"},
		{"timeout", up, "/slow", "context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			err := Probe(ctx, nil, tt.addr, tt.path)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Probe: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Probe: err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestProbeTimeoutIsDeadlineExceeded(t *testing.T) {
	b := newBackend(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := Probe(ctx, nil, b.addr(), "/slow"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want one wrapping context.DeadlineExceeded", err)
	}
}
