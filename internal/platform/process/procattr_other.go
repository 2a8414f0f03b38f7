//go:build unix && !linux

package process

import "syscall"

// procAttr puts an instance in its own process group. Only Linux has
// Pdeathsig, so elsewhere an instance can outlive a killed bluejay.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
