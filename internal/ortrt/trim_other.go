//go:build !linux || !cgo

package ortrt

// ReleaseFreedMemory does nothing here; see the Linux version.
func ReleaseFreedMemory() {}
