//go:build !linux

package hugemem

// Reexec does nothing where glibc's huge-page setting does not apply;
// see the Linux version.
func Reexec() error { return nil }
