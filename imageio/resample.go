package imageio

import (
	"fmt"
	"math"
)

// ResizeBilinear resamples every one of the c planes of src (c×h×w values,
// channel-major, as [1, c, H, W] tensors are) to oh×ow into dst, by bilinear
// interpolation with pixel centres aligned: output pixel i samples the
// source at (i + ½)·h/oh − ½, clamped to the border pixels (the
// "half_pixel" convention of ONNX Resize, PIL and OpenCV). Values are
// float32 and not clamped, so a tensor is enlarged without 8-bit rounding.
//
// It is meant for enlarging: shrinking by more than 2 skips source pixels
// and aliases.
func ResizeBilinear(dst, src []float32, c, h, w, oh, ow int) error {
	for _, d := range []int{c, h, w, oh, ow} {
		if d <= 0 || d > math.MaxInt32 {
			return fmt.Errorf("resize %d planes of %dx%d to %dx%d: sizes must be positive", c, w, h, ow, oh)
		}
	}
	if int64(c)*int64(h)*int64(w) != int64(len(src)) || int64(c)*int64(oh)*int64(ow) != int64(len(dst)) {
		return fmt.Errorf("resize %d planes of %dx%d to %dx%d: src has %d values, dst %d", c, w, h, ow, oh, len(src), len(dst))
	}
	xs := linearTaps(w, ow)
	ys := linearTaps(h, oh)
	for p := range c {
		in := src[p*h*w : (p+1)*h*w]
		out := dst[p*oh*ow : (p+1)*oh*ow]
		for oy, ty := range ys {
			r0, r1 := in[ty.i0*w:(ty.i0+1)*w], in[ty.i1*w:(ty.i1+1)*w]
			row := out[oy*ow : (oy+1)*ow]
			for ox, tx := range xs {
				top := float64(r0[tx.i0])*(1-tx.f) + float64(r0[tx.i1])*tx.f
				bottom := float64(r1[tx.i0])*(1-tx.f) + float64(r1[tx.i1])*tx.f
				row[ox] = float32(top*(1-ty.f) + bottom*ty.f)
			}
		}
	}
	return nil
}

// tap is where one output coordinate samples its source axis: between i0
// and i1 = i0+1 (or i0 at the border), a fraction f of the way.
type tap struct {
	i0, i1 int
	f      float64
}

// linearTaps returns the taps of the n output pixels along a source axis of
// size in.
func linearTaps(in, n int) []tap {
	taps := make([]tap, n)
	scale := float64(in) / float64(n)
	for i := range taps {
		s := (float64(i)+0.5)*scale - 0.5
		s = math.Max(0, math.Min(s, float64(in-1)))
		i0 := int(s)
		taps[i] = tap{i0: i0, i1: min(i0+1, in-1), f: s - float64(i0)}
	}
	return taps
}
