//go:build unix

package models

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps f's contents read-only. Only the pages a parse touches are
// read, and they come straight from the page cache instead of being copied
// into fresh Go memory. unmap releases the mapping; nothing read from it
// may be used afterwards.
func mapFile(f *os.File) (data []byte, unmap func(), err error) {
	info, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	size := info.Size()
	if size == 0 {
		return nil, func() {}, nil
	}
	if size != int64(int(size)) {
		return nil, nil, fmt.Errorf("file of %d bytes is too large to map", size)
	}
	data, err = syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		// Some file systems cannot map; reading still works.
		return readFile(f)
	}
	return data, func() { syscall.Munmap(data) }, nil
}
