// Package etcdtest starts a real etcd for tests: one member listening on
// free loopback client and peer ports, with its data in a temporary
// directory and --experimental-watch-progress-notify-interval=1s. Never
// the system's service.
//
// Any package's tests can use it:
//
//	func TestMain(m *testing.M) { os.Exit(etcdtest.Main(m)) } // optional: one etcd for the binary
//
//	func TestX(t *testing.T) {
//		e := etcdtest.New(t)  // skips (or fails under CI) without etcd
//		p := e.Prefix(t)      // a key prefix no other test uses
//		_ = e.Endpoints()     // []string{"http://127.0.0.1:port"}
//	}
//
// With Main in TestMain, New returns one etcd shared by the whole test
// binary (started by the first New, stopped when the tests end); without
// it, New starts an etcd for the test alone and stops it at t's cleanup.
// Tests share an etcd and keep apart by prefix.
//
// The binary is found in PATH (Debian's etcd-server package installs
// /usr/bin/etcd). A machine without it skips the test with the reason,
// unless BLUEJAY_REQUIRE_ENGINES=1 (CI), where it fails.
package etcdtest
