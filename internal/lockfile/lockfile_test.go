package lockfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAcquireRefusesSecondHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "x.lock")
	l, err := Acquire(path, Self("admin", "127.0.0.1:7070", "proxy", ""))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(path, Self())
	var held *HeldError
	if !errors.As(err, &held) || !errors.Is(err, ErrHeld) {
		t.Fatalf("second Acquire: err = %v, want a *HeldError wrapping ErrHeld", err)
	}
	if held.Holder == nil || held.Holder.PID != os.Getpid() || held.Holder.Listen["admin"] != "127.0.0.1:7070" {
		t.Errorf("holder = %+v, want this pid with admin 127.0.0.1:7070", held.Holder)
	}
	if _, ok := held.Holder.Listen["proxy"]; ok {
		t.Errorf("holder = %+v: an empty address is not a listen address", held.Holder)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); len(b) != 0 {
		t.Errorf("lock file after Release = %q, want it empty", b)
	}
	l2, err := Acquire(path, Self())
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
}

func TestHeldErrorWithoutHolder(t *testing.T) {
	err := &HeldError{Path: "/x/bluejay.db.lock"}
	if !strings.Contains(err.Error(), "/x/bluejay.db.lock is held by another process") {
		t.Errorf("message = %q", err)
	}
}
