package etcd

import (
	"context"
	"os"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bluejay-deploy/bluejay/internal/etcdtest"
	"github.com/bluejay-deploy/bluejay/internal/store"
	"github.com/bluejay-deploy/bluejay/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(etcdtest.Main(m)) }

// openTemp opens a store under a prefix of its own on the shared etcd.
func openTemp(t *testing.T) *Store {
	t.Helper()
	e := etcdtest.New(t)
	s, err := Open(context.Background(), e.Endpoints(), e.Prefix(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// another opens a second handle on s's keys, with a client of its own:
// another process, as far as the store can tell.
func another(t *testing.T, s *Store) *Store {
	t.Helper()
	o, err := Open(context.Background(), s.cli.Endpoints(), s.prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Open:    func(t *testing.T) store.Store { return openTemp(t) },
		Another: func(t *testing.T, s store.Store) store.Store { return another(t, s.(*Store)) },
	})
}

// TestOpensStoreOfUnversionedFormat: keys written before stored forms
// had a version (the engine's structs as JSON) are read whole, and the
// rollout carries on. The keys are as the previous code wrote them.
func TestOpensStoreOfUnversionedFormat(t *testing.T) {
	s := openTemp(t)
	rdoc, edoc := storetest.V0Docs()
	r, ev := storetest.V0Want()
	ctx := context.Background()
	_, err := s.cli.Txn(ctx).Then(
		clientv3.OpPut(s.rolloutSeq(), "1"),
		clientv3.OpPut(s.rolloutKey(1), string(rdoc)),
		clientv3.OpPut(s.rolloutsOf(r.Service)+pad(1), string(rdoc)),
		clientv3.OpPut(s.activeKey(r.Service), "1"),
		clientv3.OpPut(s.eventSeq(), "1"),
		clientv3.OpPut(s.eventsAll()+pad(1), string(edoc)),
		clientv3.OpPut(s.eventsOf(ev.Service)+pad(1), string(edoc)),
	).Commit()
	if err != nil {
		t.Fatal(err)
	}
	storetest.CheckReadsV0(t, another(t, s))
}
