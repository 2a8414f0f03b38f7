// Package etcd is the store.Store port on etcd (go.etcd.io/etcd/client/v3),
// for bluejay on more than one machine. Every key lives under a prefix
// (the config's store.etcd.prefix, "/bluejay" by default):
//
//	<prefix>/seq/rollouts                    last rollout id
//	<prefix>/seq/events                      last event id
//	<prefix>/rollouts/all/<id>               engine.Rollout (JSON)
//	<prefix>/rollouts/by-service/<svc>/<id>  the same document, for per-service listing
//	<prefix>/active/<svc>                    the id of the service's active rollout, if any
//	<prefix>/events/all/<id>                 engine.Event (JSON)
//	<prefix>/events/by-service/<svc>/<id>    the same document
//	<prefix>/routes/<svc>                    router.Route (JSON)
//
// Ids are written zero-padded to 20 digits, so key order is id order;
// service names are path-escaped.
//
// Every write is one etcd transaction (Txn().If(...).Then(...)) whose
// comparisons are on mod revisions, so of two writers that read the same
// state, exactly one commits and the other re-reads:
//
//   - CreateRollout commits only if the service's active key is absent and
//     both id counters are at the revisions read: two creates for one
//     service can never both win (the loser gets store.ErrConflict), and
//     two creates for any services never take one id.
//   - UpdateRollout commits the rollout, both of its copies, the active
//     key and the event (with its counter) in one transaction, only if the
//     rollout's mod revision is still the one this Store handle last read
//     or wrote for it. A handle that has never seen the rollout takes the
//     revision it reads at the start of the call. So an update from a
//     stale read — another handle (another process, say a controller that
//     lost leadership) wrote the rollout since — fails with store.ErrStale
//     and writes nothing. Within one handle, writers are not told apart:
//     the controller keeps one writer per rollout.
//   - PutRoute commits only if the route's mod revision is still the one
//     this handle last read or wrote (or read at the start of the call):
//     store.ErrStale otherwise.
//
// Creates and updates are queued for one committer goroutine, which
// writes those queued meanwhile in one transaction, taking their ids from
// the counters once (batch.go), so writers of one handle never race for
// a counter. A transaction that fails only because a counter or an active
// key moved under it (another handle's write) is retried with fresh
// reads, after a jittered, doubling delay, up to maxAttempts times.
package etcd
