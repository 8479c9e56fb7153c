package volume

import (
	"fmt"
	"math"
)

// LongSideShape returns the shape of a d×h×w volume scaled so that its
// longest side is long voxels, the others in proportion (at least 1).
func LongSideShape(d, h, w, long int) (int, int, int) {
	side := max(d, h, w)
	scale := func(n int) int { return max(1, int(math.Round(float64(n)*float64(long)/float64(side)))) }
	return scale(d), scale(h), scale(w)
}

// Resize returns v resampled to d×h×w by trilinear interpolation, with
// sample centres aligned (as image resizing aligns pixel centres); the
// same shape returns a copy.
func Resize(v *Volume, d, h, w int) (*Volume, error) {
	out, err := New(d, h, w, v.C)
	if err != nil {
		return nil, fmt.Errorf("resize volume: %w", err)
	}
	type tap struct {
		i0, i1 int
		f      float32
	}
	taps := func(from, to int) []tap {
		t := make([]tap, to)
		for i := range t {
			x := (float64(i)+0.5)*float64(from)/float64(to) - 0.5
			x = min(max(x, 0), float64(from-1))
			i0 := int(x)
			t[i] = tap{i0, min(i0+1, from-1), float32(x - float64(i0))}
		}
		return t
	}
	tz, ty, tx := taps(v.D, d), taps(v.H, h), taps(v.W, w)
	at := func(z, y, x, c int) float32 { return v.Data[((z*v.H+y)*v.W+x)*v.C+c] }
	for z, a := range tz {
		for y, b := range ty {
			for x, e := range tx {
				for c := range v.C {
					lerp := func(p, q, f float32) float32 { return p + (q-p)*f }
					plane := func(z int) float32 {
						return lerp(lerp(at(z, b.i0, e.i0, c), at(z, b.i0, e.i1, c), e.f),
							lerp(at(z, b.i1, e.i0, c), at(z, b.i1, e.i1, c), e.f), b.f)
					}
					out.Data[out.Index(z, y, x, c)] = lerp(plane(a.i0), plane(a.i1), a.f)
				}
			}
		}
	}
	return out, nil
}

// Planar returns v's values channel-major, [C,D,H,W], as a network takes
// them.
func (v *Volume) Planar() []float32 {
	n := v.Voxels()
	out := make([]float32, v.C*n)
	for i := range n {
		for c := range v.C {
			out[c*n+i] = v.Data[i*v.C+c]
		}
	}
	return out
}

// FromPlanar returns the volume of shape d×h×w×c whose values, channel-
// major [C,D,H,W], are planar.
func FromPlanar(planar []float32, d, h, w, c int) (*Volume, error) {
	v, err := New(d, h, w, c)
	if err != nil {
		return nil, err
	}
	n := v.Voxels()
	if len(planar) != c*n {
		return nil, fmt.Errorf("volume from planar values: %d values for %d×%d×%d×%d", len(planar), d, h, w, c)
	}
	for i := range n {
		for k := range c {
			v.Data[i*c+k] = planar[k*n+i]
		}
	}
	return v, nil
}
