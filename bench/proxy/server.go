package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is a child process serving HTTP on addr.
type server struct {
	name, addr string
	log        string // its stdout and stderr
	cmd        *exec.Cmd
	done       chan struct{} // closed when it exited
	shared     bool          // the backend: stop leaves it running
	// check, if set, says after a run whether the server is still set up
	// as measured (bluejay: its canary still paused at 10%).
	check func(context.Context) error
}

// startServer starts argv in dir, with env added to this program's
// environment, and waits until GET / on addr answers 200. On failure the
// process is stopped.
func startServer(ctx context.Context, name, dir, addr string, env []string, prog string, args ...string) (*server, error) {
	s := &server{name: name, addr: addr, log: filepath.Join(dir, "output.log")}
	logf, err := os.Create(s.log)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own copy
	s.cmd = exec.Command(prog, args...)
	s.cmd.Dir, s.cmd.Stdout, s.cmd.Stderr = dir, logf, logf
	if env != nil {
		s.cmd.Env = append(os.Environ(), env...)
	}
	// Its own process group: a Ctrl-C reaches the bench only, which then
	// stops its children in order. Should the bench die without that,
	// the child gets SIGTERM.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	s.done = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.done) }()
	if err := s.waitReady(ctx, 30*time.Second); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// waitReady polls GET / until it answers 200 from a listener of s's
// process tree: on a shared machine another program may take the port
// between freeAddr and s's bind, and answer in its place.
func (s *server) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	var last string
	for {
		res, err := client.Get("http://" + s.addr + "/")
		if err == nil {
			res.Body.Close()
			switch {
			case res.StatusCode != http.StatusOK:
				last = res.Status
			case !s.listening():
				last = "answered by a process that is not " + s.name
			default:
				return nil
			}
		} else {
			last = err.Error()
		}
		select {
		case <-s.done:
			return fmt.Errorf("%s exited before answering (see %s)", s.name, s.log)
		case <-ctx.Done():
			return fmt.Errorf("%s not answering 200 after %s (last: %s; see %s)", s.name, timeout, last, s.log)
		case <-time.After(50 * time.Millisecond): // poll interval
		}
	}
}

func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits, then SIGKILL after 10s. NGINX's master
// stops its workers on SIGTERM.
func (s *server) stop() {
	if s == nil || s.shared || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// listening says whether a process of s's tree holds the listening
// socket of s.addr (an IPv4 address).
func (s *server) listening() bool {
	inode := listenInode(s.addr)
	if inode == "" {
		return false
	}
	want := "socket:[" + inode + "]"
	for _, pid := range tree(s.cmd.Process.Pid) {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && l == want {
				return true
			}
		}
	}
	return false
}

// listenInode is the inode of the socket listening on addr, from
// /proc/net/tcp; "" if none. Its local_address is the IPv4 address in
// host byte order and the port, both in hex: 127.0.0.1:8080 is
// 0100007F:1F90 on a little-endian machine, 7F000001:1F90 on a big-endian
// one; st 0A is LISTEN.
func listenInode(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return ""
	}
	ip := ap.Addr().As4()
	le := fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], ap.Port())
	be := fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[0], ip[1], ip[2], ip[3], ap.Port())
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line) // sl local_address rem_address st ... uid timeout inode
		if len(f) > 9 && (f[1] == le || f[1] == be) && f[3] == "0A" {
			return f[9]
		}
	}
	return ""
}

// rss is the resident memory of the process and its descendants (NGINX's
// master and workers), in bytes.
func (s *server) rss() int64 {
	var sum int64
	for _, pid := range tree(s.cmd.Process.Pid) {
		sum += vmRSS(pid)
	}
	return sum
}

// cpu is the user and system CPU time the process and its living
// descendants have used.
func (s *server) cpu() time.Duration {
	var sum time.Duration
	for _, pid := range tree(s.cmd.Process.Pid) {
		if st, ok := readStat(pid); ok {
			sum += st.cpu
		}
	}
	return sum
}

// watchRSS samples rss every interval until the returned function is
// called, which returns the largest sample, its own included.
func (s *server) watchRSS(interval time.Duration) (peak func() int64) {
	var (
		mu  sync.Mutex
		top int64
	)
	sample := func() {
		v := s.rss()
		mu.Lock()
		top = max(top, v)
		mu.Unlock()
	}
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() int64 {
		sample()
		close(stop)
		<-finished
		mu.Lock()
		defer mu.Unlock()
		return top
	}
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's CPU times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

type procStat struct {
	ppid int
	cpu  time.Duration // utime + stime
}

// readStat reads /proc/PID/stat.
func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, false
	}
	// The command name, in parentheses, may hold spaces: the fields
	// start after the last ')'. Field 4 is the ppid, 14 and 15 utime and
	// stime.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return procStat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return procStat{ppid: ppid, cpu: time.Duration(ut+st) * time.Second / clockTicks}, true
}

// tree returns pid and its descendants.
func tree(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(p); ok {
			children[st.ppid] = append(children[st.ppid], p)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// vmRSS reads VmRSS from /proc/PID/status, in bytes; 0 if unreadable.
func vmRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// given are the ports freeAddr has returned: the kernel may hand a port
// that was just closed out again, and two of one server's addresses (its
// proxy and admin listeners) must differ.
var given = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// freeAddr returns a loopback address that was free a moment ago and
// that it has not returned before.
func freeAddr() (string, error) {
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	given.Lock()
	defer given.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		held = append(held, ln) // kept open meanwhile, so not handed out again
		addr := ln.Addr().(*net.TCPAddr)
		if !given.ports[addr.Port] {
			given.ports[addr.Port] = true
			return addr.String(), nil
		}
	}
	return "", errors.New("no loopback port that was not given before")
}
