// Package dockertest runs a real Docker Engine for tests: Debian's
// dockerd (apt-get install docker.io) with its data and exec roots in a
// temporary directory, its own socket, and a bridge of its own (created
// with ip(8), removed at Stop), so that several can run on one host beside
// another Docker without touching docker0 or iptables. Tests build their
// images locally, FROM scratch with the sample app's static binary
// (AppImage): no registry is reachable.
//
// As with the other engines (internal/enginetest), a test on a machine
// without dockerd is skipped with the reason, or fails when
// BLUEJAY_REQUIRE_ENGINES=1.
package dockertest
