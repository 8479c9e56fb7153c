//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package runlock

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/nst-project/nst/internal/safefile"
)

// Supported reports whether this platform can tell a live run from a dead
// one (it has flock).
const Supported = true

// Lock takes the exclusive lock of the folder dir and returns the function
// that releases it. It fails with ErrLocked when another holder has it: a
// live run, or a resumer. Held takes the lock for an instant to test it,
// so Lock retries for up to a quarter of a second before giving up.
func Lock(dir string) (unlock func(), err error) {
	f, err := safefile.OpenDir(dir)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(250 * time.Millisecond)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.Close()
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return nil, ErrLocked
	}
	return nil, fmt.Errorf("lock %s: %w", safefile.Quote(dir), err)
}

// Held reports whether a live process holds dir's lock. It takes a shared
// lock for an instant to find out, and reports false when dir cannot be
// opened or locked at all.
func Held(dir string) bool {
	f, err := safefile.OpenDir(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	return errors.Is(err, syscall.EWOULDBLOCK)
}
