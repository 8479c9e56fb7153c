package flow

import (
	"math"
	"math/rand/v2"
)

// texture returns a w×h smooth random texture with values in [0, 1]: three
// octaves of uniform noise blurred by Gaussians of standard deviation sigma,
// 2·sigma and 4·sigma, each weighted by its width, which gives both the fine
// detail the data term locks onto and the coarse structure the coarse
// pyramid levels see, as in natural images. The same seed gives the same
// texture.
func texture(w, h int, sigma float64, seed uint64) plane {
	rng := rand.New(rand.NewPCG(seed, 1))
	p := newPlane(w, h)
	for _, s := range []float64{sigma, 2 * sigma, 4 * sigma} {
		q := newPlane(w, h)
		for i := range q.p {
			q.p[i] = rng.Float32()
		}
		q = blur(q, s, rows{workers: 1})
		for i := range p.p {
			p.p[i] += float32(s) * q.p[i]
		}
	}
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, v := range p.p {
		lo, hi = min(lo, v), max(hi, v)
	}
	for i, v := range p.p {
		p.p[i] = (v - lo) / (hi - lo)
	}
	return p
}

// crop returns the w×h window of src whose top-left corner is (x0, y0).
func crop(src plane, x0, y0, w, h int) plane {
	d := newPlane(w, h)
	for y := 0; y < h; y++ {
		copy(d.p[y*w:(y+1)*w], src.p[(y0+y)*src.w+x0:])
	}
	return d
}

// grey wraps a plane as a one-channel Image.
func grey(p plane) Image { return Image{C: 1, H: p.h, W: p.w, Pix: p.p} }

// shiftedPair returns two w×h crops of one texture such that a(x) = b(x+d)
// for the integer displacement d = (dx, dy), |dx|, |dy| ≤ 16: the true flow
// from a to b is d everywhere.
func shiftedPair(w, h, dx, dy int, seed uint64) (a, b Image) {
	const m = 16
	t := texture(w+2*m, h+2*m, 2, seed)
	return grey(crop(t, m, m, w, h)), grey(crop(t, m-dx, m-dy, w, h))
}

// meanEPE returns the mean end-point error of f against the constant flow
// (du, dv) over the pixels at least border pixels from the frame's edge.
func meanEPE(f Field, du, dv float64, border int) float64 {
	var sum float64
	var n int
	for y := border; y < f.H-border; y++ {
		for x := border; x < f.W-border; x++ {
			i := y*f.W + x
			sum += math.Hypot(float64(f.U[i])-du, float64(f.V[i])-dv)
			n++
		}
	}
	return sum / float64(n)
}

// scene is a synthetic frame pair with known flow and disocclusions.
type scene struct {
	a, b Image
	// disoccB marks the pixels of b that a does not show: background the
	// square uncovered. They are the true disoccluded region of the flow
	// from b to a.
	disoccB []bool
}

// movingSquare draws a w×h scene: a textured background that moves by
// (bx, by) between the frames and a differently textured square of side sq,
// brighter than the background on average, whose top-left corner moves from
// (sx, sy) in a to (sx+fx, sy+fy) in b. Displacements are integers (at most
// 16 for the background) so that both frames are exact crops.
func movingSquare(w, h, bx, by, sx, sy, sq, fx, fy int, seed uint64) scene {
	const m = 16
	bg := texture(w+2*m, h+2*m, 2, seed)
	// The square's texture is cut from a frame-sized one, so that it has the
	// background's detail rather than one large-scale blob.
	fg := crop(texture(w, h, 2, seed+1), 0, 0, sq, sq)
	draw := func(offx, offy, x0, y0 int) plane {
		p := crop(bg, m-offx, m-offy, w, h)
		for y := 0; y < sq; y++ {
			for x := 0; x < sq; x++ {
				if xx, yy := x0+x, y0+y; xx >= 0 && yy >= 0 && xx < w && yy < h {
					p.p[yy*w+xx] = 0.5 + 0.5*fg.p[y*sq+x]
				}
			}
		}
		return p
	}
	inA := func(x, y int) bool { return x >= sx && x < sx+sq && y >= sy && y < sy+sq }
	inB := func(x, y int) bool { return inA(x-fx, y-fy) }
	s := scene{a: grey(draw(0, 0, sx, sy)), b: grey(draw(bx, by, sx+fx, sy+fy)), disoccB: make([]bool, w*h)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			s.disoccB[y*w+x] = inA(x-bx, y-by) && !inB(x, y)
		}
	}
	return s
}
