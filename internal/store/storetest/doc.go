// Package storetest is the conformance suite of the store.Store port: the
// behaviour every adapter must show, written once against the port and
// run by each adapter's tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{Open: openTemp, Another: another})
//	}
//
// The suite holds what the port promises of every adapter: rollouts
// created, updated, read and listed (newest first, limits, services kept
// apart even when one's name is a prefix of another's), one active
// rollout per service (store.ErrConflict, also between racing creates on
// two handles), store.ErrNotFound, the event log (oldest first, the
// newest n, each event filled in with its rollout and service, written in
// the same step as its rollout), and routes put and listed. Times come
// back in UTC, to the nanosecond.
//
// Optional capabilities are found by type assertion, as the code that
// uses them finds them: the retention tests run when the store is a
// store.Pruner, the watch test when it is a store.RouteWatcher; otherwise
// they skip and say why. (Each adapter also has a compile-time guard for
// the capabilities it claims, so a lost method fails the build rather
// than skipping.)
//
// What only some adapters promise stays in their own tests: the
// stale-write rule (store.ErrStale) is etcd's alone — SQLite orders its
// writers with its write lock and does not tell a stale writer apart — as
// are its refusal to reactivate a rollout beside an active one, its
// transaction limits and its sweep of orphaned events; SQLite's file,
// schema and durability are SQLite's. Retention by age is tested only
// where the adapters agree: SQLite counts a rollout's age from its last
// write, etcd from its Ended time (else PhaseSince), so the suite ends
// each rollout at the wall-clock time it writes it, where the two
// coincide, and each adapter pins its own reading in its own tests.
//
// The package also exports the fixtures the adapters' own tests build on:
// T0, Rollout, Event, Route, Create, End and RolloutIDs.
package storetest
