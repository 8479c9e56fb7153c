package pipeline

import (
	"errors"
	"fmt"

	"github.com/nst-project/nst/internal/runlock"
)

// lockRunDir takes the run folder dir's lock (internal/runlock) for a
// resume, so that two nst processes never resume the same run at once
// (both would append to its costs.csv), and so that others see the run
// as live. The kernel drops the lock when the process ends, so a crash
// leaves nothing stale behind.
func lockRunDir(dir string) (unlock func(), err error) {
	if err := checkRunDir(dir); err != nil {
		return nil, err
	}
	unlock, err = runlock.Lock(dir)
	if errors.Is(err, runlock.ErrLocked) {
		return nil, fmt.Errorf("resume %s: another nst process is running or resuming this run", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("resume %s: lock the run folder: %w", dir, err)
	}
	return unlock, nil
}
