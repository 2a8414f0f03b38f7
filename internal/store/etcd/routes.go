package etcd

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/store"
)

// PutRoute stores the service's route, replacing the previous one,
// provided the stored route is still the one this handle last read or
// wrote (store.ErrStale otherwise; see the package doc).
func (s *Store) PutRoute(ctx context.Context, r router.Route) error {
	if r.Service == "" {
		return fmt.Errorf("storing route: %w", errNoService)
	}
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding route of %s: %w", r.Service, err)
	}
	key := s.routes() + esc(r.Service)
	want, known := s.seen(key)
	if !known {
		resp, err := s.cli.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("storing route of %s: %w", r.Service, err)
		}
		if len(resp.Kvs) == 1 {
			want = resp.Kvs[0].ModRevision
		}
	}
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", want)).
		Then(clientv3.OpPut(key, string(doc))).
		Commit()
	if err != nil {
		return fmt.Errorf("storing route of %s: %w", r.Service, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("storing route of %s: written by another writer since this one read it: %w", r.Service, store.ErrStale)
	}
	s.remember(key, resp.Header.Revision)
	return nil
}

// ListRoutes returns every stored route, ordered by service.
func (s *Store) ListRoutes(ctx context.Context) ([]router.Route, error) {
	kvs, err := s.rangeDocs(ctx, s.routes(), false, 0)
	if err != nil {
		return nil, fmt.Errorf("listing routes: %w", err)
	}
	list := make([]router.Route, 0, len(kvs))
	for _, kv := range kvs {
		var r router.Route
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("listing routes: decoding %s: %w", kv.Key, err)
		}
		s.remember(string(kv.Key), kv.ModRevision)
		list = append(list, r)
	}
	return list, nil
}

var _ store.RouteWatcher = (*Store)(nil)

// WatchRoutes signals each change of the routing table as etcd reports
// it (a watch on the routes' prefix), so that a fleet of proxies applies
// a change within the watch's latency rather than a poll period. A signal
// says "read the table again"; several changes may share one. The watch
// also signals once it is established, since changes made before then
// were not seen. The channel closes when ctx ends, or when etcd ends the
// watch: it requires a leader, and ends when this member loses it, so
// that no proxy waits on a member cut off from the cluster; the caller
// watches again (dataplane.Follower does, with a backoff).
func (s *Store) WatchRoutes(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		defer cancel() // a watch that ended with an error is released
		for resp := range s.cli.Watch(wctx, s.routes(), clientv3.WithPrefix(), clientv3.WithCreatedNotify()) {
			if err := resp.Err(); err != nil {
				if resp.Canceled {
					return // no leader, or compacted: the caller watches again
				}
				continue // the client resumes the watch
			}
			select {
			case out <- struct{}{}:
			default: // a signal is already pending
			}
		}
	}()
	return out
}
