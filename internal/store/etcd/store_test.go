package etcd

import (
	"context"
	"os"
	"testing"

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
