// Package imageio reads and writes the images nst works on and converts them
// to and from the float32 tensors the network sees.
//
// Every image handed to the rest of the program is an opaque *image.NRGBA
// whose bounds start at (0, 0): Load normalises colour models, transparency
// and EXIF orientation once, so no other package has to.
package imageio

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/disintegration/imaging"
	"golang.org/x/image/tiff"

	"github.com/nst-project/nst/internal/safefile"
)

// DefaultMaxPixels is the largest image, in pixels, Load decodes unless told
// otherwise. Decoding needs about 4 bytes a pixel for the result plus the
// decoder's own buffers, so 100 megapixels already costs around 1 GB.
const DefaultMaxPixels = 100_000_000

// MaxPixelsKey is the configuration key that sets LoadOptions.MaxPixels; error
// messages name it so that a user who hits the limit knows what to change.
const MaxPixelsKey = "limits.max_pixels"

// LoadOptions controls Load.
type LoadOptions struct {
	// MaxPixels refuses images whose width*height exceeds it, checked from the
	// header before any pixel is decoded, so a small file that declares a huge
	// image (a decompression bomb) costs nothing. Zero means DefaultMaxPixels.
	MaxPixels int64
}

// Load reads the image file at path: PNG, JPEG, and also GIF (first frame),
// TIFF and BMP. The result is an opaque *image.NRGBA with bounds starting at
// (0, 0), upright according to the EXIF orientation tag, with transparency
// composited over white (the colour a transparent region shows on a page)
// and grey, palette, 16-bit and CMYK images converted to 8-bit RGB.
func Load(path string, o LoadOptions) (*image.NRGBA, error) {
	maxPixels := o.MaxPixels
	if maxPixels == 0 {
		maxPixels = DefaultMaxPixels
	}
	if maxPixels < 0 {
		return nil, fmt.Errorf("load image %q: pixel limit %d is negative; set %s to a positive number", path, maxPixels, MaxPixelsKey)
	}

	// A named pipe or a device is refused before it can block or be read
	// without end.
	sf, err := safefile.Open(path, safefile.MaxImageBytes)
	var typeErr *safefile.TypeError
	switch {
	case errors.As(err, &typeErr) && typeErr.Mode.IsDir():
		return nil, fmt.Errorf("load image %s: is a folder, not an image file", safefile.Quote(path))
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("load image %s: %w", safefile.Quote(path), syscall.ENOENT)
	case err != nil:
		return nil, fmt.Errorf("load image: %w", err)
	}
	defer sf.Close()
	f := sf.OS()
	if sf.Size() == 0 {
		return nil, fmt.Errorf("load image %s: empty file", safefile.Quote(path))
	}

	cfg, format, err := decodeConfig(f)
	if err != nil {
		return nil, decodeError(path, format, err)
	}
	if pixels := int64(cfg.Width) * int64(cfg.Height); pixels > maxPixels {
		return nil, fmt.Errorf("load image %q: %dx%d is %s, over the limit of %s; raise %s to load it",
			path, cfg.Width, cfg.Height, megapixels(pixels), megapixels(maxPixels), MaxPixelsKey)
	}
	if cfg.Width == 0 || cfg.Height == 0 {
		return nil, fmt.Errorf("load image %q: %s declares no pixels (%dx%d)", path, formatName(format), cfg.Width, cfg.Height)
	}

	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("load image %q: %w", path, pathCause(err))
	}
	// imaging applies the EXIF orientation after decoding. For the one case
	// where it must convert colours itself (a rotated CMYK JPEG) it truncates
	// rather than rounds, an error of at most 1/255.
	var img image.Image
	if format == "tiff" {
		// Read through the file's io.ReaderAt (see decodeConfig).
		// imaging reads EXIF orientation from JPEG only, so TIFF loses
		// nothing by skipping it.
		img, err = tiff.Decode(f)
	} else {
		img, err = imaging.Decode(bufio.NewReader(f), imaging.AutoOrientation(true))
	}
	if err != nil {
		return nil, decodeError(path, format, err)
	}
	// A GIF's first frame may be empty even when its header declares a
	// canvas (found by FuzzLoadImage).
	if b := img.Bounds(); b.Empty() {
		return nil, fmt.Errorf("load image %q: %s decodes to no pixels (%dx%d)", path, formatName(format), b.Dx(), b.Dy())
	}
	return flatten(img), nil
}

