package etcd

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/store"
)

// eventOps returns the comparison and the writes that append ev as the
// next event of rollout r, seq being the event counter as read.
func (s *Store) eventOps(seq *mvccpb.KeyValue, r engine.Rollout, ev engine.Event) (clientv3.Cmp, []clientv3.Op, error) {
	last, err := seqValue(seq)
	if err != nil {
		return clientv3.Cmp{}, nil, err
	}
	ops, err := s.eventPuts(r, ev, last+1)
	if err != nil {
		return clientv3.Cmp{}, nil, err
	}
	cmp := clientv3.Compare(clientv3.ModRevision(s.eventSeq()), "=", modRev(seq))
	return cmp, append(ops, clientv3.OpPut(s.eventSeq(), strconv.FormatInt(last+1, 10))), nil
}

// eventPuts writes both copies of ev as event id of rollout r (the
// caller's ev is not modified).
func (s *Store) eventPuts(r engine.Rollout, ev engine.Event, id int64) ([]clientv3.Op, error) {
	ev.ID, ev.RolloutID = id, r.ID
	if ev.Service == "" {
		ev.Service = r.Service
	}
	ev.Time = ev.Time.UTC()
	doc, err := store.EncodeEvent(ev)
	if err != nil {
		return nil, err
	}
	return []clientv3.Op{
		clientv3.OpPut(s.eventsAll()+pad(ev.ID), string(doc)),
		clientv3.OpPut(s.eventsOf(ev.Service)+pad(ev.ID), string(doc)),
	}, nil
}

// ListEvents returns a service's events, oldest first; service "" means
// every service; limit <= 0 means all, otherwise the newest limit.
func (s *Store) ListEvents(ctx context.Context, service string, limit int) ([]engine.Event, error) {
	prefix := s.eventsAll()
	if service != "" {
		prefix = s.eventsOf(service)
	}
	kvs, err := s.rangeDocs(ctx, prefix, true, limit)
	if err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	list := make([]engine.Event, 0, len(kvs))
	for _, kv := range kvs {
		ev, err := store.DecodeEvent(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("listing events: decoding %s: %w", kv.Key, err)
		}
		list = append(list, ev)
	}
	slices.Reverse(list)
	return list, nil
}
