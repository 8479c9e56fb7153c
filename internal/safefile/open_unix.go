//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package safefile

import (
	"os"
	"syscall"
)

// openFlags open for reading without blocking: O_NONBLOCK makes open(2) of
// a named pipe return at once instead of waiting for a writer (reads are
// made blocking again once the file is known to be regular), O_NOCTTY
// keeps a terminal from becoming the process's controlling terminal, and
// O_CLOEXEC keeps the descriptor from leaking into child processes.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY | syscall.O_CLOEXEC

// openNonblock opens path with openFlags.
func openNonblock(path string) (*os.File, error) {
	return os.OpenFile(path, openFlags, 0)
}

// openNonblockIn opens name inside root with openFlags.
func openNonblockIn(root *os.Root, name string) (*os.File, error) {
	return root.OpenFile(name, openFlags, 0)
}

// setBlocking clears O_NONBLOCK on f, a regular file, so that its reads
// behave as those of a file opened normally.
func setBlocking(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.SetNonblock(int(fd), false) }); err != nil {
		return err
	}
	return serr
}

// openDir opens path for reading only if it is a folder: with O_DIRECTORY
// the open fails (ENOTDIR) on anything else, before a named pipe could
// block it.
func openDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
}
