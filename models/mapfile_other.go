//go:build !unix

package models

import "os"

// mapFile reads f whole where mapping files is not available; see the
// Unix version.
func mapFile(f *os.File) ([]byte, func(), error) { return readFile(f) }
