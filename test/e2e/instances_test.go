package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// instanceState is the process platform's record of the instances it
// runs, kept in <store path>.instances.json so that a restarted serve
// adopts them. Only the fields the tests read are decoded.
type instanceState struct {
	Instances []struct {
		Service string `json:"service"`
		Version string `json:"version"`
		Replica int    `json:"replica"`
		PID     int    `json:"pid"`
		Addr    string `json:"addr"`
	} `json:"instances"`
}

// instancesFile is where the process platform records the instances of
// the store at storePath.
func instancesFile(storePath string) string { return storePath + ".instances.json" }

// readInstances reads the platform's state file; a missing file is an
// empty state (a platform that does not record instances, or none ran).
func readInstances(storePath string) (instanceState, error) {
	var st instanceState
	b, err := os.ReadFile(instancesFile(storePath))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, err
	}
	return st, nil
}

// killInstances kills, with SIGKILL to its whole process group, every
// instance still running that the process platform recorded for the store
// at storePath. Call it after serve has stopped (gracefully if it could):
// instances outlive a SIGKILLed serve so that the next one adopts them,
// and a test must leave none behind. It kills only processes that are
// group leaders running the test's bluejay binary, so a recorded pid that
// was reused by another program is left alone.
func killInstances(t *testing.T, storePath string) {
	t.Helper()
	st, err := readInstances(storePath)
	if err != nil {
		t.Errorf("reading %s: %v", instancesFile(storePath), err)
		return
	}
	var killed []int
	var names []string
	for _, in := range st.Instances {
		if in.PID <= 0 || processGone(in.PID) {
			continue
		}
		if !isInstanceLeader(in.PID) {
			t.Logf("killInstances: pid %d (%s %s-%d) is not a group leader running %s; left alone",
				in.PID, in.Service, in.Version, in.Replica, bin)
			continue
		}
		if err := syscall.Kill(-in.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Errorf("killInstances: kill -9 -%d: %v", in.PID, err)
			continue
		}
		killed = append(killed, in.PID)
		names = append(names, fmt.Sprintf("%s-%s-%d (pid %d)", in.Service, in.Version, in.Replica, in.PID))
	}
	if len(killed) == 0 {
		return
	}
	t.Logf("killInstances: killed the process groups of instances left running: %s", strings.Join(names, ", "))
	if left := waitGone(killed, 5*time.Second); len(left) > 0 {
		t.Errorf("killInstances: pids %v still run 5s after SIGKILL", left)
	}
}

// isInstanceLeader reports whether pid leads its own process group and
// runs the test's bluejay binary (the sample app is its `app` command).
func isInstanceLeader(pid int) bool {
	p := "/proc/" + strconv.Itoa(pid)
	cmdline, err := os.ReadFile(p + "/cmdline")
	if err != nil {
		return false
	}
	argv0, _, _ := bytes.Cut(cmdline, []byte{0})
	if string(argv0) != bin {
		return false
	}
	stat, err := os.ReadFile(p + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ppid pgrp ...; comm may hold spaces.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return false
	}
	f := strings.Fields(s[i+1:])
	return len(f) >= 3 && f[2] == strconv.Itoa(pid)
}