// decodeConfig is image.DecodeConfig from the start of f, except that a
// TIFF file is read through f's io.ReaderAt. From a plain io.Reader,
// x/image/tiff reads the stream into one buffer as long as the farthest
// offset its header names, whatever the file's size (1 KB files made it
// allocate 2-4 GiB; found by FuzzLoadImage under fuzzguard's memory
// bound); from an io.ReaderAt it reads only what is there.
func decodeConfig(f *os.File) (image.Config, string, error) {
	var magic [4]byte
	if _, err := f.ReadAt(magic[:], 0); err == nil && (string(magic[:]) == "II*\x00" || string(magic[:]) == "MM\x00*") {
		cfg, err := tiff.DecodeConfig(f)
		return cfg, "tiff", err
	}
	return image.DecodeConfig(bufio.NewReader(f))
}

// pathCause strips the *fs.PathError wrapper, whose message repeats the path
// the caller's message already names.
func pathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// decodeError turns a decoder's error into one sentence that names the file
// and says what is wrong with it.
func decodeError(path, format string, err error) error {
	name := formatName(format)
	switch {
	case errors.Is(err, image.ErrFormat):
		return fmt.Errorf("load image %q: not a PNG or JPEG image (nor GIF, TIFF or BMP): %w", path, err)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, png.FormatError("not enough pixel data")):
		return fmt.Errorf("load image %q: truncated %s file: %w", path, name, err)
	default:
		return fmt.Errorf("load image %q: damaged or unsupported %s file: %w", path, name, err)
	}
}

// formatNames spells the registered image formats the way users know them.
var formatNames = map[string]string{"png": "PNG", "jpeg": "JPEG", "gif": "GIF", "tiff": "TIFF", "bmp": "BMP"}

// formatName names a format reported by image.DecodeConfig for messages.
func formatName(format string) string {
	if name, ok := formatNames[format]; ok {
		return name
	}
	if format == "" {
		return "image"
	}
	return format
}

// megapixels formats a pixel count for messages.
func megapixels(n int64) string {
	if n < 1_000_000 {
		return fmt.Sprintf("%d pixels", n)
	}
	return fmt.Sprintf("%.1f megapixels", float64(n)/1e6)
}

