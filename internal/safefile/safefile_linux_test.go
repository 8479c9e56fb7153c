package safefile

import (
	"syscall"
	"testing"
)

// TestOpenLeavesReadsBlocking checks that Open clears the O_NONBLOCK it
// opened with, so that reads of the regular file behave as usual.
func TestOpenLeavesReadsBlocking(t *testing.T) {
	f, err := Open(writeFile(t, 10), 10)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rc, err := f.OS().SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags uintptr
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		flags, _, errno = syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
	}); err != nil || errno != 0 {
		t.Fatalf("fcntl: %v %v", err, errno)
	}
	if flags&syscall.O_NONBLOCK != 0 {
		t.Errorf("flags %#x: O_NONBLOCK still set", flags)
	}
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		t.Errorf("flags %#x: not read-only", flags)
	}
}
