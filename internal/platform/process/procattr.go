//go:build unix

package process

import "syscall"

// procAttr puts an instance in its own process group, so that Stop can
// signal a shell and its children together and a Ctrl-C in bluejay's
// terminal reaches bluejay only. There is no Pdeathsig: an instance
// outlives a killed bluejay, and the next bluejay adopts it (see Adopt).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
