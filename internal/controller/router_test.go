package controller_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/platform/static"
	"github.com/bluejay-deploy/bluejay/internal/router/nginx"
	"github.com/bluejay-deploy/bluejay/internal/router/nginx/nginxtest"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store/sqlite"
)

// syncBuffer is a log sink the controller's goroutines share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestRouterThatRefusesIsNotTakenForOneThatObeyed pins the bug where,
// with an NGINX whose `nginx -t` refused every render, the first rollout
// still ended Completed "takes all traffic", and the refusal was logged
// at every tick (a new pid in each message): the rollout holds where it
// is with the refusal as its reason until the progress deadline fails it,
// and the refusal is logged once.
func TestRouterThatRefusesIsNotTakenForOneThatObeyed(t *testing.T) {
	d := nginxtest.New(t)
	main, err := os.ReadFile(d.Router.MainConfig)
	if err != nil {
		t.Fatal(err)
	}
	// NGINX runs on its good config; every later `nginx -t` refuses.
	if err := os.WriteFile(d.Router.MainConfig, append(main, []byte("bluejay_bogus_directive on;\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	rt, err := nginx.New(d.Router, quiet)
	if err != nil {
		t.Fatal(err)
	}
	v1 := newBackend(t, "v1")
	svc := service(v1, func(s *spec.Service) { s.ProgressDeadline = spec.Duration(time.Second) })
	plat := static.New()
	plat.SetTargets("web", "v1", []string{v1.addr()})
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	r := newRigSet(t, st, svc, plat, func(c *controller.Controller) {
		c.Router = rt
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	ro := r.waitPhase(1, engine.PhaseFailed)
	if !strings.Contains(ro.Reason, "nginx -t refused") {
		t.Errorf("reason %q, want the router's refusal", ro.Reason)
	}
	if n := strings.Count(logs.String(), "msg=\"applying route\""); n != 1 {
		t.Errorf("the refusal was logged %d times, want once:\n%s", n, logs)
	}
}
