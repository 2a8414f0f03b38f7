// Package sqlite is the default adapter of the store.Store port: one
// SQLite file (through modernc.org/sqlite, pure Go) holding rollouts, the
// event log and the routing table.
//
// Each row keeps its record as a JSON document (doc) beside the few
// columns that queries filter and sort on. The file runs in WAL mode with
// synchronous=FULL, so a committed decision survives a kill -9 or a power
// cut, and every write transaction starts with BEGIN IMMEDIATE, so the
// check that a service has no active rollout and the insert of a new one
// cannot interleave with another writer, in this process or another.
//
// The schema version is kept in PRAGMA user_version; Open applies the
// migrations the file has not seen yet.
package sqlite
