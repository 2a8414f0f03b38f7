package etcdtest

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func TestStartServesAndStops(t *testing.T) {
	s := New(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: s.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := s.Prefix(t) + "/k"
	if _, err := cli.Put(ctx, key, "v"); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, key)
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("Get(%s) = %v, %v; want v", key, resp, err)
	}
	if a, b := s.Prefix(t), s.Prefix(t); a == b {
		t.Errorf("two prefixes are both %q", a)
	}
}
