package spec_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

func TestStoreEtcd(t *testing.T) {
	cfg, err := spec.Load(writeConfig(t, `
store:
  etcd: {endpoints: ["http://10.0.0.5:2379", "10.0.0.6:2379"]}
services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: ["127.0.0.1:9000"]}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &spec.EtcdStore{Endpoints: []string{"http://10.0.0.5:2379", "10.0.0.6:2379"}, Prefix: "/bluejay",
		LeaseTTL: spec.Duration(5 * time.Second)}
	if !reflect.DeepEqual(cfg.Store.Etcd, want) {
		t.Errorf("store.etcd = %+v, want %+v", cfg.Store.Etcd, want)
	}
	sqlite, err := spec.Load("testdata/valid/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if sqlite.Store.Etcd != nil {
		t.Errorf("store.etcd of a config without it = %+v, want nil (SQLite)", sqlite.Store.Etcd)
	}
}