// flatten returns img as an opaque *image.NRGBA with bounds at the origin,
// compositing any transparency over white. Each common decoder output has its
// own loop because the generic path calls an interface method per pixel.
// Results are rounded to the nearest 8-bit value.
func flatten(img image.Image) *image.NRGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if src, ok := img.(*image.NRGBA); ok && b.Min == (image.Point{}) && src.Opaque() {
		return src
	}
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	switch src := img.(type) {
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			s := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):][: 4*w : 4*w]
			d := dst.Pix[y*dst.Stride:][: 4*w : 4*w]
			for i := 0; i < len(s); i += 4 {
				a := uint32(s[i+3])
				// c*a/255 + 255*(1-a/255), rounded.
				d[i+0] = uint8((uint32(s[i+0])*a + 255*(255-a) + 127) / 255)
				d[i+1] = uint8((uint32(s[i+1])*a + 255*(255-a) + 127) / 255)
				d[i+2] = uint8((uint32(s[i+2])*a + 255*(255-a) + 127) / 255)
				d[i+3] = 255
			}
		}
	case *image.RGBA:
		for y := 0; y < h; y++ {
			s := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):][: 4*w : 4*w]
			d := dst.Pix[y*dst.Stride:][: 4*w : 4*w]
			for i := 0; i < len(s); i += 4 {
				// Premultiplied colour over white is c + (255-a), exactly.
				t := 255 - s[i+3]
				d[i+0] = s[i+0] + t
				d[i+1] = s[i+1] + t
				d[i+2] = s[i+2] + t
				d[i+3] = 255
			}
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			s := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):][:w:w]
			d := dst.Pix[y*dst.Stride:][: 4*w : 4*w]
			for x, v := range s {
				d[4*x+0], d[4*x+1], d[4*x+2], d[4*x+3] = v, v, v, 255
			}
		}
	case *image.CMYK:
		for y := 0; y < h; y++ {
			s := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):][: 4*w : 4*w]
			d := dst.Pix[y*dst.Stride:][: 4*w : 4*w]
			for i := 0; i < len(s); i += 4 {
				d[i+0], d[i+1], d[i+2] = cmykToRGB(s[i+0], s[i+1], s[i+2], s[i+3])
				d[i+3] = 255
			}
		}
	case *image.YCbCr:
		// The opaque result has the same bytes as an RGBA image, for which
		// image/draw has a fast path implementing the JPEG (JFIF) conversion,
		// the same arithmetic as color.YCbCrToRGB.
		rgba := &image.RGBA{Pix: dst.Pix, Stride: dst.Stride, Rect: dst.Rect}
		draw.Draw(rgba, rgba.Rect, src, b.Min, draw.Src)
	case *image.Paletted:
		var table [256][3]uint8 // indices beyond the palette show black
		for i, c := range src.Palette {
			if i == len(table) {
				break
			}
			table[i] = overWhite(c.RGBA())
		}
		for y := 0; y < h; y++ {
			s := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):][:w:w]
			d := dst.Pix[y*dst.Stride:][: 4*w : 4*w]
			for x, v := range s {
				c := table[v]
				d[4*x+0], d[4*x+1], d[4*x+2], d[4*x+3] = c[0], c[1], c[2], 255
			}
		}
	case image.RGBA64Image:
		// NRGBA64, RGBA64 and Gray16 (16-bit PNG), NYCbCrA and others:
		// RGBA64At avoids boxing each pixel's colour in an interface.
		for y := 0; y < h; y++ {
			d := dst.Pix[y*dst.Stride:][: 4*w : 4*w]
			for x := 0; x < w; x++ {
				c := src.RGBA64At(b.Min.X+x, b.Min.Y+y)
				rgb := overWhite(uint32(c.R), uint32(c.G), uint32(c.B), uint32(c.A))
				d[4*x+0], d[4*x+1], d[4*x+2], d[4*x+3] = rgb[0], rgb[1], rgb[2], 255
			}
		}
	default:
		for y := 0; y < h; y++ {
			d := dst.Pix[y*dst.Stride:][: 4*w : 4*w]
			for x := 0; x < w; x++ {
				rgb := overWhite(img.At(b.Min.X+x, b.Min.Y+y).RGBA())
				d[4*x+0], d[4*x+1], d[4*x+2], d[4*x+3] = rgb[0], rgb[1], rgb[2], 255
			}
		}
	}
	return dst
}

// overWhite composites a 16-bit premultiplied colour (as color.Color.RGBA
// returns it) over white and rounds the result to 8 bits per channel.
func overWhite(r, g, b, a uint32) [3]uint8 {
	t := 0xffff - a
	return [3]uint8{to8(r + t), to8(g + t), to8(b + t)}
}

// to8 rounds a 16-bit channel value to the nearest 8-bit one (v/257).
func to8(v uint32) uint8 {
	return uint8((v*255 + 32767) / 65535)
}

// cmykToRGB converts a CMYK value as image.CMYK stores it (0 = no ink; Go's
// JPEG decoder has already undone the Adobe inversion) to RGB with the
// profile-free formula R = (1-C)(1-K), rounded. color.CMYKToRGB truncates
// instead, darkening about half of all values by one level.
func cmykToRGB(c, m, y, k uint8) (uint8, uint8, uint8) {
	w := 255 - uint32(k)
	return uint8(((255-uint32(c))*w + 127) / 255),
		uint8(((255-uint32(m))*w + 127) / 255),
		uint8(((255-uint32(y))*w + 127) / 255)
}
