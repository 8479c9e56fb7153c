package flow

import (
	"fmt"
	"math"
)

// MaxPixels is the largest frame, in pixels, the package accepts: 8192×8192.
// Flow at that size needs about 1.5 GB of working memory, so a larger frame
// is almost certainly a mistake in the caller's sizes.
const MaxPixels = 8192 * 8192

// Field is a dense optical flow: for each pixel of a W×H frame, row by row,
// its horizontal (U, positive to the right) and vertical (V, positive
// downwards) displacement in pixels. See the package documentation for
// which frame it starts from.
type Field struct {
	W, H int
	U, V []float32
}

// NewField returns a zero flow of w×h pixels.
func NewField(w, h int) (Field, error) {
	if err := checkSize(w, h); err != nil {
		return Field{}, fmt.Errorf("new flow field: %w", err)
	}
	return Field{W: w, H: h, U: make([]float32, w*h), V: make([]float32, w*h)}, nil
}

// Check reports whether f is well formed: a size within MaxPixels and one U
// and one V value per pixel.
func (f Field) Check() error {
	if err := checkSize(f.W, f.H); err != nil {
		return err
	}
	if n := f.W * f.H; len(f.U) != n || len(f.V) != n {
		return fmt.Errorf("flow field %dx%d has %d U and %d V values, want %d each", f.W, f.H, len(f.U), len(f.V), n)
	}
	return nil
}

// Image is one frame in planar (channel-major) layout, as
// imageio.ToTensor makes it: C planes (1 for grey, 3 for RGB) of H rows of W
// values each. The values' range does not matter: flow stretches the two
// frames together to its working range.
type Image struct {
	C, H, W int
	Pix     []float32
}

// Check reports whether im is well formed.
func (im Image) Check() error {
	if im.C != 1 && im.C != 3 {
		return fmt.Errorf("image has %d channels, want 1 (grey) or 3 (RGB)", im.C)
	}
	if err := checkSize(im.W, im.H); err != nil {
		return err
	}
	if n := im.C * im.W * im.H; len(im.Pix) != n {
		return fmt.Errorf("image %dx%dx%d has %d values, want %d", im.C, im.H, im.W, len(im.Pix), n)
	}
	return nil
}

// gray returns im's luminance plane as a new slice
// (Rec. 601 weights for RGB). Non-finite values become 0 so that one bad
// pixel cannot turn the whole flow into NaN.
func (im Image) gray() []float32 {
	n := im.W * im.H
	g := make([]float32, n)
	if im.C == 1 {
		copy(g, im.Pix)
	} else {
		r, gr, b := im.Pix[:n:n], im.Pix[n:2*n:2*n], im.Pix[2*n:3*n:3*n]
		for i := range g {
			g[i] = 0.299*r[i] + 0.587*gr[i] + 0.114*b[i]
		}
	}
	for i, v := range g {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			g[i] = 0
		}
	}
	return g
}

// checkSize accepts positive sizes whose product is within MaxPixels.
func checkSize(w, h int) error {
	if w <= 0 || h <= 0 || w > MaxPixels || h > MaxPixels || int64(w)*int64(h) > MaxPixels {
		return fmt.Errorf("size %dx%d is outside 1x1 to %d pixels", w, h, MaxPixels)
	}
	return nil
}
