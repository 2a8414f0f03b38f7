package leader_test

import (
	"context"
	"os"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bluejay-deploy/bluejay/internal/etcdtest"
	"github.com/bluejay-deploy/bluejay/internal/leader"
)

func TestMain(m *testing.M) { os.Exit(etcdtest.Main(m)) }

func client(t *testing.T, srv *etcdtest.Server) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestOneLeadsAndAStandbyTakesOver: of two candidates one leads, the
// other waits; when the leader's client dies (its lease is no longer kept
// alive) the standby leads within about one TTL.
func TestOneLeadsAndAStandbyTakesOver(t *testing.T) {
	srv := etcdtest.New(t)
	key := srv.Prefix(t) + "/leader"
	ttl := 2 * time.Second
	c1 := client(t, srv)
	a := &leader.Elector{Client: c1, Key: key, ID: "a", TTL: ttl}
	b := &leader.Elector{Client: client(t, srv), Key: key, ID: "b", TTL: ttl}

	ctx := context.Background()
	termA, err := a.Campaign(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := b.Leader(ctx); err != nil || id != "a" {
		t.Fatalf("leader = %q, %v; want a", id, err)
	}
	bLeads := make(chan *leader.Term, 1)
	go func() {
		term, err := b.Campaign(ctx)
		if err == nil {
			bLeads <- term
		}
	}()
	select {
	case <-bLeads:
		t.Fatal("b leads while a does")
	case <-time.After(ttl + time.Second): // b must keep waiting past a TTL while a lives
	}

	// a dies without resigning: its client closes, its lease is no longer
	// renewed, and it expires.
	died := time.Now()
	c1.Close()
	select {
	case term := <-bLeads:
		t.Logf("b took over %s after a died (TTL %s)", time.Since(died).Round(10*time.Millisecond), ttl)
		if time.Since(died) > 3*ttl {
			t.Errorf("b took over after %s, want within about one TTL (%s)", time.Since(died), ttl)
		}
		if id, _ := b.Leader(ctx); id != "b" {
			t.Errorf("leader = %q after the takeover, want b", id)
		}
		_ = term.Resign(ctx)
	case <-time.After(10 * ttl):
		t.Fatal("b never took over after a died")
	}
	select {
	case <-termA.Lost:
	case <-time.After(5 * time.Second):
		t.Error("a's term did not end after its client closed")
	}
}

// TestResignHandsOverAtOnce: a leader that resigns lets a standby lead
// without waiting for the lease.
func TestResignHandsOverAtOnce(t *testing.T) {
	srv := etcdtest.New(t)
	key := srv.Prefix(t) + "/leader"
	a := &leader.Elector{Client: client(t, srv), Key: key, ID: "a", TTL: 30 * time.Second}
	b := &leader.Elector{Client: client(t, srv), Key: key, ID: "b", TTL: 30 * time.Second}
	ctx := context.Background()
	termA, err := a.Campaign(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := b.Campaign(ctx); done <- err }()
	if err := termA.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("b did not lead after a resigned (the 30s lease must not be waited for)")
	}
}
