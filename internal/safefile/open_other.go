//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package safefile

import "os"

// openNonblock opens path for reading. This platform has no O_NONBLOCK
// open, so only Open's stat before the open keeps named pipes out: one
// swapped in between the stat and the open is not caught before it blocks.
func openNonblock(path string) (*os.File, error) {
	return os.Open(path)
}

// openNonblockIn opens name inside root for reading, with openNonblock's
// limitation.
func openNonblockIn(root *os.Root, name string) (*os.File, error) {
	return root.Open(name)
}

// setBlocking does nothing: the file was opened blocking.
func setBlocking(*os.File) error { return nil }

// openDir opens path for reading; OpenDir's stat before it is the only
// check here.
func openDir(path string) (*os.File, error) {
	return os.Open(path)
}
