package imageio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadFormats(t *testing.T) {
	// Every case yields the pixels want(x, y) must report, within tol levels.
	tests := []struct {
		name  string
		file  func(t testing.TB, dir string) string
		w, h  int
		want  func(x, y int) [3]uint8
		tol   int
		check func(t *testing.T, img *image.NRGBA) // extra checks, may be nil
	}{
		{
			name: "PNG RGB",
			file: writePNG(pattern(image.NewRGBA(image.Rect(0, 0, 5, 3)))),
			w:    5, h: 3,
			want: patternRGB,
		},
		{
			name: "PNG gray expanded to RGB",
			file: writePNG(func() image.Image {
				g := image.NewGray(image.Rect(0, 0, 4, 4))
				for i := range g.Pix {
					g.Pix[i] = uint8(i * 17)
				}
				return g
			}()),
			w: 4, h: 4,
			want: func(x, y int) [3]uint8 { v := uint8((y*4 + x) * 17); return [3]uint8{v, v, v} },
		},
		{
			name: "PNG 16-bit rounded to 8 bits",
			file: writePNG(func() image.Image {
				m := image.NewNRGBA64(image.Rect(0, 0, 3, 1))
				m.SetNRGBA64(0, 0, color.NRGBA64{R: 0xffff, G: 0x8080, B: 0x0000, A: 0xffff})
				m.SetNRGBA64(1, 0, color.NRGBA64{R: 0x1234, G: 0x0081, B: 0x007f, A: 0xffff})
				m.SetNRGBA64(2, 0, color.NRGBA64{R: 0xfeff, G: 0x0101, B: 0x8000, A: 0xffff})
				return m
			}()),
			w: 3, h: 1,
			want: func(x, y int) [3]uint8 {
				// round(v/257) per channel.
				return [][3]uint8{{255, 128, 0}, {18, 1, 0}, {254, 1, 128}}[x]
			},
		},
		{
			name: "PNG 16-bit gray",
			file: writePNG(func() image.Image {
				m := image.NewGray16(image.Rect(0, 0, 2, 1))
				m.SetGray16(0, 0, color.Gray16{Y: 0x7f80})
				m.SetGray16(1, 0, color.Gray16{Y: 0xffff})
				return m
			}()),
			w: 2, h: 1,
			want: func(x, y int) [3]uint8 { v := [2]uint8{127, 255}[x]; return [3]uint8{v, v, v} },
		},
		{
			name: "PNG alpha composited over white",
			file: writePNG(func() image.Image {
				m := image.NewNRGBA(image.Rect(0, 0, 4, 1))
				m.SetNRGBA(0, 0, color.NRGBA{R: 200, G: 10, B: 0, A: 255})
				m.SetNRGBA(1, 0, color.NRGBA{R: 200, G: 10, B: 0, A: 0})
				m.SetNRGBA(2, 0, color.NRGBA{R: 0, G: 0, B: 0, A: 128})
				m.SetNRGBA(3, 0, color.NRGBA{R: 100, G: 50, B: 250, A: 51})
				return m
			}()),
			w: 4, h: 1,
			want: func(x, y int) [3]uint8 {
				// c*a/255 + 255*(1-a/255), rounded.
				return [][3]uint8{{200, 10, 0}, {255, 255, 255}, {127, 127, 127}, {224, 214, 254}}[x]
			},
		},
		{
			name: "PNG paletted with transparent entry",
			file: writePNG(func() image.Image {
				pal := color.Palette{color.NRGBA{R: 255, A: 255}, color.NRGBA{G: 255, A: 255}, color.NRGBA{A: 0}}
				m := image.NewPaletted(image.Rect(0, 0, 3, 2), pal)
				for i := range m.Pix {
					m.Pix[i] = uint8(i % 3)
				}
				return m
			}()),
			w: 3, h: 2,
			want: func(x, y int) [3]uint8 {
				return [][3]uint8{{255, 0, 0}, {0, 255, 0}, {255, 255, 255}}[(y*3+x)%3]
			},
		},
		{
			name: "JPEG RGB",
			file: writeJPEG(blocks(), nil),
			w:    16, h: 8,
			want: blocksRGB,
			tol:  6,
		},
		{
			name: "JPEG gray",
			file: writeJPEG(func() image.Image {
				g := image.NewGray(image.Rect(0, 0, 16, 8))
				for i := range g.Pix {
					g.Pix[i] = 90
				}
				return g
			}(), nil),
			w: 16, h: 8,
			want: func(x, y int) [3]uint8 { return [3]uint8{90, 90, 90} },
			tol:  1,
		},
		{
			// Made once with ImageMagick 6.9 (libjpeg writes CMYK as
			// Adobe-inverted YCCK), so tests do not need it:
			//   convert -size 8x8 xc:"cmyk(255,0,0,0)" xc:"cmyk(0,255,0,0)" \
			//     xc:"cmyk(0,0,255,0)" xc:"cmyk(0,0,0,128)" +append \
			//     -colorspace CMYK -sampling-factor 1x1 -quality 100 -strip cmyk-ycck.jpg
			name: "JPEG CMYK (YCCK, Adobe) from ImageMagick",
			file: func(t testing.TB, dir string) string { return filepath.Join("testdata", "cmyk-ycck.jpg") },
			w:    32, h: 8,
			want: func(x, y int) [3]uint8 {
				// 8x8 blocks of cyan, magenta, yellow, and 50% black ink.
				return [][3]uint8{{0, 255, 255}, {255, 0, 255}, {255, 255, 0}, {127, 127, 127}}[x/8]
			},
			tol: 3,
		},
		{
			name: "JPEG EXIF orientation 6 rotated upright",
			file: writeJPEG(blocks(), exifOrientation(6)),
			// Stored 16x8 with red on the left and blue on the right; shown
			// rotated 90 degrees clockwise, so 8x16 with red on top.
			w: 8, h: 16,
			want: func(x, y int) [3]uint8 { return blocksRGB(y, 7-x) },
			tol:  6,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.file(t, t.TempDir())
			img, err := Load(path, LoadOptions{})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			assertNormalised(t, img, tc.w, tc.h)
			for y := 0; y < tc.h; y++ {
				for x := 0; x < tc.w; x++ {
					got := img.NRGBAAt(x, y)
					want := tc.want(x, y)
					if !near(got.R, want[0], tc.tol) || !near(got.G, want[1], tc.tol) || !near(got.B, want[2], tc.tol) {
						t.Fatalf("pixel (%d,%d) = %v, want %v (tolerance %d)", x, y, got, want, tc.tol)
					}
				}
			}
		})
	}
}

