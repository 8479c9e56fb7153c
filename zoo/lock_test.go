package zoo

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.onnx"+lockSuffix)
	unlock, err := lock(context.Background(), path, func() { t.Error("the first lock waited") })
	if err != nil {
		t.Fatal(err)
	}

	// A second taker waits, says so once, and gives up with its context.
	var waited atomic.Int32
	ctx, cancel := context.WithTimeout(context.Background(), 3*lockPoll)
	defer cancel()
	if _, err := lock(ctx, path, func() { waited.Add(1) }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("lock while held: %v, want context.DeadlineExceeded", err)
	}
	if n := waited.Load(); n != 1 {
		t.Errorf("waiting called %d times, want 1", n)
	}

	// Released, it can be taken again; a waiter gets it once it is free.
	got := make(chan error, 1)
	go func() {
		u, err := lock(context.Background(), path, func() {})
		if err == nil {
			u()
		}
		got <- err
	}()
	time.Sleep(lockPoll / 2)
	unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Errorf("lock after release: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter did not get the lock after it was released")
	}
}
