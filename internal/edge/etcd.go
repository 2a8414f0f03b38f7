package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// EtcdStorage keeps ACME's account, certificates and locks in etcd, so
// that the proxies of a fleet share them: one obtains a certificate, the
// others load it, and none races another for the same name. Keys live
// under Prefix; a lock is an etcd mutex on a lease that dies with its
// holder.
type EtcdStorage struct {
	client *clientv3.Client
	prefix string // ends in "/"

	mu    sync.Mutex
	locks map[string]*etcdLock
}

type etcdLock struct {
	session *concurrency.Session
	mutex   *concurrency.Mutex
}

// lockTTL is how long a lock outlives a holder that died (its lease).
const lockTTL = 30

var _ certmagic.Storage = (*EtcdStorage)(nil)

// NewEtcdStorage returns certmagic storage in etcd under prefix.
func NewEtcdStorage(client *clientv3.Client, prefix string) *EtcdStorage {
	return &EtcdStorage{client: client, prefix: strings.TrimSuffix(prefix, "/") + "/", locks: map[string]*etcdLock{}}
}

// record is a stored value with its modification time (for Stat).
type record struct {
	Modified time.Time `json:"modified"`
	Value    []byte    `json:"value"`
}

func (s *EtcdStorage) key(k string) string { return s.prefix + "data/" + strings.Trim(k, "/") }

// Store writes value at key.
func (s *EtcdStorage) Store(ctx context.Context, key string, value []byte) error {
	data, err := json.Marshal(record{Modified: time.Now(), Value: value})
	if err != nil {
		return err
	}
	_, err = s.client.Put(ctx, s.key(key), string(data))
	return err
}

func (s *EtcdStorage) get(ctx context.Context, key string) (record, error) {
	res, err := s.client.Get(ctx, s.key(key))
	if err != nil {
		return record{}, err
	}
	if len(res.Kvs) == 0 {
		return record{}, fs.ErrNotExist
	}
	var r record
	if err := json.Unmarshal(res.Kvs[0].Value, &r); err != nil {
		return record{}, fmt.Errorf("reading %s: %w", key, err)
	}
	return r, nil
}

// Load reads key's value, fs.ErrNotExist if none.
func (s *EtcdStorage) Load(ctx context.Context, key string) ([]byte, error) {
	r, err := s.get(ctx, key)
	return r.Value, err
}

// Delete removes key and everything under it.
func (s *EtcdStorage) Delete(ctx context.Context, key string) error {
	k := s.key(key)
	res, err := s.client.Txn(ctx).Then(clientv3.OpDelete(k), clientv3.OpDelete(k+"/", clientv3.WithPrefix())).Commit()
	if err != nil {
		return err
	}
	if res.Responses[0].GetResponseDeleteRange().Deleted+res.Responses[1].GetResponseDeleteRange().Deleted == 0 {
		return fs.ErrNotExist
	}
	return nil
}

// Exists reports whether key is a value or has values under it.
func (s *EtcdStorage) Exists(ctx context.Context, key string) bool {
	_, err := s.Stat(ctx, key)
	return err == nil
}

// List returns the keys under path: all of them if recursive, else
// its direct children.
func (s *EtcdStorage) List(ctx context.Context, path string, recursive bool) ([]string, error) {
	dir := s.key(path) + "/"
	if strings.Trim(path, "/") == "" {
		dir = s.prefix + "data/"
	}
	res, err := s.client.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, kv := range res.Kvs {
		rel := strings.TrimPrefix(string(kv.Key), dir)
		if !recursive {
			rel, _, _ = strings.Cut(rel, "/")
		}
		full := strings.TrimPrefix(dir+rel, s.prefix+"data/")
		if !seen[full] {
			seen[full] = true
			out = append(out, full)
		}
	}
	if len(out) == 0 {
		return nil, fs.ErrNotExist
	}
	return out, nil
}

// Stat describes key: a value (terminal) or a directory of values.
func (s *EtcdStorage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	r, err := s.get(ctx, key)
	if err == nil {
		return certmagic.KeyInfo{Key: key, Modified: r.Modified, Size: int64(len(r.Value)), IsTerminal: true}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return certmagic.KeyInfo{}, err
	}
	res, err := s.client.Get(ctx, s.key(key)+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return certmagic.KeyInfo{}, err
	}
	if res.Count == 0 {
		return certmagic.KeyInfo{}, fs.ErrNotExist
	}
	return certmagic.KeyInfo{Key: key}, nil
}

// Lock takes the lock name, waiting for its holder (in this process or
// another) to release it, or for ctx to end.
func (s *EtcdStorage) Lock(ctx context.Context, name string) error {
	sess, err := concurrency.NewSession(s.client, concurrency.WithTTL(lockTTL), concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		return fmt.Errorf("locking %s: %w", name, err)
	}
	m := concurrency.NewMutex(sess, s.prefix+"locks/"+name)
	if err := m.Lock(ctx); err != nil {
		sess.Close()
		return fmt.Errorf("locking %s: %w", name, err)
	}
	s.mu.Lock()
	s.locks[name] = &etcdLock{session: sess, mutex: m}
	s.mu.Unlock()
	return nil
}

// Unlock releases the lock name taken by Lock.
func (s *EtcdStorage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	l := s.locks[name]
	delete(s.locks, name)
	s.mu.Unlock()
	if l == nil {
		return fmt.Errorf("unlocking %s: not locked here", name)
	}
	err := l.mutex.Unlock(ctx)
	return errors.Join(err, l.session.Close())
}