// TestLoadJPEGMatchesDecoder pins the YCbCr fast path to the standard
// library's conversion, bit for bit.
func TestLoadJPEGMatchesDecoder(t *testing.T) {
	dir := t.TempDir()
	src := image.NewRGBA(image.Rect(0, 0, 37, 21))
	for i := range src.Pix {
		src.Pix[i] = uint8(i*7 + i/5)
	}
	for i := 3; i < len(src.Pix); i += 4 {
		src.Pix[i] = 255
	}
	path := writeJPEG(src, nil)(t, dir)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	ycc, ok := ref.(*image.YCbCr)
	if !ok {
		t.Fatalf("reference decode is %T, want *image.YCbCr", ref)
	}
	img, err := Load(path, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for y := 0; y < 21; y++ {
		for x := 0; x < 37; x++ {
			c := ycc.YCbCrAt(x, y)
			r, g, b := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
			if got := img.NRGBAAt(x, y); got != (color.NRGBA{R: r, G: g, B: b, A: 255}) {
				t.Fatalf("pixel (%d,%d) = %v, want %v", x, y, got, [3]uint8{r, g, b})
			}
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    func(t testing.TB, dir string) string
		opts    LoadOptions
		want    []string // substrings of the message
		wantErr error    // nil: no particular cause required
	}{
		{
			name:    "missing file",
			file:    func(t testing.TB, dir string) string { return filepath.Join(dir, "nope.png") },
			want:    []string{"nope.png", "no such file"},
			wantErr: fs.ErrNotExist,
		},
		{
			name: "folder",
			file: func(t testing.TB, dir string) string { return dir },
			want: []string{"is a folder"},
		},
		{
			name: "empty file",
			file: writeBytes("empty.png", nil),
			want: []string{"empty.png", "empty file"},
		},
		{
			name:    "text file",
			file:    writeBytes("notes.jpg", []byte("these are not pixels\n")),
			want:    []string{"notes.jpg", "not a PNG or JPEG image"},
			wantErr: image.ErrFormat,
		},
		{
			name: "truncated JPEG",
			file: truncate(writeJPEG(blocks(), nil), 0.6),
			want: []string{"truncated JPEG"},
		},
		{
			name: "truncated PNG",
			file: truncate(writePNG(noise(64, 64)), 0.5),
			want: []string{"truncated PNG"},
		},
		{
			name: "PNG header only",
			file: writeBytes("head.png", pngHeader(16, 16)),
			want: []string{"truncated PNG"},
		},
		{
			name: "decompression bomb refused from the header",
			// Decoding would fail as truncated: the message proves that the
			// header check refused it first.
			file: writeBytes("bomb.png", pngHeader(100000, 100000)),
			want: []string{"bomb.png", "100000x100000", "10000.0 megapixels", "limit of 100.0 megapixels", "limits.max_pixels"},
		},
		{
			name: "configured pixel limit",
			file: writePNG(noise(16, 16)),
			opts: LoadOptions{MaxPixels: 255},
			want: []string{"16x16", "256 pixels, over the limit of 255 pixels", "limits.max_pixels"},
		},
		{
			name: "negative pixel limit",
			file: writePNG(noise(2, 2)),
			opts: LoadOptions{MaxPixels: -1},
			want: []string{"negative", "limits.max_pixels"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.file(t, t.TempDir()), tc.opts)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tc.wantErr)
			}
		})
	}
}

