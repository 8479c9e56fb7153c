// Package runlock marks a run folder as in use by a live process, with an
// advisory lock (flock) on the folder itself that the kernel drops when
// the process ends, however it ends: a run killed by SIGKILL, the OOM
// killer or a power cut leaves no stale lock behind, so another process
// can tell a run that is still going from one whose process is gone.
package runlock

import "errors"

// ErrLocked is returned by Lock when another process, or another Lock in
// this one, holds the folder's lock.
var ErrLocked = errors.New("the run folder is locked by another run")
