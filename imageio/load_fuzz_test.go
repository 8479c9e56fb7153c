package imageio

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/nst-project/nst/internal/fuzzguard"
)

// fuzzMaxPixels keeps every image the fuzzer makes up small, so that a
// header declaring a large image exercises the refusal and not the machine's
// memory.
const fuzzMaxPixels = 1 << 16

// FuzzLoadImage feeds arbitrary bytes to Load as an image file. Load must
// never panic, must refuse an image over the pixel limit, and must return
// every image it accepts as an opaque NRGBA at the origin.
// Seeds: testdata/fuzz/FuzzLoadImage plus the images encoded below.
func FuzzLoadImage(f *testing.F) {
	for _, seed := range fuzzImageSeeds(f) {
		f.Add(seed)
	}
	if cmyk, err := os.ReadFile(filepath.Join("testdata", "cmyk-ycck.jpg")); err == nil {
		f.Add(cmyk)
	}
	path := filepath.Join(f.TempDir(), "image")
	f.Fuzz(func(t *testing.T, data []byte) {
		// A hang or a runaway allocation is a finding too: see fuzzguard.
		fuzzguard.Run(t, fuzzguard.For(len(data)), func() {
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			img, err := Load(path, LoadOptions{MaxPixels: fuzzMaxPixels})
			if err != nil {
				if img != nil {
					t.Fatalf("Load returned an image and the error %v", err)
				}
				return
			}
			b := img.Bounds()
			switch {
			case b.Min != image.Point{}:
				t.Fatalf("bounds %v do not start at the origin", b)
			case b.Empty():
				t.Fatalf("accepted an empty image %v", b)
			case int64(b.Dx())*int64(b.Dy()) > fuzzMaxPixels:
				t.Fatalf("accepted %v, over the limit of %d pixels", b, fuzzMaxPixels)
			case len(img.Pix) < 4*b.Dx()*b.Dy():
				t.Fatalf("%d bytes of pixels for %v", len(img.Pix), b)
			case !img.Opaque():
				t.Fatal("accepted image is not opaque")
			}
		})
	})
}

// fuzzImageSeeds encodes a small picture in every format and colour form
// Load accepts, plus an EXIF-rotated JPEG and a header-only bomb.
func fuzzImageSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	rgba := noise(6, 4)
	translucent := image.NewNRGBA(rgba.Rect)
	copy(translucent.Pix, rgba.Pix)
	for i := 3; i < len(translucent.Pix); i += 8 {
		translucent.Pix[i] = 90
	}
	gray16 := image.NewGray16(rgba.Rect)
	for i := range gray16.Pix {
		gray16.Pix[i] = uint8(i * 37)
	}
	pal := image.NewPaletted(rgba.Rect, color.Palette{color.Black, color.White, color.NRGBA{200, 30, 10, 128}})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(i % 3)
	}
	var seeds [][]byte
	encode := func(enc func(*bytes.Buffer) error) {
		var buf bytes.Buffer
		if err := enc(&buf); err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, buf.Bytes())
	}
	for _, img := range []image.Image{rgba, translucent, gray16, pal} {
		encode(func(b *bytes.Buffer) error { return png.Encode(b, img) })
	}
	encode(func(b *bytes.Buffer) error { return jpeg.Encode(b, rgba, &jpeg.Options{Quality: 90}) })
	encode(func(b *bytes.Buffer) error { return gif.Encode(b, pal, nil) })
	encode(func(b *bytes.Buffer) error { return bmp.Encode(b, rgba) })
	encode(func(b *bytes.Buffer) error { return tiff.Encode(b, rgba, nil) })
	plain := seeds[4]
	rotated := append(append(append([]byte{}, plain[:2]...), exifOrientation(6)...), plain[2:]...)
	return append(seeds, rotated, pngHeader(100000, 100000))
}
