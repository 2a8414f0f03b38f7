// Package sampleapp is the sample HTTP service of examples/app, as a
// library so that the bluejay binary can run it too (`bluejay app`, used
// by `bluejay demo` so that the demo needs nothing but the one binary).
// Its flags inject faults — errors, latency, failing health, crashes — so
// that a version can be made to fail a rollout on purpose.
//
// Any request to /echo is answered with what the app received of it (a
// [Received] as JSON: method, URI, headers, body length), and appended as
// a JSON line to the file --record names, so that a test can see what
// went through a proxy.
// With --grpc it serves gRPC instead (grpc.go): the standard health
// service and bluejay.sample.Echo, whose calls the same fault flags fail
// with UNAVAILABLE. With --call ADDR it is a gRPC client of Echo/Say
// (grpc_call.go), for driving traffic through bluejay's h2c listener.
//
// With --db URL (or --db-env NAME) it also serves a small profiles API
// backed by PostgreSQL, in the shape --schema says — v1 reads and writes
// profiles.name, v2 profiles.first_name and last_name — so that two
// versions can serve side by side over an expanded schema (the seed's
// expand/contract story, examples/migrations/profiles):
//
//	POST /profiles        {"name": "Ada Lovelace"} or name=… → 201 {"id":1,"name":"Ada Lovelace",…}
//	GET  /profiles        → 200 [{"id":1,…}, …] by id
//	GET  /profiles/{id}   → 200 {"id":1,…}, 404
//	PUT  /profiles/{id}   {"name": "…"} → 200 the renamed profile, 404
//
// Every answer carries "name"; a v2 app adds "first_name" and
// "last_name". The app never changes the schema; /healthz answers 503
// while the columns its schema needs are missing (or the database is
// unreachable), so a version facing a schema it cannot use is never
// ready and fails its smoke tests. GET / answers as without --db.
package sampleapp
