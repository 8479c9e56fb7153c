// Package testimg holds what tests share to read the pictures the code
// under test writes.
package testimg

import (
	"image"
	"image/png"
	"os"
	"testing"
)

// ReadPNG decodes the PNG file at path, failing t if it cannot.
func ReadPNG(t testing.TB, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return img
}
