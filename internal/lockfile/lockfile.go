package lockfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// ErrHeld is wrapped by the error of Acquire when another process, or
// another Lock of this one, holds the lock.
var ErrHeld = errors.New("locked by another bluejay")

// Holder is who holds a lock, as recorded in the lock file.
type Holder struct {
	// PID is the holder's process id.
	PID int `json:"pid"`
	// Listen are the holder's listen addresses by name ("admin",
	// "proxy"); nil when it has none.
	Listen map[string]string `json:"listen,omitempty"`
	// Since is when the holder took the lock.
	Since time.Time `json:"since"`
}

// Self returns a Holder for this process with the listen addresses given
// as name, address pairs.
func Self(listen ...string) Holder {
	h := Holder{PID: os.Getpid(), Since: time.Now().UTC().Truncate(time.Second)}
	for i := 0; i+1 < len(listen); i += 2 {
		if listen[i+1] == "" {
			continue
		}
		if h.Listen == nil {
			h.Listen = map[string]string{}
		}
		h.Listen[listen[i]] = listen[i+1]
	}
	return h
}

// String describes the holder: "pid 4242 (admin 127.0.0.1:7070, proxy
// 127.0.0.1:8080) since 2026-03-14T15:09:26Z".
func (h Holder) String() string {
	s := fmt.Sprintf("pid %d", h.PID)
	if len(h.Listen) > 0 {
		var l []string
		for _, name := range slices.Sorted(maps.Keys(h.Listen)) {
			l = append(l, name+" "+h.Listen[name])
		}
		s += " (" + strings.Join(l, ", ") + ")"
	}
	if !h.Since.IsZero() {
		s += " since " + h.Since.Format(time.RFC3339)
	}
	return s
}

// HeldError is Acquire's error when the lock is held. It wraps ErrHeld.
type HeldError struct {
	// Path is the lock file.
	Path string
	// Holder is the holder as its lock file records it; nil if the file
	// could not be read (the holder is still writing it, say).
	Holder *Holder
}

func (e *HeldError) Error() string {
	who := "another process (its lock file names no holder yet)"
	if e.Holder != nil {
		who = "bluejay " + e.Holder.String()
	}
	return fmt.Sprintf("%s is held by %s: stop it, or give this one another path", e.Path, who)
}

func (e *HeldError) Unwrap() error { return ErrHeld }

// Lock is a held lock file.
type Lock struct {
	fl *flock.Flock
}

// Acquire takes the exclusive lock on the file at path, creating it and
// its directory if needed, and records h in it. It does not wait: if the
// lock is held, it fails at once with a *HeldError naming the holder.
// The file is never removed (removing it would let two processes lock
// two files of one name); Release empties it.
func Acquire(path string, h Holder) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	fl := flock.New(path, flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if !ok {
		return nil, &HeldError{Path: path, Holder: readHolder(path)}
	}
	l := &Lock{fl: fl}
	if err := l.record(h); err != nil {
		fl.Unlock()
		return nil, err
	}
	return l, nil
}

// record writes h into the lock file, which this process holds.
func (l *Lock) record(h Holder) error {
	doc, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("locking %s: %w", l.fl.Path(), err)
	}
	if err := os.WriteFile(l.fl.Path(), append(doc, '\n'), 0o600); err != nil {
		return fmt.Errorf("locking %s: recording the holder: %w", l.fl.Path(), err)
	}
	return nil
}

// Path returns the lock file's path.
func (l *Lock) Path() string { return l.fl.Path() }

// Release empties the lock file and releases the lock. A nil Lock
// releases nothing.
func (l *Lock) Release() error {
	if l == nil {
		return nil
	}
	err := os.Truncate(l.fl.Path(), 0)
	return errors.Join(err, l.fl.Unlock())
}

// readHolder reads the holder a lock file records; nil if it records
// none.
func readHolder(path string) *Holder {
	doc, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var h Holder
	if json.Unmarshal(doc, &h) != nil || h.PID == 0 {
		return nil
	}
	return &h
}
