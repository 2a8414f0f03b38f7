package etcd

import (
	"context"
	"encoding/json"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/store"
)

var _ store.RouteChangeWatcher = (*Store)(nil)

// WatchRouteChanges is WatchRoutes carrying the changed routes: etcd's
// watch events hold each changed key's new value, so a follower decodes
// the routes that changed rather than the whole table at each change
// (issue 22: at 2,000 services, re-reading and decoding the table per
// weight change made the fleet's propagation O(n) per change). Changes
// that arrive while the reader is busy are coalesced, the latest route of
// each service kept, so the reader never waits on a queue and nothing is
// lost. A Resync is sent when the watch is established (changes before it
// were not seen), after a watch error the client recovers from, and for a
// deleted or undecodable route; the channel closes as WatchRoutes's does
// (ctx ended, no leader, or the revision compacted), and the caller
// watches again, which begins with a Resync.
func (s *Store) WatchRouteChanges(ctx context.Context) <-chan store.RouteChanges {
	out := make(chan store.RouteChanges)
	go func() {
		defer close(out)
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		defer cancel()
		watch := s.cli.Watch(wctx, s.routes(), clientv3.WithPrefix(), clientv3.WithCreatedNotify())
		var pending routeBatch
		for {
			var send chan<- store.RouteChanges
			if pending.any() {
				send = out
			}
			select {
			case <-ctx.Done():
				return
			case send <- pending.changes:
				pending = routeBatch{}
			case resp, ok := <-watch:
				if !ok {
					return
				}
				if err := resp.Err(); err != nil {
					if resp.Canceled {
						return // no leader, or compacted: the caller watches again
					}
					pending.resync() // the client resumes the watch
					continue
				}
				if resp.Created {
					pending.resync()
				}
				for _, ev := range resp.Events {
					pending.add(ev)
				}
			}
		}
	}()
	return out
}

// routeBatch is the changes not yet taken by WatchRouteChanges's reader.
type routeBatch struct {
	changes store.RouteChanges
	index   map[string]int // service → its place in changes.Routes
}

func (b *routeBatch) any() bool { return b.changes.Resync || len(b.changes.Routes) > 0 }

// resync replaces the batch by a read of the whole table.
func (b *routeBatch) resync() {
	b.changes = store.RouteChanges{Resync: true}
	b.index = nil
}

// add records one watch event: the route it carries, or a resync when
// it carries none that can be applied alone (a delete: the table's full
// read decides, as before; an undecodable value: the full read reports
// it).
func (b *routeBatch) add(ev *clientv3.Event) {
	if b.changes.Resync {
		return // the full read covers it
	}
	var r router.Route
	if ev.Type != mvccpb.PUT || json.Unmarshal(ev.Kv.Value, &r) != nil || r.Service == "" {
		b.resync()
		return
	}
	if i, ok := b.index[r.Service]; ok {
		b.changes.Routes[i] = r
		return
	}
	if b.index == nil {
		b.index = map[string]int{}
	}
	b.index[r.Service] = len(b.changes.Routes)
	b.changes.Routes = append(b.changes.Routes, r)
}
