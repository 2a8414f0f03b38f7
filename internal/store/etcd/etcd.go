package etcd

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/bluejay-deploy/bluejay/internal/store"
)

var _ store.Store = (*Store)(nil)

// DefaultPrefix is the key prefix when Open is given "".
const DefaultPrefix = "/bluejay"

// dialTimeout bounds Open's first contact with the cluster.
const dialTimeout = 5 * time.Second

// maxAttempts bounds the retries of a transaction that lost only to a
// write elsewhere (a counter, another rollout's active key). Between
// attempts, a writer waits a jittered, doubling delay (newBackoff), so
// that writers that lost together do not all try again together.
const maxAttempts = 32

// newBackoff is the delays between attempts: 1 ms, doubling up to 100 ms,
// each stretched by up to as much again at random (at most about 5 s over
// all 32 attempts).
func newBackoff() wait.Backoff {
	return wait.Backoff{Duration: time.Millisecond, Factor: 2, Jitter: 1, Steps: maxAttempts, Cap: 100 * time.Millisecond}
}

// pause waits b's next delay before every attempt but the first, or
// returns ctx's error.
func pause(ctx context.Context, b *wait.Backoff, attempt int) error {
	if attempt == 0 {
		return ctx.Err()
	}
	t := time.NewTimer(b.Step())
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var (
	errNoService  = errors.New("no service")
	errNoEndpoint = errors.New("no endpoint")
	errContention = errors.New("too much contention: the transaction kept losing to other writers")
)

// Store is a store.Store in etcd. It is safe for concurrent use.
type Store struct {
	cli    *clientv3.Client
	prefix string

	mu   sync.Mutex
	revs map[string]int64 // key → mod revision this handle last read or wrote

	batch *batcher // UpdateRollout's queue (batch.go)
}

// Open connects to the etcd cluster at endpoints and checks that it
// answers. prefix ("" means DefaultPrefix) roots every key; a trailing
// slash is ignored.
func Open(ctx context.Context, endpoints []string, prefix string) (*Store, error) {
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("opening etcd store: %w", errNoEndpoint)
	}
	prefix = strings.TrimRight(prefix, "/")
	if prefix == "" {
		prefix = DefaultPrefix
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: endpoints, DialTimeout: dialTimeout, Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("opening etcd store %v: %w", endpoints, err)
	}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if _, err := cli.Get(ctx, prefix+"/seq/rollouts"); err != nil {
		cli.Close()
		return nil, fmt.Errorf("opening etcd store %v: %w", endpoints, err)
	}
	s := &Store{cli: cli, prefix: prefix, revs: map[string]int64{}, batch: newBatcher()}
	go s.run()
	return s, nil
}

// Client returns the etcd client, for what shares the cluster (leader
// election).
func (s *Store) Client() *clientv3.Client { return s.cli }

// Prefix returns the key prefix, without a trailing slash.
func (s *Store) Prefix() string { return s.prefix }

// Close fails the updates still queued, then closes the client.
func (s *Store) Close() error {
	s.batch.close()
	return s.cli.Close()
}

// Keys.

func pad(id int64) string { return fmt.Sprintf("%020d", id) }

func esc(service string) string { return url.PathEscape(service) }

func (s *Store) rolloutSeq() string { return s.prefix + "/seq/rollouts" }
func (s *Store) eventSeq() string   { return s.prefix + "/seq/events" }
func (s *Store) rolloutsAll() string {
	return s.prefix + "/rollouts/all/"
}
func (s *Store) rolloutsOf(service string) string {
	return s.prefix + "/rollouts/by-service/" + esc(service) + "/"
}
func (s *Store) eventsAll() string { return s.prefix + "/events/all/" }
func (s *Store) eventsOf(service string) string {
	return s.prefix + "/events/by-service/" + esc(service) + "/"
}
func (s *Store) activeKey(service string) string { return s.prefix + "/active/" + esc(service) }
func (s *Store) routes() string                  { return s.prefix + "/routes/" }

// snapshot reads keys at one revision; absent keys map to nil.
func (s *Store) snapshot(ctx context.Context, keys ...string) (map[string]*mvccpb.KeyValue, error) {
	ops := make([]clientv3.Op, len(keys))
	for i, k := range keys {
		ops[i] = clientv3.OpGet(k)
	}
	resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return nil, err
	}
	kvs := make(map[string]*mvccpb.KeyValue, len(keys))
	for i, r := range resp.Responses {
		kvs[keys[i]] = nil
		if got := r.GetResponseRange().Kvs; len(got) == 1 {
			kvs[keys[i]] = got[0]
		}
	}
	return kvs, nil
}

// modRev is kv's mod revision, 0 when the key is absent: etcd compares
// an absent key's ModRevision as 0.
func modRev(kv *mvccpb.KeyValue) int64 {
	if kv == nil {
		return 0
	}
	return kv.ModRevision
}

// seqValue decodes a counter, 0 when absent.
func seqValue(kv *mvccpb.KeyValue) (int64, error) {
	if kv == nil {
		return 0, nil
	}
	var n int64
	if _, err := fmt.Sscan(string(kv.Value), &n); err != nil {
		return 0, fmt.Errorf("decoding counter %s: %w", kv.Key, err)
	}
	return n, nil
}

// seen returns the revision this handle last read or wrote for key.
func (s *Store) seen(key string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rev, ok := s.revs[key]
	return rev, ok
}

// remember records that this handle read or wrote key at rev.
func (s *Store) remember(key string, rev int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revs[key] = rev
}

// rangeDocs reads the documents under prefix in key order, or reverse
// order with the newest limit (limit <= 0: all) when desc, and remembers
// each key's revision.
func (s *Store) rangeDocs(ctx context.Context, prefix string, desc bool, limit int) ([]*mvccpb.KeyValue, error) {
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if desc {
		opts = append(opts, clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	}
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit)))
	}
	resp, err := s.cli.Get(ctx, prefix, opts...)
	if err != nil {
		return nil, err
	}
	return resp.Kvs, nil
}
