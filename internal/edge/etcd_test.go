package edge_test

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bluejay-deploy/bluejay/internal/edge"
	"github.com/bluejay-deploy/bluejay/internal/etcdtest"
)

func etcdClient(t *testing.T) (*clientv3.Client, string) {
	t.Helper()
	srv := etcdtest.New(t)
	c, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, srv.Prefix(t)
}

// TestEtcdStorage: certmagic's storage over a real etcd keeps values,
// lists and stats keys as directories, and deletes whole trees.
func TestEtcdStorage(t *testing.T) {
	c, prefix := etcdClient(t)
	s := edge.NewEtcdStorage(c, prefix+"/acme")
	ctx := context.Background()
	for _, k := range []string{"certificates/ca/a.test/a.test.crt", "certificates/ca/a.test/a.test.key", "certificates/ca/b.test/b.test.crt", "acme/ca/users/x.json"} {
		if err := s.Store(ctx, k, []byte("v:"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := s.Load(ctx, "certificates/ca/a.test/a.test.crt"); err != nil || string(v) != "v:certificates/ca/a.test/a.test.crt" {
		t.Fatalf("Load: %q %v", v, err)
	}
	if _, err := s.Load(ctx, "certificates/ca/c.test/c.test.crt"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing key: %v, want fs.ErrNotExist", err)
	}
	if ki, err := s.Stat(ctx, "certificates/ca/a.test/a.test.key"); err != nil || !ki.IsTerminal || ki.Size != int64(len("v:certificates/ca/a.test/a.test.key")) || time.Since(ki.Modified) > time.Minute {
		t.Fatalf("Stat of a value: %+v %v", ki, err)
	}
	if ki, err := s.Stat(ctx, "certificates/ca"); err != nil || ki.IsTerminal {
		t.Fatalf("Stat of a directory: %+v %v", ki, err)
	}
	if !s.Exists(ctx, "certificates") || s.Exists(ctx, "certificates/ca/a.te") {
		t.Fatal("Exists: a directory must exist, a key's prefix that is no directory must not")
	}
	got, err := s.List(ctx, "certificates/ca", false)
	if want := []string{"certificates/ca/a.test", "certificates/ca/b.test"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("List: %v %v, want %v", got, err, want)
	}
	got, err = s.List(ctx, "certificates", true)
	if err != nil || len(got) != 3 {
		t.Fatalf("List recursive: %v %v", got, err)
	}
	if err := s.Delete(ctx, "certificates/ca/a.test"); err != nil {
		t.Fatal(err)
	}
	if s.Exists(ctx, "certificates/ca/a.test/a.test.crt") || !s.Exists(ctx, "certificates/ca/b.test/b.test.crt") {
		t.Fatal("Delete of a directory: removed too little or too much")
	}
}

// TestEtcdStorageLock: a lock taken by one proxy keeps another waiting
// until it is released.
func TestEtcdStorageLock(t *testing.T) {
	c, prefix := etcdClient(t)
	a, b := edge.NewEtcdStorage(c, prefix+"/acme"), edge.NewEtcdStorage(c, prefix+"/acme")
	ctx := context.Background()
	if err := a.Lock(ctx, "issue_cert_a.test"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if err := b.Lock(short, "issue_cert_a.test"); err == nil {
		t.Fatal("a second proxy took a lock another holds")
	}
	if err := b.Lock(ctx, "issue_cert_b.test"); err != nil { // another name is free
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- b.Lock(ctx, "issue_cert_a.test") }()
	if err := a.Unlock(ctx, "issue_cert_a.test"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the lock was not handed over after its release")
	}
	if err := b.Unlock(ctx, "issue_cert_a.test"); err != nil {
		t.Fatal(err)
	}
}
