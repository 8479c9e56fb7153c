package imageio

import (
	"fmt"
	"image"

	"github.com/disintegration/imaging"
)

// LongSideSize returns the size of a w x h image scaled so that its longer
// side is long, keeping the aspect ratio: the shorter side is rounded to the
// nearest pixel (halves up) and is at least 1. It returns 0, 0 unless w, h
// and long are all positive.
func LongSideSize(w, h, long int) (int, int) {
	if w <= 0 || h <= 0 || long <= 0 {
		return 0, 0
	}
	scale := func(short, longSide int) int {
		// Integer arithmetic so that the result does not depend on float
		// rounding: round(short*long/longSide).
		n := (2*int64(short)*int64(long) + int64(longSide)) / (2 * int64(longSide))
		return int(max(n, 1))
	}
	if w >= h {
		return long, scale(h, w)
	}
	return scale(w, h), long
}

// FitLongSide resizes img with a Lanczos filter so that its longer side is
// long pixels (see LongSideSize). An image already at that size is returned
// as is, never resampled, so that a second call cannot blur it.
func FitLongSide(img *image.NRGBA, long int) (*image.NRGBA, error) {
	if long <= 0 {
		return nil, fmt.Errorf("fit image to long side %d: size must be positive", long)
	}
	b := img.Bounds()
	if b.Empty() {
		return nil, fmt.Errorf("fit image to long side %d: image is empty (%dx%d)", long, b.Dx(), b.Dy())
	}
	w, h := LongSideSize(b.Dx(), b.Dy(), long)
	return Resize(img, w, h)
}

// Resize resamples img to w x h with a Lanczos filter. An image already w x h
// is returned as is, never resampled.
func Resize(img *image.NRGBA, w, h int) (*image.NRGBA, error) {
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("resize image to %dx%d: size must be positive", w, h)
	}
	b := img.Bounds()
	if b.Dx() == w && b.Dy() == h {
		return img, nil
	}
	if b.Empty() {
		return nil, fmt.Errorf("resize image to %dx%d: image is empty (%dx%d)", w, h, b.Dx(), b.Dy())
	}
	return imaging.Resize(img, w, h, imaging.Lanczos), nil
}
