//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package pipeline

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockRunDir takes an exclusive advisory lock on the run folder dir, so that
// two nst processes never resume the same run at once (both would append
// to its costs.csv). The kernel drops the lock when the process ends, so a
// crash leaves nothing stale behind.
func lockRunDir(dir string) (unlock func(), err error) {
	if err := checkRunDir(dir); err != nil {
		return nil, err
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("resume %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("resume %s: another nst process is resuming this run", dir)
		}
		return nil, fmt.Errorf("resume %s: lock the run folder: %w", dir, err)
	}
	return func() { f.Close() }, nil
}
