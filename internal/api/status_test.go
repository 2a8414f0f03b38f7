package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
)

// TestListServicesFromTheCache: GET /v1/services, built from each
// service's cached encoding, is the bytes encoding the statuses afresh
// gives, and a status that changed (a deploy) is not answered stale.
func TestListServicesFromTheCache(t *testing.T) {
	srv, addr := newAPI(t)
	list := func() (string, []controller.ServiceStatus) {
		t.Helper()
		status, body := call(t, srv, "GET", "/v1/services", "Bearer "+token, "")
		var sts []controller.ServiceStatus
		if err := json.Unmarshal([]byte(body), &sts); status != 200 || err != nil || len(sts) != 1 {
			t.Fatalf("GET /v1/services = %d %s (%v)", status, body, err)
		}
		return body, sts
	}
	until := func(what string, ok func(engine.Rollout) bool) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			body, sts := list()
			if ok(sts[0].Rollout) {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s: %s", what, body)
			}
			time.Sleep(10 * time.Millisecond) // polling interval, not a wait for a condition
		}
	}
	body := until("settled first rollout", func(r engine.Rollout) bool { return r.Phase == engine.PhaseCompleted && r.Settled })
	again, sts := list()
	if again != body {
		t.Fatalf("a second GET of an idle service differs:\n%s\n%s", body, again)
	}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetIndent("", "  ")
	if err := enc.Encode(sts); err != nil {
		t.Fatal(err)
	}
	if body != want.String() {
		t.Fatalf("GET /v1/services:\n%s\nwant the statuses encoded afresh:\n%s", body, want.String())
	}

	c := &api.Client{Addr: srv.URL, Token: token}
	ro, err := c.Deploy(context.Background(), "web", api.DeployBody{Version: "v2", Targets: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	until("rollout of v2 in the list", func(r engine.Rollout) bool { return r.ID == ro.ID })
}
