package flow

import "math"

// plane is one w×h single-channel image, row by row.
type plane struct {
	w, h int
	p    []float32
}

func newPlane(w, h int) plane { return plane{w: w, h: h, p: make([]float32, w*h)} }

// gaussKernel returns the normalised half kernel k[0..r] of a Gaussian with
// standard deviation sigma, truncated at 3 sigma.
func gaussKernel(sigma float64) []float32 {
	r := int(math.Ceil(3 * sigma))
	k := make([]float32, r+1)
	var sum float64
	for i := 0; i <= r; i++ {
		v := math.Exp(-float64(i*i) / (2 * sigma * sigma))
		k[i] = float32(v)
		if i == 0 {
			sum += v
		} else {
			sum += 2 * v
		}
	}
	for i := range k {
		k[i] = float32(float64(k[i]) / sum)
	}
	return k
}

// blur returns src smoothed by a separable Gaussian of standard deviation
// sigma, with the border replicated.
func blur(src plane, sigma float64, r rows) plane {
	k := gaussKernel(sigma)
	rad := len(k) - 1
	w, h := src.w, src.h
	tmp := newPlane(w, h)
	r.do(h, func(y0, y1 int) float64 {
		for y := y0; y < y1; y++ {
			s := src.p[y*w : (y+1)*w]
			d := tmp.p[y*w : (y+1)*w]
			for x := range d {
				acc := k[0] * s[x]
				for j := 1; j <= rad; j++ {
					acc += k[j] * (s[max(x-j, 0)] + s[min(x+j, w-1)])
				}
				d[x] = acc
			}
		}
		return 0
	})
	dst := newPlane(w, h)
	r.do(h, func(y0, y1 int) float64 {
		for y := y0; y < y1; y++ {
			d := dst.p[y*w : (y+1)*w]
			c := tmp.p[y*w : (y+1)*w]
			for x := range d {
				d[x] = k[0] * c[x]
			}
			for j := 1; j <= rad; j++ {
				up := tmp.p[max(y-j, 0)*w:][:w]
				dn := tmp.p[min(y+j, h-1)*w:][:w]
				kj := k[j]
				for x := range d {
					d[x] += kj * (up[x] + dn[x])
				}
			}
		}
		return 0
	})
	return dst
}

// resample returns src resized to w×h by bilinear interpolation at pixel
// centres (x+0.5)·src.w/w − 0.5, each value multiplied by mul. Halving a
// plane this way averages 2×2 blocks; resampling a flow uses mul to rescale
// the displacements to the new pixel size.
func resample(src plane, w, h int, mul float32, r rows) plane {
	dst := newPlane(w, h)
	sx := float32(src.w) / float32(w)
	sy := float32(src.h) / float32(h)
	r.do(h, func(y0, y1 int) float64 {
		for y := y0; y < y1; y++ {
			fy := (float32(y)+0.5)*sy - 0.5
			d := dst.p[y*w : (y+1)*w]
			for x := range d {
				fx := (float32(x)+0.5)*sx - 0.5
				d[x] = mul * newSampler(fx, fy, src.w, src.h).at(src.p)
			}
		}
		return 0
	})
	return dst
}

// gradient returns the centred differences of src in x and y, one-sided at
// the border.
func gradient(src plane, r rows) (gx, gy plane) {
	w, h := src.w, src.h
	gx, gy = newPlane(w, h), newPlane(w, h)
	r.do(h, func(y0, y1 int) float64 {
		for y := y0; y < y1; y++ {
			s := src.p[y*w : (y+1)*w]
			dx := gx.p[y*w : (y+1)*w]
			dy := gy.p[y*w : (y+1)*w]
			up := src.p[max(y-1, 0)*w:][:w]
			dn := src.p[min(y+1, h-1)*w:][:w]
			yscale := float32(0.5)
			if y == 0 || y == h-1 {
				yscale = 1
			}
			if h == 1 {
				yscale = 0
			}
			for x := range s {
				switch {
				case w == 1:
					dx[x] = 0
				case x == 0:
					dx[x] = s[1] - s[0]
				case x == w-1:
					dx[x] = s[x] - s[x-1]
				default:
					dx[x] = 0.5 * (s[x+1] - s[x-1])
				}
				dy[x] = yscale * (dn[x] - up[x])
			}
		}
		return 0
	})
	return gx, gy
}

// median3 returns src filtered by a 3×3 median, with the border replicated.
// Applied to the flow after each warp it removes the isolated outliers that
// the linearised data term produces (Wedel et al. 2009).
//
// Each column of three is sorted once and shared by the three windows that
// contain it; the median of the nine values is then the median of the
// largest of the column minima, the median of the column medians and the
// smallest of the column maxima (Paeth's identity), ten comparisons a pixel
// instead of nineteen, all branch-free min and max.
func median3(src plane, r rows) plane {
	w, h := src.w, src.h
	dst := newPlane(w, h)
	r.do(h, func(y0, y1 int) float64 {
		lo := make([]float32, w+2)
		md := make([]float32, w+2)
		hi := make([]float32, w+2)
		for y := y0; y < y1; y++ {
			up := src.p[max(y-1, 0)*w:][:w]
			mid := src.p[y*w:][:w]
			dn := src.p[min(y+1, h-1)*w:][:w]
			// Column j+1 of the sorted rows holds column j of the plane;
			// columns 0 and w+1 replicate the border.
			for x := range w {
				a, b, c := up[x], mid[x], dn[x]
				l, m := min(a, b), max(a, b)
				m, hh := min(m, c), max(m, c)
				l, m = min(l, m), max(l, m)
				lo[x+1], md[x+1], hi[x+1] = l, m, hh
			}
			lo[0], md[0], hi[0] = lo[1], md[1], hi[1]
			lo[w+1], md[w+1], hi[w+1] = lo[w], md[w], hi[w]
			d := dst.p[y*w:][:w]
			for x := range d {
				a := max(lo[x], lo[x+1], lo[x+2])
				b := med3(md[x], md[x+1], md[x+2])
				c := min(hi[x], hi[x+1], hi[x+2])
				d[x] = med3(a, b, c)
			}
		}
		return 0
	})
	return dst
}

// med3 returns the median of three values.
func med3(a, b, c float32) float32 {
	return max(min(a, b), min(max(a, b), c))
}
