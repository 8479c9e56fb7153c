package imageio

import (
	"fmt"
	"image"
)

// ToTensor returns img as a [1, 3, H, W] float32 tensor in NCHW order (all
// red values, then green, then blue, each plane row by row) with values in
// [0, 1]. Alpha is ignored: images from Load are opaque.
func ToTensor(img *image.NRGBA) []float32 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	plane := w * h
	t := make([]float32, 3*plane)
	r, g, bl := t[:plane:plane], t[plane:2*plane:2*plane], t[2*plane:]
	for y := 0; y < h; y++ {
		row := img.Pix[img.PixOffset(b.Min.X, b.Min.Y+y):][: 4*w : 4*w]
		o := y * w
		for x := 0; x < w; x++ {
			p := row[4*x : 4*x+3 : 4*x+3]
			r[o+x] = float32(p[0]) / 255
			g[o+x] = float32(p[1]) / 255
			bl[o+x] = float32(p[2]) / 255
		}
	}
	return t
}

// FromTensor turns a [1, 3, h, w] NCHW tensor with values in [0, 1] into an
// opaque image. Values are clamped to [0, 1] (NaN becomes 0) and rounded to
// the nearest 8-bit level, so FromTensor(ToTensor(img)) reproduces an 8-bit
// image exactly. It panics if len(data) != 3*w*h: that is a programming
// error, not a property of user input.
func FromTensor(data []float32, w, h int) *image.NRGBA {
	plane := w * h
	if w < 0 || h < 0 || len(data) != 3*plane {
		panic(fmt.Sprintf("imageio.FromTensor: %d values for a 3x%dx%d tensor", len(data), h, w))
	}
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	r, g, b := data[:plane:plane], data[plane:2*plane:2*plane], data[2*plane:]
	for i := 0; i < plane; i++ {
		p := img.Pix[4*i : 4*i+4 : 4*i+4]
		p[0] = to8bit(r[i])
		p[1] = to8bit(g[i])
		p[2] = to8bit(b[i])
		p[3] = 255
	}
	return img
}

// to8bit maps [0, 1] to the nearest of 0..255, clamping outside values and
// sending NaN to 0 (a float-to-int conversion of NaN is undefined in Go).
func to8bit(v float32) uint8 {
	switch {
	case !(v > 0):
		return 0
	case v >= 1:
		return 255
	}
	return uint8(v*255 + 0.5)
}
