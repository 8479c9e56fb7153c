package losses

import (
	"fmt"
	"math"
)

// TotalVariation returns the total variation of one c×h×w image stored
// channel-major (nst's generated image: RGB in [0, 1], [1, 3, H, W]), the
// squared differences of vertically and horizontally neighbouring values of
// each channel, divided by the number of values:
//
//	J_tv = 1/(c·h·w) · Σ_ch [ Σ_{y<h−1} Σ_x (I[y+1,x] − I[y,x])² + Σ_y Σ_{x<w−1} (I[y,x+1] − I[y,x])² ]
//
// Dividing by the number of values rather than summing keeps a tv weight
// meaning the same at every resolution. For values in [0, 1], J_tv is 0 for
// a flat image, about 1/3 for uniform noise and below 2 always.
//
// When grad is not nil, TotalVariation adds weight·dJ_tv/d(img) to it (it
// does not overwrite: grad is normally the image gradient of the other
// costs). grad must then have img's length.
func TotalVariation(img []float32, c, h, w int, weight float64, grad []float32) (float64, error) {
	if c <= 0 || h <= 0 || w <= 0 || c > math.MaxInt32 || h > math.MaxInt32 || w > math.MaxInt32 || c*h > math.MaxInt/w {
		return 0, fmt.Errorf("total variation: image shape %d×%d×%d, want positive", c, h, w)
	}
	n := c * h * w
	if len(img) != n {
		return 0, fmt.Errorf("total variation: %d values for a %d×%d×%d image", len(img), c, h, w)
	}
	if grad != nil && len(grad) != n {
		return 0, fmt.Errorf("total variation: gradient has %d values for a %d×%d×%d image", len(grad), c, h, w)
	}
	if math.IsNaN(weight) || math.IsInf(weight, 0) {
		return 0, fmt.Errorf("total variation: weight %v, want finite", weight)
	}
	var sum float64
	for p := 0; p < n; p += h * w {
		sum += tvPlane(img[p:p+h*w], h, w)
	}
	inv := 1 / float64(n)
	if grad != nil && weight != 0 {
		scale := 2 * weight * inv
		for p := 0; p < n; p += h * w {
			tvPlaneGrad(img[p:p+h*w], grad[p:p+h*w], h, w, scale)
		}
	}
	return sum * inv, nil
}

// tvPlane returns the sum of squared neighbour differences of one plane.
func tvPlane(p []float32, h, w int) float64 {
	var sum float64
	for y := range h {
		row := p[y*w : (y+1)*w]
		for x := 1; x < w; x++ {
			d := float64(row[x]) - float64(row[x-1])
			sum += d * d
		}
		if y+1 < h {
			next := p[(y+1)*w : (y+2)*w]
			for x, v := range row {
				d := float64(next[x]) - float64(v)
				sum += d * d
			}
		}
	}
	return sum
}

// tvPlaneGrad adds scale·Σ_neighbours (v − neighbour) to each value's
// gradient in g: with scale = 2·weight/N that is weight·dJ_tv/dv. The up to
// four differences are summed in float64 and each value is written once.
func tvPlaneGrad(p, g []float32, h, w int, scale float64) {
	for y := range h {
		row := p[y*w : (y+1)*w]
		out := g[y*w : (y+1)*w]
		var up, down []float32
		if y > 0 {
			up = p[(y-1)*w : y*w]
		}
		if y+1 < h {
			down = p[(y+1)*w : (y+2)*w]
		}
		for x, v := range row {
			c := float64(v)
			var d float64
			if x > 0 {
				d += c - float64(row[x-1])
			}
			if x+1 < w {
				d += c - float64(row[x+1])
			}
			if up != nil {
				d += c - float64(up[x])
			}
			if down != nil {
				d += c - float64(down[x])
			}
			out[x] += float32(scale * d)
		}
	}
}

// TotalVariation3D is TotalVariation for c volumes of d×h×w values
// (channel-major, each volume d planes of h×w): the squared differences of
// neighbours along all three axes, divided by the number of values,
//
//	J_tv = 1/(c·d·h·w) · Σ_ch [ Σ_z tv(plane z) + Σ_{z<d−1} Σ_{y,x} (V[z+1,y,x] − V[z,y,x])² ]
//
// so that a volume's smoothness counts across its slices as within them.
// With d = 1 it is TotalVariation. grad, when not nil, gets weight·dJ_tv
// added.
func TotalVariation3D(vol []float32, c, d, h, w int, weight float64, grad []float32) (float64, error) {
	if c <= 0 || d <= 0 || c > math.MaxInt32 || d > math.MaxInt32 || c*d > math.MaxInt32 {
		return 0, fmt.Errorf("total variation: volume shape %d×%d×%d×%d, want positive", c, d, h, w)
	}
	planes, err := TotalVariation(vol, c*d, h, w, weight, grad)
	if err != nil {
		return 0, err
	}
	n := len(vol)
	plane := h * w
	var sum float64
	scale := 2 * weight / float64(n)
	for ch := range c {
		v := vol[ch*d*plane : (ch+1)*d*plane]
		for z := 0; z+1 < d; z++ {
			a, b := v[z*plane:(z+1)*plane], v[(z+1)*plane:(z+2)*plane]
			var ga, gb []float32
			if grad != nil && weight != 0 {
				g := grad[ch*d*plane : (ch+1)*d*plane]
				ga, gb = g[z*plane:(z+1)*plane], g[(z+1)*plane:(z+2)*plane]
			}
			for i, x := range a {
				diff := float64(b[i]) - float64(x)
				sum += diff * diff
				if ga != nil {
					ga[i] -= float32(scale * diff)
					gb[i] += float32(scale * diff)
				}
			}
		}
	}
	return planes + sum/float64(n), nil
}
