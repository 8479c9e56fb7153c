package runlock

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLock: one holder at a time; Held sees the holder and nothing once it
// let go; a path that is no folder is refused without blocking.
func TestLock(t *testing.T) {
	if !Supported {
		t.Skip("no flock on this platform")
	}
	dir := t.TempDir()
	if Held(dir) {
		t.Fatal("Held before any Lock")
	}
	unlock, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !Held(dir) {
		t.Error("Held is false while locked")
	}
	if _, err := Lock(dir); !errors.Is(err, ErrLocked) {
		t.Errorf("second Lock: %v, want ErrLocked", err)
	}
	unlock()
	if Held(dir) {
		t.Error("Held is true after unlock")
	}
	again, err := Lock(dir)
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	again()

	fifo := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := Lock(fifo); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "is a named pipe, not a directory") {
			t.Errorf("Lock of a named pipe: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Lock of a named pipe still waiting after 5 s")
	}
}