func TestLoadPixelLimitBoundary(t *testing.T) {
	path := writePNG(noise(16, 16))(t, t.TempDir())
	if _, err := Load(path, LoadOptions{MaxPixels: 256}); err != nil {
		t.Fatalf("image exactly at the limit refused: %v", err)
	}
}

func TestFlatten(t *testing.T) {
	cmyk := image.NewCMYK(image.Rect(0, 0, 2, 1))
	cmyk.SetCMYK(0, 0, color.CMYK{C: 255, M: 0, Y: 0, K: 0})
	cmyk.SetCMYK(1, 0, color.CMYK{C: 10, M: 100, Y: 200, K: 1})

	rgba := image.NewRGBA(image.Rect(0, 0, 2, 1))
	rgba.SetRGBA(0, 0, color.RGBA{R: 100, G: 0, B: 50, A: 100}) // premultiplied
	rgba.SetRGBA(1, 0, color.RGBA{R: 1, G: 2, B: 3, A: 255})

	big := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	big.SetNRGBA(2, 3, color.NRGBA{R: 9, G: 8, B: 7, A: 255})
	big.SetNRGBA(3, 3, color.NRGBA{R: 1, G: 2, B: 3, A: 255})
	sub := big.SubImage(image.Rect(2, 3, 4, 4))

	rgba64 := image.NewRGBA64(image.Rect(0, 0, 1, 1))
	rgba64.SetRGBA64(0, 0, color.RGBA64{R: 0x8000, G: 0, B: 0x8000, A: 0x8000})

	tests := []struct {
		name string
		img  image.Image
		want [][3]uint8
	}{
		// round((255-c)(255-k)/255): color.CMYKToRGB would give 244, 154, 54.
		{"CMYK rounded", cmyk, [][3]uint8{{0, 255, 255}, {244, 154, 55}}},
		{"RGBA premultiplied over white", rgba, [][3]uint8{{255, 155, 205}, {1, 2, 3}}},
		{"sub-image bounds", sub, [][3]uint8{{9, 8, 7}, {1, 2, 3}}},
		{"RGBA64 half alpha", rgba64, [][3]uint8{{255, 127, 255}}}, // 0x7fff/257 = 127.498,
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := flatten(tc.img)
			assertNormalised(t, got, len(tc.want), 1)
			for x, want := range tc.want {
				p := got.NRGBAAt(x, 0)
				if [3]uint8{p.R, p.G, p.B} != want {
					t.Errorf("pixel %d = %v, want %v", x, p, want)
				}
			}
		})
	}
}

func TestFlattenKeepsOpaqueNRGBA(t *testing.T) {
	img := noise(3, 3)
	if got := flatten(img); got != img {
		t.Error("opaque NRGBA at the origin was copied")
	}
}

// assertNormalised checks the invariants Load promises: size, origin, opacity.
func assertNormalised(t *testing.T, img *image.NRGBA, w, h int) {
	t.Helper()
	if img.Rect != image.Rect(0, 0, w, h) {
		t.Fatalf("bounds = %v, want %v", img.Rect, image.Rect(0, 0, w, h))
	}
	if !img.Opaque() {
		t.Fatal("image is not opaque")
	}
}

func near(got, want uint8, tol int) bool {
	d := int(got) - int(want)
	return d >= -tol && d <= tol
}

