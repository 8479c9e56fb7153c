package flow

import (
	"fmt"
	"math"
)

// Warp backward-warps src by f: each value of dst, in each of the c planes,
// is src sampled with bilinear interpolation at the pixel's position moved by
// f, dst(x) = src(x + f(x)). Positions outside the frame take the nearest
// border value (such pixels get weight 0 from Consistency). dst and src hold
// c planes of f.W×f.H values and must not overlap. To align the stylised
// previous frame with the current one, f is the flow from the current frame
// to the previous one.
func Warp(dst, src []float32, c int, f Field) error {
	if err := f.Check(); err != nil {
		return fmt.Errorf("warp: %w", err)
	}
	n := f.W * f.H
	if c <= 0 || c > 64 {
		return fmt.Errorf("warp: %d channels, want 1 to 64", c)
	}
	if len(src) != c*n || len(dst) != c*n {
		return fmt.Errorf("warp: source has %d and destination %d values, want %d (%d planes of %dx%d)", len(src), len(dst), c*n, c, f.W, f.H)
	}
	for y := 0; y < f.H; y++ {
		for x := 0; x < f.W; x++ {
			i := y*f.W + x
			s := newSampler(float32(x)+f.U[i], float32(y)+f.V[i], f.W, f.H)
			for k := 0; k < c; k++ {
				dst[k*n+i] = s.at(src[k*n : (k+1)*n])
			}
		}
	}
	return nil
}

// sampler holds the four neighbours and weights of one bilinear sample, so
// that several planes can be sampled at the same position for the price of
// one set of index computations.
type sampler struct {
	i00, i01, i10, i11 int
	ax, ay             float32
}

// newSampler prepares bilinear sampling of a w×h plane at (x, y), clamped to
// the frame: outside positions take the border's values. NaN positions (a
// corrupt flow) sample pixel (0, 0) rather than indexing out of range.
func newSampler(x, y float32, w, h int) sampler {
	x = clamp(x, 0, float32(w-1))
	y = clamp(y, 0, float32(h-1))
	fx, fy := float32(math.Floor(float64(x))), float32(math.Floor(float64(y)))
	x0, y0 := int(fx), int(fy)
	x1, y1 := min(x0+1, w-1), min(y0+1, h-1)
	return sampler{
		i00: y0*w + x0, i01: y0*w + x1, i10: y1*w + x0, i11: y1*w + x1,
		ax: x - fx, ay: y - fy,
	}
}

// at returns the sample of plane p.
func (s sampler) at(p []float32) float32 {
	top := p[s.i00] + s.ax*(p[s.i01]-p[s.i00])
	bot := p[s.i10] + s.ax*(p[s.i11]-p[s.i10])
	return top + s.ay*(bot-top)
}

// clamp limits v to [lo, hi]; NaN becomes lo.
func clamp(v, lo, hi float32) float32 {
	if !(v > lo) {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// inside reports whether (x, y) lies in the w×h frame, where bilinear
// sampling needs no clamping.
func inside(x, y float32, w, h int) bool {
	return x >= 0 && y >= 0 && x <= float32(w-1) && y <= float32(h-1)
}
