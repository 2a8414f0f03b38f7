package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/platform/static"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store/sqlite"
)

// TestRetryAndRollbackOnStandbyAnswer503: a standby's API answered
// retry with 409 about "rollout #0" after seconds of waiting; every
// command must get 503 with code standby, before a client's timeout.
func TestRetryAndRollbackOnStandbyAnswer503(t *testing.T) {
	cfg, err := spec.Parse("api.yaml", []byte(`services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: ["127.0.0.1:9"]}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	quiet := slog.New(slog.DiscardHandler)
	c := &controller.Controller{Store: st, Logger: quiet, Standby: func() bool { return true }}
	c.Add(controller.Service{Spec: cfg.Services[0], Platform: static.New()})
	srv := httptest.NewServer((&api.Server{Controller: c, Token: token, Logger: quiet}).Handler())
	defer srv.Close()
	for _, path := range []string{"retry", "rollback", "deploy", "promote", "abort"} {
		body := `{}`
		if path == "deploy" {
			body = `{"version":"v2"}`
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second) // shorter than the wait for a starting controller
		status, resp := callCtx(t, ctx, srv, "POST", "/v1/services/web/"+path, "Bearer "+token, body)
		cancel()
		if status != 503 || !strings.Contains(resp, `"standby"`) {
			t.Errorf("POST %s on a standby = %d %s, want 503 with code standby", path, status, resp)
		}
	}
}

// callCtx is call bounded by ctx: a request that outlives it fails the
// test.
func callCtx(t *testing.T, ctx context.Context, srv *httptest.Server, method, path, auth, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, method, srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