// pattern fills an RGBA image with the opaque colours patternRGB describes.
func pattern(m *image.RGBA) image.Image {
	b := m.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := patternRGB(x, y)
			m.SetRGBA(x, y, color.RGBA{R: c[0], G: c[1], B: c[2], A: 255})
		}
	}
	return m
}

func patternRGB(x, y int) [3]uint8 {
	return [3]uint8{uint8(x * 50), uint8(y * 80), uint8(255 - x*y*10)}
}

// blocks is a 16x8 image, red on the left 8x8 block and blue on the right:
// flat JPEG blocks survive compression almost unchanged.
func blocks() image.Image {
	m := image.NewRGBA(image.Rect(0, 0, 16, 8))
	for y := 0; y < 8; y++ {
		for x := 0; x < 16; x++ {
			c := blocksRGB(x, y)
			m.SetRGBA(x, y, color.RGBA{R: c[0], G: c[1], B: c[2], A: 255})
		}
	}
	return m
}

func blocksRGB(x, y int) [3]uint8 {
	if x < 8 {
		return [3]uint8{220, 30, 30}
	}
	return [3]uint8{30, 30, 220}
}

// noise is an opaque NRGBA image with varied pixels.
func noise(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = uint8(i*131 + i*i/7)
	}
	for i := 3; i < len(m.Pix); i += 4 {
		m.Pix[i] = 255
	}
	return m
}

func writeBytes(name string, data []byte) func(t testing.TB, dir string) string {
	return func(t testing.TB, dir string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
}

func writePNG(img image.Image) func(t testing.TB, dir string) string {
	return func(t testing.TB, dir string) string {
		t.Helper()
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		return writeBytes("image.png", buf.Bytes())(t, dir)
	}
}

// writeJPEG encodes img at quality 100 and inserts app1, when given, right
// after the start-of-image marker.
func writeJPEG(img image.Image, app1 []byte) func(t testing.TB, dir string) string {
	return func(t testing.TB, dir string) string {
		t.Helper()
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 100}); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		if app1 != nil {
			data = append(append(append([]byte{}, data[:2]...), app1...), data[2:]...)
		}
		return writeBytes("image.jpg", data)(t, dir)
	}
}

func truncate(file func(t testing.TB, dir string) string, keep float64) func(t testing.TB, dir string) string {
	return func(t testing.TB, dir string) string {
		t.Helper()
		path := file(t, dir)
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, int64(float64(st.Size())*keep)); err != nil {
			t.Fatal(err)
		}
		return path
	}
}

// exifOrientation builds a JPEG APP1 segment holding a big-endian TIFF
// structure with one IFD entry: Orientation (0x0112), SHORT, count 1.
func exifOrientation(v uint16) []byte {
	var b bytes.Buffer
	b.WriteString("Exif\x00\x00")
	b.WriteString("MM\x00\x2a")                         // big-endian TIFF
	binary.Write(&b, binary.BigEndian, uint32(8))       // IFD0 offset
	binary.Write(&b, binary.BigEndian, uint16(1))       // entry count
	binary.Write(&b, binary.BigEndian, uint16(0x0112))  // tag
	binary.Write(&b, binary.BigEndian, uint16(3))       // SHORT
	binary.Write(&b, binary.BigEndian, uint32(1))       // count
	binary.Write(&b, binary.BigEndian, [2]uint16{v, 0}) // value, padded
	binary.Write(&b, binary.BigEndian, uint32(0))       // next IFD
	seg := []byte{0xff, 0xe1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(b.Len()+2)) // length includes itself
	return append(seg, b.Bytes()...)
}

// pngHeader is a PNG signature and IHDR chunk declaring a w x h 8-bit RGB
// image, with no pixel data after it.
func pngHeader(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // bit depth, colour type RGB
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	crc := crc32.NewIEEE()
	crc.Write([]byte("IHDR"))
	crc.Write(ihdr)
	b.WriteString("IHDR")
	b.Write(ihdr)
	binary.Write(&b, binary.BigEndian, crc.Sum32())
	return b.Bytes()
}

func BenchmarkLoadJPEG1024x768(b *testing.B) {
	img := image.NewRGBA(image.Rect(0, 0, 1024, 768))
	for i := range img.Pix {
		img.Pix[i] = uint8(i/4096 + i%251)
	}
	path := writeJPEG(img, nil)(b, b.TempDir())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(path, LoadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
