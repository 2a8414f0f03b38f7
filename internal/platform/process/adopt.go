package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/platform"
)

// adoptPoll is how often an adopted instance, which is not bluejay's child
// and so cannot be waited for, is checked for having exited.
const adoptPoll = 100 * time.Millisecond

// state is the state file: the instances running when it was written,
// and the versions Deploy was asked to run (with their replica counts).
type state struct {
	Instances []record           `json:"instances"`
	Wanted    []platform.Version `json:"wanted,omitempty"`
}

// record is one running instance in the state file.
type record struct {
	Service string `json:"service"`
	Version string `json:"version"`
	Replica int    `json:"replica"`
	PID     int    `json:"pid"`
	// ProcStart is the process's start time from /proc (0 where there is
	// none); a pid whose start time differs is another process.
	ProcStart uint64    `json:"procStart,omitempty"`
	Addr      string    `json:"addr"`
	Started   time.Time `json:"started"`
	LogPath   string    `json:"logPath,omitempty"`
	Restarts  int       `json:"restarts,omitempty"`
	// Spec is what the instance was started with (Instance.Spec); ""
	// in a file written before it was recorded.
	Spec string `json:"spec,omitempty"`
}

// SetStateFile makes the platform record its running instances in path
// (written atomically after every start, exit and stop) so that Adopt can
// take them over after bluejay restarts. Call it before Deploy and Adopt.
func (p *Platform) SetStateFile(path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stateFile = path
}

// saveLocked writes the state file. The caller holds p.mu. A failure is
// logged and returned: Deploy fails with it, since instances the file
// does not record cannot be adopted after a restart (they would be
// started again beside themselves); an exit or a stop only logs it.
func (p *Platform) saveLocked() error {
	if p.stateFile == "" {
		return nil
	}
	var st state
	for k, insts := range p.versions {
		for _, inst := range insts {
			if inst == nil || inst.info.State != platform.StateRunning || inst.stopping {
				continue
			}
			st.Instances = append(st.Instances, record{Service: k.service, Version: k.version, Replica: inst.replica,
				PID: inst.info.PID, ProcStart: inst.procStart, Addr: inst.info.Addr, Started: inst.info.Started,
				LogPath: inst.info.LogPath, Restarts: inst.info.Restarts, Spec: inst.info.Spec})
		}
	}
	slices.SortFunc(st.Instances, func(a, b record) int { return cmpRecord(a, b) })
	for _, v := range p.wanted {
		st.Wanted = append(st.Wanted, v)
	}
	slices.SortFunc(st.Wanted, func(a, b platform.Version) int {
		return cmpRecord(record{Service: a.Service, Version: a.Label}, record{Service: b.Service, Version: b.Label})
	})
	if err := writeAtomic(p.stateFile, st); err != nil {
		slog.Default().Warn("writing the instance state file", "path", p.stateFile, "err", err)
		return fmt.Errorf("recording the instances in %s (a restarted bluejay could not adopt them): %w", p.stateFile, err)
	}
	return nil
}

func cmpRecord(a, b record) int {
	switch {
	case a.Service != b.Service:
		return cmpString(a.Service, b.Service)
	case a.Version != b.Version:
		return cmpString(a.Version, b.Version)
	}
	return a.Replica - b.Replica
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// writeAtomic writes v as JSON to path through a temporary file and a
// rename, so that a reader (or a crash) never sees half a file.
func writeAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Adopt takes over the instances that the state file lists and that still
// run: a bluejay that was killed, or stopped while a separate proxy kept
// serving, left them running, and adopting them means the routes that
// point at them stay valid. A listed process that is gone, or whose pid
// now belongs to another process, is not adopted; instances of a service
// that is no longer configured are stopped. Then every version the last
// run wanted (Deploy without a Stop since) gets its missing replicas
// started: those that died, and those a killed Deploy never started. It
// returns how many instances it adopted.
// Call it after Configure and before the first Deploy.
func (p *Platform) Adopt(ctx context.Context) (int, error) {
	p.mu.Lock()
	path := p.stateFile
	p.mu.Unlock()
	if path == "" {
		return 0, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the instance state file: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return 0, fmt.Errorf("reading the instance state file %s: %w", path, err)
	}
	var orphans []*instance
	n := 0
	p.mu.Lock()
	for _, rec := range st.Instances {
		if !sameProcess(rec.PID, rec.ProcStart) {
			p.configs[rec.Service].logger().Warn("instance gone while bluejay was down; it will be started again",
				"id", instanceID(rec.Service, rec.Version, rec.Replica), "pid", rec.PID)
			continue
		}
		inst := p.adoptLocked(rec)
		if _, ok := p.configs[rec.Service]; !ok {
			inst.stopping = true
			orphans = append(orphans, inst)
			continue
		}
		n++
	}
	var wanted []platform.Version
	var logs []*slog.Logger
	for _, v := range st.Wanted {
		if cfg, ok := p.configs[v.Service]; ok {
			wanted, logs = append(wanted, v), append(logs, cfg.logger())
		}
	}
	_ = p.saveLocked() // logged; the exit, stop or adoption happened anyway
	p.mu.Unlock()
	for _, inst := range orphans {
		inst.log.Info("stopping an instance of a service no longer configured")
		if err := inst.stop(ctx, DefaultStopGrace); err != nil {
			return n, err
		}
	}
	// The rest of what was wanted: replicas a killed bluejay had not
	// started yet, and those that died while it was down.
	for i, v := range wanted {
		if err := p.Deploy(ctx, v); err != nil {
			logs[i].Error("starting the instances a previous run wanted", "service", v.Service, "version", v.Label, "err", err)
		}
	}
	return n, nil
}

// adoptLocked registers rec's process as a running instance and watches
// it for its exit. The caller holds p.mu.
func (p *Platform) adoptLocked(rec record) *instance {
	id := instanceID(rec.Service, rec.Version, rec.Replica)
	cfg := p.configs[rec.Service]
	inst := &instance{replica: rec.Replica, procStart: rec.ProcStart, log: cfg.logger().With("id", id), done: make(chan struct{})}
	inst.info = platform.Instance{ID: id, Version: rec.Version, Addr: rec.Addr, State: platform.StateRunning,
		PID: rec.PID, Started: rec.Started, LogPath: rec.LogPath, Restarts: rec.Restarts, Spec: rec.Spec}
	k := key{rec.Service, rec.Version}
	insts := p.versions[k]
	for len(insts) <= rec.Replica {
		insts = append(insts, nil)
	}
	insts[rec.Replica] = inst
	p.versions[k] = insts
	logStart := fileSize(rec.LogPath)
	inst.log.Info("instance adopted", "pid", rec.PID, "addr", rec.Addr)
	go func() {
		t := time.NewTicker(adoptPoll)
		defer t.Stop()
		for range t.C {
			if !sameProcess(rec.PID, rec.ProcStart) {
				break
			}
		}
		// Not our child: its exit status went to whoever reaped it.
		p.exited(inst, exitReason(errors.New("exited (adopted process, status unknown)"), rec.LogPath, logStart))
	}()
	return inst
}

// sameProcess reports whether pid runs and, where /proc tells, is the
// process that started at procStart rather than a later one that reused
// the pid.
func sameProcess(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	now, running := procIdentity(pid)
	if !running {
		return false
	}
	return start == 0 || now == 0 || now == start
}

func fileSize(path string) int64 {
	if path == "" {
		return 0
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}
