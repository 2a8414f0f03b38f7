package process

import "syscall"

// procAttr puts an instance in its own process group and kills it when
// bluejay dies (see the package doc). Strictly, Pdeathsig fires when the
// OS thread that started the instance exits; the Go runtime ends a thread
// only when a goroutine exits while locked to it (runtime.LockOSThread),
// which bluejay does not do (go.dev/issue/27505).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
