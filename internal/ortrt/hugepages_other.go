//go:build !linux

package ortrt

// ReexecWithHugePages does nothing where glibc's huge-page setting does not
// apply; see the Linux version.
func ReexecWithHugePages() error { return nil }
