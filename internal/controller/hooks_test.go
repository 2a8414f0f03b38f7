package controller_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/hooks"
	metricsbuiltin "github.com/bluejay-deploy/bluejay/internal/metrics/builtin"
	"github.com/bluejay-deploy/bluejay/internal/notify"
	"github.com/bluejay-deploy/bluejay/internal/platform/static"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
	routerbuiltin "github.com/bluejay-deploy/bluejay/internal/router/builtin"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store/sqlite"
)

var _ controller.Notifier = (*notify.Notifier)(nil)

// newHookRig is newRig with the controller's hook runner and notifier set.
func newHookRig(t *testing.T, svc spec.Service, dir string, n *notify.Notifier) *rig {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy.Proxy{VersionHeader: "X-Bluejay-Version", Logger: quiet}
	plat := static.New()
	for v, addrs := range svc.Platform.Static.Targets {
		plat.SetTargets(svc.Name, v, addrs)
	}
	c := &controller.Controller{Store: st, Router: &routerbuiltin.Router{Proxy: p}, Metrics: &metricsbuiltin.Metrics{Proxy: p},
		Drainer: p, Tick: 20 * time.Millisecond, DrainTimeout: time.Second, Logger: quiet,
		Hooks: &hooks.Runner{Dir: dir}}
	if n != nil {
		c.Notifier = n
	}
	c.Add(controller.Service{Spec: svc, Platform: plat})
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{t: t, ctrl: c, proxy: p, front: httptest.NewServer(p), store: st, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := c.Run(ctx); err != nil {
			t.Errorf("controller: %v", err)
		}
	}()
	if n != nil {
		go n.Run(ctx)
	}
	t.Cleanup(r.stop)
	return r
}

func hook(command ...string) *spec.Hook {
	return &spec.Hook{Command: command, Timeout: spec.Duration(5 * time.Second)}
}

// events returns the reasons of rollout id's events that report a hook.
func (r *rig) hookEvents(id int64) []string {
	r.t.Helper()
	evs, err := r.ctrl.Events(context.Background(), "web", 0)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		if e.RolloutID == id && e.Hook != "" {
			out = append(out, e.Reason)
		}
	}
	return out
}

