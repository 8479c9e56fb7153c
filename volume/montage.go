package volume

import (
	"fmt"
	"image"
	"math"

	"github.com/nst-project/nst/imageio"
)

// Defaults of MontageOptions.
const (
	DefaultPerAxis = 5
	DefaultGap     = 2
)

// montageBackground is the grey between tiles: dark enough not to dazzle,
// light enough to tell from a black slice.
const montageBackground = 48

// MontageOptions controls Montage.
type MontageOptions struct {
	// PerAxis is the number of slices shown along each axis, evenly spaced
	// (at i·n/(PerAxis+1) for i = 1..PerAxis, so 1 is the centre slice);
	// an axis with fewer slices shows each once. 0 means DefaultPerAxis.
	PerAxis int
	// Gap is the space between tiles in pixels; 0 means DefaultGap, and a
	// negative value no gap.
	Gap int
	// Scale enlarges every voxel to Scale×Scale pixels (nearest neighbour),
	// for small volumes; 0 means 1.
	Scale int
	// Normalize stretches the volume's range [min, max] to [0, 1] before
	// drawing (the same for all tiles, so they stay comparable); otherwise
	// values are clamped to [0, 1] as images are.
	Normalize bool
}

// Montage draws slices of v as a picture: one row of tiles per axis, top to
// bottom depth (H×W tiles), height (D×W) and width (D×H), each row's tiles
// left to right in increasing slice order, on a dark grey background. A
// tile's rows and columns are those of Slice. One channel is drawn grey,
// three as RGB.
func Montage(v *Volume, o MontageOptions) (*image.NRGBA, error) {
	if v == nil || v.D < 1 || v.H < 1 || v.W < 1 || (v.C != 1 && v.C != 3) || len(v.Data) != v.D*v.H*v.W*v.C {
		return nil, fmt.Errorf("volume montage: not a valid volume (%s)", describe(v))
	}
	per, gap, scale := o.PerAxis, o.Gap, o.Scale
	if per == 0 {
		per = DefaultPerAxis
	}
	if gap == 0 {
		gap = DefaultGap
	}
	gap = max(gap, 0)
	if scale == 0 {
		scale = 1
	}
	if per < 0 || per > 64 || scale < 0 || scale > 64 || gap > 1000 {
		return nil, fmt.Errorf("volume montage: %d slices per axis (1-64), scale %d (1-64), gap %d (up to 1000)", o.PerAxis, o.Scale, o.Gap)
	}
	lo, span := float32(0), float32(1)
	if o.Normalize {
		mn, mx := float32(math.Inf(1)), float32(math.Inf(-1))
		for _, x := range v.Data {
			if x == x { // NaN draws black, and must not poison the range
				mn, mx = min(mn, x), max(mx, x)
			}
		}
		// A flat volume keeps its level (clamped) rather than dividing by 0.
		if mx > mn && !math.IsInf(float64(mx-mn), 0) {
			lo, span = mn, mx-mn
		}
	}
	return draw(v, per, gap, scale, lo, span)
}

// draw lays out and paints the montage; values map to (x−lo)/span.
func draw(v *Volume, per, gap, scale int, lo, span float32) (*image.NRGBA, error) {
	axes := []Axis{AxisD, AxisH, AxisW}
	width, height := 0, 0
	for i, a := range axes {
		rows, cols := v.SliceShape(a)
		n := min(per, v.Len(a))
		width = max(width, n*cols*scale+(n-1)*gap)
		height += rows * scale
		if i > 0 {
			height += gap
		}
	}
	if int64(width)*int64(height) > 1<<28 {
		return nil, fmt.Errorf("volume montage: a %d×%d picture is too large; show fewer slices or a smaller scale", width, height)
	}
	img := image.NewNRGBA(image.Rect(0, 0, width, height))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = montageBackground, montageBackground, montageBackground, 255
	}
	y0 := 0
	for _, a := range axes {
		rows, cols := v.SliceShape(a)
		for j, idx := range slicePositions(v.Len(a), per) {
			x0 := j * (cols*scale + gap)
			plane, _ := v.Slice(a, idx)
			n := rows * cols
			for r := range rows * scale {
				for c := range cols * scale {
					k := (r/scale)*cols + c/scale
					p := img.Pix[img.PixOffset(x0+c, y0+r):]
					for ch := range 3 {
						src := plane[k]
						if v.C == 3 {
							src = plane[ch*n+k]
						}
						p[ch] = to8bit((src - lo) / span)
					}
				}
			}
		}
		y0 += rows*scale + gap
	}
	return img, nil
}

// slicePositions returns min(per, n) slice indices spread evenly over n:
// i·n/(per+1) for i = 1..per, or every slice when there are no more than
// per of them.
func slicePositions(n, per int) []int {
	if n <= per {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	out := make([]int, per)
	for i := range out {
		out[i] = (i + 1) * n / (per + 1)
	}
	return out
}

// to8bit maps [0, 1] to the nearest of 0..255, clamping, NaN to 0.
func to8bit(x float32) uint8 {
	switch {
	case !(x > 0):
		return 0
	case x >= 1:
		return 255
	}
	return uint8(x*255 + 0.5)
}

// SaveMontagePNG draws v as Montage does and writes it to path as a PNG,
// atomically.
func SaveMontagePNG(path string, v *Volume, o MontageOptions) error {
	img, err := Montage(v, o)
	if err != nil {
		return fmt.Errorf("save montage %q: %w", path, err)
	}
	if err := imageio.Save(path, img, "png", 0); err != nil {
		return fmt.Errorf("save montage: %w", err)
	}
	return nil
}
