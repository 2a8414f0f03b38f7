// Package lockfile gives one process at a time a file: an exclusive
// flock(2) on a lock file, held for the owner's lifetime and released by
// the kernel when the process dies, however it dies. The lock file
// records its holder (pid, listen addresses, since when), so that a
// process that is refused can say who holds it.
//
// bluejay locks its SQLite store this way, and the process platform's
// state file, so that a second `bluejay serve` on either is refused at
// once rather than adopting and stopping the first one's instances.
package lockfile