// TestHooksRunOnceEachAndAreRecorded: a blue-green rollout runs its
// preRollout command (payload on stdin), its prePromotion webhook once
// before the switch, and its postPromotion command after completion,
// whose failure is recorded without a rollback; a notification target
// receives the rollout's transitions and hook outcomes.
func TestHooksRunOnceEachAndAreRecorded(t *testing.T) {
	dir := t.TempDir()
	var confirms atomic.Int32
	var confirmed sync.Map // rollout id → the phase it was confirmed in
	confirm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p hooks.Payload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil || p.Hook != "prePromotion" {
			http.Error(w, "bad payload", http.StatusBadRequest)
			return
		}
		confirms.Add(1)
		confirmed.Store(p.RolloutID, p.Phase)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer confirm.Close()
	var mu sync.Mutex
	var notes []notify.Message
	notes0 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m notify.Message
		body, _ := io.ReadAll(r.Body)
		if json.Unmarshal(body, &m) == nil {
			mu.Lock()
			notes = append(notes, m)
			mu.Unlock()
		}
	}))
	defer notes0.Close()
	n := notify.New([]spec.Notification{{URL: notes0.URL, Format: spec.FormatJSON, Events: spec.EventsTransitions,
		Timeout: spec.Duration(time.Second)}})

	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	r := newHookRig(t, service(v1, func(s *spec.Service) {
		s.Hooks = spec.Hooks{
			PreRollout:    hook("sh", "-c", `cat > "pre-$BLUEJAY_ROLLOUT_ID.json"; echo prepared $BLUEJAY_TO`),
			PrePromotion:  &spec.Hook{Webhook: confirm.URL, Timeout: spec.Duration(5 * time.Second)},
			PostPromotion: hook("sh", "-c", "echo cache warm-up failed >&2; exit 3"),
		}
	}), dir, n)
	r.waitPhase(1, engine.PhaseCompleted)
	ro := r.deploy(v2)
	r.waitPhase(ro.ID, engine.PhaseCompleted)
	// postPromotion runs after Completed: poll for its outcome.
	deadline := time.Now().Add(10 * time.Second)
	var got []string
	for {
		got = r.hookEvents(ro.ID)
		if len(got) == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := []string{"preRollout hook passed: command sh -c", "prePromotion hook passed: webhook", "postPromotion hook failed"}
	if len(got) != len(want) {
		t.Fatalf("hook events %q, want %d", got, len(want))
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("hook event %d: %q, want %q", i, got[i], want[i])
		}
	}
	if !strings.Contains(got[0], "prepared v2") || !strings.Contains(got[2], "exited 3: cache warm-up failed") {
		t.Errorf("hook events %q lack the output's tail", got)
	}
	data, err := os.ReadFile(filepath.Join(dir, "pre-2.json"))
	var p hooks.Payload
	if err != nil || json.Unmarshal(data, &p) != nil || p.To != "v2" || p.From != "v1" || p.Hook != "preRollout" {
		t.Errorf("preRollout payload %s (%v)", data, err)
	}
	if st, _ := r.ctrl.Status("web"); st.Rollout.Phase != engine.PhaseCompleted {
		t.Errorf("after a failed postPromotion: %s, want Completed", st.Rollout.Phase)
	}
	if phase, _ := confirmed.Load(ro.ID); confirms.Load() != 2 || phase != string(engine.PhaseSmoke) {
		t.Errorf("prePromotion ran %d times (want once per rollout), rollout #%d in %v (want Smoke: before the switch)",
			confirms.Load(), ro.ID, phase)
	}
	// Notifications arrive asynchronously: poll for this rollout's outcome.
	deadline = time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		var phases []string
		for _, m := range notes {
			if m.RolloutID == ro.ID && m.Hook == "" {
				phases = append(phases, string(m.Phase))
			}
		}
		mu.Unlock()
		if strings.Join(phases, " ") == "Deploying Smoke Watching Completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notified phases %q, want Deploying Smoke Watching Completed", phases)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFailingHooks: a failing preRollout ends the rollout Failed before
// anything is deployed; onRollback runs then; a prePromotion that denies
// fails a rollout whose new version never took user traffic.
func TestFailingHooks(t *testing.T) {
	dir := t.TempDir()
	deny := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "change freeze", http.StatusForbidden)
	}))
	defer deny.Close()
	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	r := newHookRig(t, service(v1, func(s *spec.Service) {
		s.Hooks = spec.Hooks{
			PreRollout: hook("sh", "-c", `[ "$BLUEJAY_TO" != v2 ] || { echo migration lock held; exit 1; }`),
			OnRollback: hook("sh", "-c", `touch "rolled-back-$BLUEJAY_TO-$BLUEJAY_PHASE"`),
		}
	}), dir, nil)
	r.waitPhase(1, engine.PhaseCompleted)
	ro := r.deploy(v2)
	got := r.waitPhase(ro.ID, engine.PhaseFailed)
	if !strings.Contains(got.Reason, "preRollout hook failed: command sh -c") || !strings.Contains(got.Reason, "migration lock held") {
		t.Errorf("reason %q", got.Reason)
	}
	if v2.viaProxy.Load() != 0 {
		t.Errorf("v2 served %d user requests", v2.viaProxy.Load())
	}
	waitFile(t, filepath.Join(dir, "rolled-back-v2-Failed"))

	// A fresh service whose prePromotion denies: its first version,
	// which never took user traffic, fails.
	r = newHookRig(t, service(v1, func(s *spec.Service) {
		s.Hooks.PrePromotion = &spec.Hook{Webhook: deny.URL + "/confirm", Timeout: spec.Duration(5 * time.Second)}
	}), dir, nil)
	got = r.waitPhase(1, engine.PhaseFailed) // the first version must be confirmed too
	if !strings.Contains(got.Reason, "prePromotion hook failed: webhook") || !strings.Contains(got.Reason, "403 Forbidden: change freeze") {
		t.Errorf("reason %q", got.Reason)
	}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
