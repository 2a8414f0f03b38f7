// Package pgtest starts real PostgreSQL clusters for tests: initdb in a
// temporary directory, postgres listening on a free loopback port with
// its socket in that directory, trust authentication for the superuser
// postgres, fsync off. Never the system's service.
//
// Any package's tests can use it:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) } // optional: one cluster for the binary
//
//	func TestX(t *testing.T) {
//		c := pgtest.New(t)                  // skips (or fails under CI) without PostgreSQL
//		url := c.NewDatabase(t, "profiles") // a fresh database, dropped at t's cleanup
//		db := pgtest.Open(t, url)           // *sql.DB through pgx, closed at cleanup
//	}
//
// With Main in TestMain, New returns one cluster shared by the whole test
// binary (started by the first New, stopped when the tests end); without
// it, New starts a cluster for the test alone and stops it at t's
// cleanup. Databases are cheap (a CREATE DATABASE from template1), so
// tests share a cluster and each takes its own database.
//
// The binaries are found with `pg_config --bindir`, else in
// /usr/lib/postgresql/*/bin (the newest), else in PATH. initdb and
// postgres refuse to run as root: when the test runs as root (CI does),
// they run as the postgres system user, which the Debian package
// creates, and the cluster's directory is handed to that user.
//
// A machine without PostgreSQL skips the test with the reason, unless
// BLUEJAY_REQUIRE_ENGINES=1 (CI), where it fails.
package pgtest
