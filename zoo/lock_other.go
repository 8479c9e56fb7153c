//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package zoo

import (
	"context"
	"sync"
)

// locks serialises fetches of one file within this process. This platform
// has no flock, so two processes fetching the same file at once are not
// kept apart: both download, and the last rename wins with a verified
// file.
var locks sync.Map // path → chan struct{} of capacity 1

// lock takes the in-process lock for path, calling waiting once if it is
// held. It gives up when ctx is done.
func lock(ctx context.Context, path string, waiting func()) (unlock func(), err error) {
	v, _ := locks.LoadOrStore(path, make(chan struct{}, 1))
	ch := v.(chan struct{})
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	default:
	}
	waiting()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
