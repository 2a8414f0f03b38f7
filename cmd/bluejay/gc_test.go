package main

import (
	"log/slog"
	"os"
	"runtime/debug"
	"testing"
)

// TestTuneGC: serve and proxy collect at serveGOGC, unless the
// environment sets GOGC, whose value stands.
func TestTuneGC(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })

	t.Setenv("GOGC", "") // set, even empty: the user's
	tuneGC(log)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set: GC percent %d, want 100 left alone", got)
	}

	unsetenv(t, "GOGC")
	tuneGC(log)
	if got := debug.SetGCPercent(100); got != serveGOGC {
		t.Errorf("without GOGC: GC percent %d, want %d", got, serveGOGC)
	}
}

// unsetenv unsets key for the test, restoring it after.
func unsetenv(t *testing.T, key string) {
	t.Helper()
	t.Setenv(key, "") // restores the old value at cleanup
	if err := os.Unsetenv(key); err != nil {
		t.Fatal(err)
	}
}
