//go:build unix && !linux

package process

// procIdentity cannot tell a process's start time without /proc: a
// process that exists counts as running, and a reused pid goes unnoticed.
func procIdentity(int) (start uint64, running bool) { return 0, true }

// procStart returns 0: unknown without /proc.
func procStart(int) uint64 { return 0 }
