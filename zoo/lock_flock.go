//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package zoo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockPoll is how often a waiting process retries the lock: flock cannot
// wait and watch a context at once, and a download takes minutes, so a
// quarter second costs nothing.
const lockPoll = 250 * time.Millisecond

// lock takes an exclusive flock on path (created if needed), calling
// waiting once if another process (or another Fetch in this one) holds
// it. It gives up when ctx is done. The kernel drops the lock when the
// process ends, so a crash leaves nothing stale; the file itself stays,
// as removing it would let a third process lock a different inode.
func lock(ctx context.Context, path string, waiting func()) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	for told := false; ; {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !told {
			told = true
			waiting()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(lockPoll):
		}
	}
}
