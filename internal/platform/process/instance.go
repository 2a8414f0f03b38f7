package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/platform"
)

// instance is one process of a version. A restart replaces it with a new
// instance in the same replica slot.
type instance struct {
	info      platform.Instance // guarded by Platform.mu
	stopping  bool              // guarded by Platform.mu; the exit is expected
	replica   int
	procStart uint64 // the process's start time in /proc, to tell it from a reused pid
	log       *slog.Logger
	done      chan struct{} // closed once the process exited and info says so
}

// start starts replica index of v. prev is the exited instance it
// replaces, or nil. The caller holds p.mu.
func (p *Platform) start(cfg Config, v platform.Version, index int, prev *instance) (*instance, error) {
	id := instanceID(v.Service, v.Label, index)
	port, err := p.freePort(prevPort(prev))
	if err != nil {
		return nil, err
	}
	argv, env, err := render(cfg, templateData{Port: port, Version: v.BuildOf(), Service: v.Service, Instance: index})
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], append(argv[1:], v.Args...)...)
	cmd.Dir = cfg.Dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = procAttr()
	logPath, logStart, err := attachLog(cmd, cfg.LogDir, id)
	if err != nil {
		return nil, err
	}
	err = cmd.Start()
	if f, ok := cmd.Stdout.(*os.File); ok {
		f.Close() // the child holds its own copy
	}
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", argv[0], err)
	}

	inst := &instance{replica: index, procStart: procStart(cmd.Process.Pid), log: cfg.logger().With("id", id), done: make(chan struct{})}
	inst.info = platform.Instance{
		ID:      id,
		Version: v.Label,
		Addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		State:   platform.StateRunning,
		PID:     cmd.Process.Pid,
		Started: time.Now(),
		LogPath: logPath,
		Spec:    specOf(cfg, v),
	}
	if prev != nil {
		inst.info.Restarts = prev.info.Restarts + 1
		inst.info.LastExit = prev.info.LastExit
	}
	inst.log.Info("instance started", "pid", inst.info.PID, "addr", inst.info.Addr,
		"restarts", inst.info.Restarts, "command", cmd.Args)
	go func() {
		err := cmd.Wait()
		p.exited(inst, exitReason(err, logPath, logStart))
	}()
	return inst, nil
}

// exited records that the instance's process exited, and why.
func (p *Platform) exited(inst *instance, reason string) {
	p.mu.Lock()
	expected := inst.stopping
	inst.info.State = platform.StateExited
	if !expected {
		inst.info.LastExit = reason
	}
	_ = p.saveLocked() // logged; the exit, stop or adoption happened anyway
	p.mu.Unlock()

	// Log before closing done: once Stop returns, nothing logs.
	if expected {
		inst.log.Info("instance stopped", "exit", reason)
	} else {
		inst.log.Warn("instance exited unexpectedly", "exit", reason)
	}
	close(inst.done)
}

// stop sends SIGTERM to the instance's process group and SIGKILL after
// grace or when ctx ends, and waits for the process to exit.
func (inst *instance) stop(ctx context.Context, grace time.Duration) error {
	select {
	case <-inst.done:
		return nil
	default:
	}
	inst.signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	var err error
	select {
	case <-inst.done:
		return nil
	case <-t.C:
		inst.log.Warn("instance ignored SIGTERM, killing it", "grace", grace)
	case <-ctx.Done():
		err = fmt.Errorf("stopping %s: %w", inst.info.ID, ctx.Err())
	}
	inst.signal(syscall.SIGKILL)
	<-inst.done
	return err
}

// signal signals the instance's process group, whose id is the
// instance's pid (Setpgid), or the process alone if that fails.
func (inst *instance) signal(sig syscall.Signal) {
	err := syscall.Kill(-inst.info.PID, sig)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = syscall.Kill(inst.info.PID, sig) // fails only if it already exited
	}
}

func prevPort(prev *instance) int {
	if prev == nil {
		return 0
	}
	_, port, _ := net.SplitHostPort(prev.info.Addr)
	n, _ := strconv.Atoi(port)
	return n
}

// freePort returns a loopback port nothing listens on, preferring the
// port of the instance being restarted so its address stays the same.
//
// Ports are drawn at random below the kernel's ephemeral range
// (instancePorts), not from it: a port the kernel hands out for
// 127.0.0.1:0 may be handed again, in the moment between our probe and
// the instance's bind, to any other program asking for one, and every
// outgoing connection takes its local port from that range too. Busy
// test machines lost rollouts to "address already in use" that way.
// Another program may still take the port before the instance binds it;
// the instance then exits and the next Deploy picks another port. The
// caller holds p.mu.
func (p *Platform) freePort(prefer int) (int, error) {
	if prefer != 0 && !p.portAssigned(prefer) && portFree(prefer) {
		return prefer, nil
	}
	lo, hi := instancePorts()
	for range 100 {
		port := lo + rand.IntN(hi-lo)
		if !p.portAssigned(port) && portFree(port) {
			return port, nil
		}
	}
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("finding a free port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		// A port just handed to an instance that has not bound it yet
		// looks free to the kernel.
		if !p.portAssigned(port) {
			return port, nil
		}
	}
	return 0, errors.New("finding a free port: the kernel kept offering assigned ports")
}

// instancePorts is the range [lo, hi) instance ports are drawn from: the
// 12,000 ports below the kernel's ephemeral range (Linux's
// ip_local_port_range; 32768 when it cannot be read).
func instancePorts() (lo, hi int) {
	hi = 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 13000 {
				hi = n
			}
		}
	}
	return hi - 12000, hi
}

func portFree(port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// portAssigned reports whether a running instance has the port. The
// caller holds p.mu.
func (p *Platform) portAssigned(port int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for _, insts := range p.versions {
		for _, inst := range insts {
			if inst != nil && inst.info.State == platform.StateRunning && inst.info.Addr == addr {
				return true
			}
		}
	}
	return false
}

// attachLog points the command's stdout and stderr at dir/id.log, opened
// for appending. It returns the path and the file's size before this
// run, or "" and 0 when dir is "" (output discarded).
func attachLog(cmd *exec.Cmd, dir, id string) (string, int64, error) {
	if dir == "" {
		return "", 0, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, fmt.Errorf("creating log dir: %w", err)
	}
	path := filepath.Join(dir, id+".log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return "", 0, fmt.Errorf("opening log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return "", 0, fmt.Errorf("opening log: %w", err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	return path, st.Size(), nil
}
