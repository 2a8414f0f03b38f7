package haproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// defaultIOTimeout bounds one runtime API exchange when ctx has no
// earlier deadline.
const defaultIOTimeout = 5 * time.Second

// maxLine bounds the commands sent in one exchange: HAProxy reads a
// command line into one buffer (bufsize, 16 KiB by default).
const maxLine = 8 << 10

// runtime talks to one HAProxy socket (the admin stats socket, or the
// master CLI): one connection per exchange, commands separated by ';'.
type runtime struct{ path string }

// do sends cmds on one line and returns HAProxy's whole answer.
func (s runtime) do(ctx context.Context, cmds ...string) (string, error) {
	conn, err := s.dial(ctx)
	if err != nil {
		return "", fmt.Errorf("haproxy runtime API %s: %w", s.path, err)
	}
	defer conn.Close()
	deadline, ok := ctx.Deadline()
	if !ok || time.Until(deadline) > defaultIOTimeout {
		deadline = time.Now().Add(defaultIOTimeout)
	}
	conn.SetDeadline(deadline)
	if _, err := io.WriteString(conn, strings.Join(cmds, "; ")+"\n"); err != nil {
		return "", fmt.Errorf("haproxy runtime API %s: %w", s.path, err)
	}
	// The master CLI answers only once the client has finished writing.
	if uc, ok := conn.(*net.UnixConn); ok {
		uc.CloseWrite()
	}
	out, err := io.ReadAll(conn)
	if err != nil {
		return string(out), fmt.Errorf("haproxy runtime API %s: %w", s.path, err)
	}
	return string(out), nil
}

// redialFor is how long dial retries a refused socket: while HAProxy's
// master re-executes itself for a reload, its sockets refuse connections
// for a moment (regression: a reload right after another failed in CI).
const redialFor = 3 * time.Second

// dial connects to the socket, retrying a refused or missing socket for
// up to redialFor.
func (s runtime) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	until := time.Now().Add(redialFor)
	for {
		conn, err := d.DialContext(ctx, "unix", s.path)
		if err == nil || !(errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)) || time.Now().After(until) {
			return conn, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// batch sends cmds in as few exchanges as the line limit allows and
// returns the first answer that reports an error.
func (s runtime) batch(ctx context.Context, cmds []string) error {
	for len(cmds) > 0 {
		n, size := 0, 0
		for n < len(cmds) && (n == 0 || size+len(cmds[n])+2 < maxLine) {
			size += len(cmds[n]) + 2
			n++
		}
		out, err := s.do(ctx, cmds[:n]...)
		if err != nil {
			return err
		}
		if msg := cliError(out); msg != "" {
			return fmt.Errorf("haproxy runtime API: %s (in %q)", msg, strings.Join(cmds[:n], "; "))
		}
		cmds = cmds[n:]
	}
	return nil
}

// cliError returns the first line of an answer that HAProxy uses for a
// refused command, "" if none.
func cliError(out string) string {
	for line := range strings.Lines(out) {
		l := strings.TrimSpace(line)
		for _, p := range []string{"Unknown command", "No such", "Require ", "Invalid ", "Failed", "failed", "Can't ", "cannot ", "Unexpected", "Permission denied", "Missing "} {
			if strings.HasPrefix(l, p) || strings.Contains(l, ": "+p) {
				return l
			}
		}
	}
	return ""
}

// serverState is one line of `show servers state`.
type serverState struct {
	backend, server string
	addr            string
	port            int
	opState         int // 2: running
	adminState      int // flags; see usable
	weight          int // user weight
}

// Admin state flags of a server (HAProxy's SRV_ADMF_*).
const (
	admForcedMaint   = 0x01
	admInheritMaint  = 0x02
	admForcedDrain   = 0x08
	admInheritDrain  = 0x10
	admResolvMaint   = 0x20
	admHostnameMaint = 0x40
)

// usable reports whether HAProxy picks the server for new requests.
// CMAINT (0x04, "disabled" in the file) stays set after `state ready`
// and does not stop a server the runtime API made ready.
func (st serverState) usable() bool {
	const blocking = admForcedMaint | admInheritMaint | admForcedDrain | admInheritDrain | admResolvMaint | admHostnameMaint
	return st.opState == 2 && st.adminState&blocking == 0 && st.weight > 0
}

// showServersState parses `show servers state [backend]`; version 1 of
// the format is the one HAProxy 1.6 to 3.x write.
func (s runtime) showServersState(ctx context.Context, backend string) (map[string]serverState, string, error) {
	cmd := "show servers state"
	if backend != "" {
		cmd += " " + backend
	}
	out, err := s.do(ctx, cmd)
	if err != nil {
		return nil, "", err
	}
	states := map[string]serverState{}
	sc := bufio.NewScanner(strings.NewReader(out))
	first := true
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if first && line != "" {
			first = false
			if line != "1" {
				if msg := cliError(out); msg != "" {
					return nil, out, fmt.Errorf("haproxy runtime API: %s", msg)
				}
				return nil, out, fmt.Errorf("haproxy runtime API: show servers state: unknown format %q", line)
			}
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 19 {
			continue
		}
		st := serverState{backend: f[1], server: f[3], addr: f[4]}
		st.opState, _ = strconv.Atoi(f[5])
		st.adminState, _ = strconv.Atoi(f[6])
		st.weight, _ = strconv.Atoi(f[7])
		st.port, _ = strconv.Atoi(f[18])
		states[st.backend+"/"+st.server] = st
	}
	return states, out, nil
}

// showMap returns the entries of a map file as HAProxy holds it.
func (s runtime) showMap(ctx context.Context, file string) (map[string]string, error) {
	out, err := s.do(ctx, "show map "+file)
	if err != nil {
		return nil, err
	}
	if msg := cliError(out); msg != "" {
		return nil, fmt.Errorf("haproxy runtime API: show map: %s", msg)
	}
	m := map[string]string{}
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) == 3 { // pointer key value
			m[f[1]] = f[2]
		}
	}
	return m, nil
}

