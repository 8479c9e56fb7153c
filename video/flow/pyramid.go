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
func median3(src plane, r rows) plane {
	w, h := src.w, src.h
	dst := newPlane(w, h)
	r.do(h, func(y0, y1 int) float64 {
		for y := y0; y < y1; y++ {
			up := src.p[max(y-1, 0)*w:][:w]
			mid := src.p[y*w:][:w]
			dn := src.p[min(y+1, h-1)*w:][:w]
			d := dst.p[y*w:][:w]
			for x := range d {
				xl, xr := max(x-1, 0), min(x+1, w-1)
				d[x] = median9(up[xl], up[x], up[xr], mid[xl], mid[x], mid[xr], dn[xl], dn[x], dn[xr])
			}
		}
		return 0
	})
	return dst
}

// median9 returns the median of nine values with Paeth's 19-exchange
// network, which only orders as far as the middle element needs.
func median9(p0, p1, p2, p3, p4, p5, p6, p7, p8 float32) float32 {
	p1, p2 = sort2(p1, p2)
	p4, p5 = sort2(p4, p5)
	p7, p8 = sort2(p7, p8)
	p0, p1 = sort2(p0, p1)
	p3, p4 = sort2(p3, p4)
	p6, p7 = sort2(p6, p7)
	p1, p2 = sort2(p1, p2)
	p4, p5 = sort2(p4, p5)
	p7, p8 = sort2(p7, p8)
	_, p3 = sort2(p0, p3)
	p5, _ = sort2(p5, p8)
	p4, p7 = sort2(p4, p7)
	p3, p6 = sort2(p3, p6)
	_, p4 = sort2(p1, p4)
	p2, _ = sort2(p2, p5)
	p4, _ = sort2(p4, p7)
	p4, p2 = sort2(p4, p2)
	p6, p4 = sort2(p6, p4)
	p4, _ = sort2(p4, p2)
	return p4
}

// sort2 returns a and b in ascending order.
func sort2(a, b float32) (float32, float32) {
	if a > b {
		return b, a
	}
	return a, b
}