// replaceMap swaps a map's whole content atomically: `prepare map`
// opens a new version, `add map @ver` fills it and `commit map @ver`
// publishes it at once, so no request sees half of a change.
func (s runtime) replaceMap(ctx context.Context, file string, entries [][2]string) error {
	out, err := s.do(ctx, "prepare map "+file)
	if err != nil {
		return err
	}
	var ver int
	if _, err := fmt.Sscanf(strings.TrimSpace(out), "New version created: %d", &ver); err != nil {
		return fmt.Errorf("haproxy runtime API: prepare map %s: %q", file, strings.TrimSpace(out))
	}
	cmds := make([]string, 0, len(entries)+1)
	for _, e := range entries {
		cmds = append(cmds, fmt.Sprintf("add map @%d %s %s %s", ver, file, e[0], e[1]))
	}
	cmds = append(cmds, fmt.Sprintf("commit map @%d %s", ver, file))
	return s.batch(ctx, cmds)
}

// sessions returns the current sessions (scur) of each backend/server
// from `show stat`.
func (s runtime) sessions(ctx context.Context) (map[string]int, error) {
	out, err := s.do(ctx, "show stat -1 4 -1")
	if err != nil {
		return nil, err
	}
	if msg := cliError(out); msg != "" {
		return nil, fmt.Errorf("haproxy runtime API: show stat: %s", msg)
	}
	cur := map[string]int{}
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) < 5 {
			continue
		}
		q, _ := strconv.Atoi(f[2]) // qcur
		n, _ := strconv.Atoi(f[4]) // scur
		cur[f[0]+"/"+f[1]] = q + n
	}
	return cur, nil
}

// backends returns the names of HAProxy's backends (`show backend`).
func (s runtime) backends(ctx context.Context) (map[string]bool, error) {
	out, err := s.do(ctx, "show backend")
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(out, "# name") {
		return nil, errors.New("haproxy runtime API: show backend: " + strings.TrimSpace(out))
	}
	names := map[string]bool{}
	for line := range strings.Lines(out) {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			names[l] = true
		}
	}
	return names, nil
}
