package flow

import (
	"context"
	"fmt"
	"math"
	"runtime"
)

// Options tunes Compute. The zero value selects every default; each zero
// field selects its own default.
type Options struct {
	// Lambda weighs the data term against smoothness (default 0.15, for the
	// 0–255 working range): larger values follow the images more closely
	// and give noisier flow.
	Lambda float64
	// Theta couples the two halves of the split energy (default 0.3);
	// smaller values converge to the true TV-L1 minimum more slowly.
	Theta float64
	// Tau is the dual step (default 0.25, the largest for which Chambolle's
	// projection is proven to converge).
	Tau float64
	// Scale is the size ratio between pyramid levels, from 0.1 to 0.95
	// (default 0.5).
	Scale float64
	// MinSize stops the pyramid before the shorter side of a level drops
	// below it (default 16 pixels).
	MinSize int
	// MaxLevels caps the number of pyramid levels, the full-size frame
	// included (default 0: as many as MinSize allows).
	MaxLevels int
	// Warps is how often each level re-linearises the data term around the
	// current flow (default 5).
	Warps int
	// Iterations caps the inner iterations of one warp (default 50).
	Iterations int
	// Epsilon stops a warp's iterations early once the root mean square
	// change of the flow in one iteration falls below it, in pixels
	// (default 0.01).
	Epsilon float64
	// NoMedian turns off the 3×3 median filter applied to the flow after
	// each warp.
	NoMedian bool
	// Workers is the number of goroutines each flow computation splits its
	// rows across (default GOMAXPROCS). Bidirectional gives each direction
	// half.
	Workers int
}

// withDefaults returns o with zero fields replaced by their defaults, or an
// error naming the first invalid field.
func (o Options) withDefaults() (Options, error) {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.Lambda, 0.15)
	def(&o.Theta, 0.3)
	def(&o.Tau, 0.25)
	def(&o.Scale, 0.5)
	def(&o.Epsilon, 0.01)
	if o.MinSize == 0 {
		o.MinSize = 16
	}
	if o.Warps == 0 {
		o.Warps = 5
	}
	if o.Iterations == 0 {
		o.Iterations = 50
	}
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	bad := func(name string, v float64, lo, hi float64) error {
		if math.IsNaN(v) || v <= lo || v > hi {
			return fmt.Errorf("flow option %s = %v, want above %v and at most %v", name, v, lo, hi)
		}
		return nil
	}
	for _, c := range []error{
		bad("Lambda", o.Lambda, 0, 1e6),
		bad("Theta", o.Theta, 0, 1e6),
		bad("Tau", o.Tau, 0, 0.25),
		bad("Scale", o.Scale, 0.1, 0.95),
		bad("Epsilon", o.Epsilon, 0, 1e6),
		bad("MinSize", float64(o.MinSize), 0, 1<<20),
		bad("MaxLevels", float64(o.MaxLevels), -1, 100),
		bad("Warps", float64(o.Warps), 0, 1000),
		bad("Iterations", float64(o.Iterations), 0, 100000),
		bad("Workers", float64(o.Workers), 0, 4096),
	} {
		if c != nil {
			return o, c
		}
	}
	return o, nil
}

// Compute returns the optical flow from frame a to frame b, so that
// a(x) ≈ b(x + w(x)). The frames must have the same width and height; their
// channel counts may differ. It stops with ctx's error when ctx is cancelled
// (checked once per warp: within a few tenths of a second at 512×512).
func Compute(ctx context.Context, a, b Image, o Options) (Field, error) {
	o, err := o.withDefaults()
	if err != nil {
		return Field{}, fmt.Errorf("optical flow: %w", err)
	}
	if err := checkPair(a, b); err != nil {
		return Field{}, fmt.Errorf("optical flow: %w", err)
	}
	i0, i1 := a.gray(), b.gray()
	normalise(i0, i1)
	return tvl1(ctx, plane{a.W, a.H, i0}, plane{a.W, a.H, i1}, o)
}

// Bidirectional returns the flows from a to b and from b to a, computed at
// the same time with half of o.Workers each (at least one).
func Bidirectional(ctx context.Context, a, b Image, o Options) (ab, ba Field, err error) {
	o, err = o.withDefaults()
	if err != nil {
		return Field{}, Field{}, fmt.Errorf("optical flow: %w", err)
	}
	if err := checkPair(a, b); err != nil {
		return Field{}, Field{}, fmt.Errorf("optical flow: %w", err)
	}
	i0, i1 := a.gray(), b.gray()
	normalise(i0, i1)
	half := o
	half.Workers = max(1, o.Workers/2)
	other := half
	other.Workers = max(1, o.Workers-half.Workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		var err error
		ba, err = tvl1(ctx, plane{a.W, a.H, i1}, plane{a.W, a.H, i0}, other)
		if err != nil {
			cancel() // the other direction's result is of no use alone
		}
		done <- err
	}()
	ab, err = tvl1(ctx, plane{a.W, a.H, i0}, plane{a.W, a.H, i1}, half)
	if err != nil {
		cancel()
	}
	if err2 := <-done; err == nil {
		err = err2
	}
	if err != nil {
		return Field{}, Field{}, err
	}
	return ab, ba, nil
}

// checkPair checks that two frames are well formed and of one size.
func checkPair(a, b Image) error {
	if err := a.Check(); err != nil {
		return fmt.Errorf("first frame: %w", err)
	}
	if err := b.Check(); err != nil {
		return fmt.Errorf("second frame: %w", err)
	}
	if a.W != b.W || a.H != b.H {
		return fmt.Errorf("frames differ in size: %dx%d and %dx%d", a.W, a.H, b.W, b.H)
	}
	return nil
}

// normalise stretches a and b together, in place, to the range 0–255 that
// the default parameters are tuned for. Two constant frames become 0.
func normalise(a, b []float32) {
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, s := range [][]float32{a, b} {
		for _, v := range s {
			lo = min(lo, v)
			hi = max(hi, v)
		}
	}
	scale := float32(0)
	if hi > lo {
		scale = 255 / (hi - lo)
	}
	for _, s := range [][]float32{a, b} {
		for i, v := range s {
			s[i] = (v - lo) * scale
		}
	}
}

// presmooth is the standard deviation of the Gaussian applied to the
// full-size frames: it removes the pixel noise that the linearisation of the
// data term would otherwise amplify. It is half IPOL's 0.8, which blurs
// object edges enough that disoccluded regions grow a false ring one to two
// pixels wide.
const presmooth = 0.4

// tvl1 runs the coarse-to-fine TV-L1 minimisation from i0 to i1.
func tvl1(ctx context.Context, i0, i1 plane, o Options) (Field, error) {
	r := rows{workers: o.Workers}
	// Build the pyramids: level 0 is full size.
	p0 := []plane{blur(i0, presmooth, r)}
	p1 := []plane{blur(i1, presmooth, r)}
	// Gaussian before subsampling, with the width that keeps aliasing low
	// for the chosen scale (IPOL's 0.6·sqrt(1/s² − 1)).
	sigma := 0.6 * math.Sqrt(1/(o.Scale*o.Scale)-1)
	for {
		if o.MaxLevels > 0 && len(p0) >= o.MaxLevels {
			break
		}
		last := p0[len(p0)-1]
		w := int(math.Round(float64(last.w) * o.Scale))
		h := int(math.Round(float64(last.h) * o.Scale))
		if min(w, h) < o.MinSize || w >= last.w || h >= last.h {
			break
		}
		p0 = append(p0, resample(blur(last, sigma, r), w, h, 1, r))
		p1 = append(p1, resample(blur(p1[len(p1)-1], sigma, r), w, h, 1, r))
	}

	var u1, u2 plane
	for l := len(p0) - 1; l >= 0; l-- {
		w, h := p0[l].w, p0[l].h
		if l == len(p0)-1 {
			u1, u2 = newPlane(w, h), newPlane(w, h)
		} else {
			u1 = resample(u1, w, h, float32(w)/float32(u1.w), r)
			u2 = resample(u2, w, h, float32(h)/float32(u2.h), r)
		}
		s := newSolver(p0[l], p1[l], u1, u2, o, r)
		for range o.Warps {
			if err := ctx.Err(); err != nil {
				return Field{}, fmt.Errorf("optical flow: %w", err)
			}
			s.warp()
			s.iterate()
			if !o.NoMedian {
				s.u1 = median3(s.u1, r)
				s.u2 = median3(s.u2, r)
			}
		}
		u1, u2 = s.u1, s.u2
		u1, u2 = refine(p0[l], p1[l], u1, u2, r)
	}
	return Field{W: u1.w, H: u1.h, U: u1.p, V: u2.p}, nil
}

// solver holds one pyramid level's state: the flow (u1, u2), the dual
// variables of its two total-variation terms (p11, p12 for u1 and p21, p22
// for u2), and the data term linearised at the last warp.
type solver struct {
	o                  Options
	r                  rows
	w, h               int
	i0, i1, i1x, i1y   plane
	u1, u2             plane
	p11, p12, p21, p22 plane
	// Linearised data term: ρ(u) = rhoc + ix·u1 + iy·u2, grad = ix² + iy².
	ix, iy, grad, rhoc plane
}

func newSolver(i0, i1, u1, u2 plane, o Options, r rows) *solver {
	w, h := i0.w, i0.h
	gx, gy := gradient(i1, r)
	return &solver{
		o: o, r: r, w: w, h: h,
		i0: i0, i1: i1, i1x: gx, i1y: gy,
		u1: u1, u2: u2,
		p11: newPlane(w, h), p12: newPlane(w, h), p21: newPlane(w, h), p22: newPlane(w, h),
		ix: newPlane(w, h), iy: newPlane(w, h), grad: newPlane(w, h), rhoc: newPlane(w, h),
	}
}

// warp linearises the data term around the current flow: it samples i1 and
// its gradient at x + u(x). Where that falls outside the frame the data term
// is dropped, so that smoothness alone decides the flow there rather than a
// clamped border colour.
func (s *solver) warp() {
	w, h := s.w, s.h
	s.r.do(h, func(y0, y1 int) float64 {
		for y := y0; y < y1; y++ {
			o := y * w
			u1, u2 := s.u1.p[o:o+w], s.u2.p[o:o+w]
			i0 := s.i0.p[o : o+w]
			ix, iy, grad, rhoc := s.ix.p[o:o+w], s.iy.p[o:o+w], s.grad.p[o:o+w], s.rhoc.p[o:o+w]
			for x := range u1 {
				fx, fy := float32(x)+u1[x], float32(y)+u2[x]
				if !inside(fx, fy, w, h) {
					ix[x], iy[x], grad[x], rhoc[x] = 0, 0, 0, 0
					continue
				}
				sm := newSampler(fx, fy, w, h)
				gx, gy := sm.at(s.i1x.p), sm.at(s.i1y.p)
				ix[x], iy[x] = gx, gy
				grad[x] = gx*gx + gy*gy
				rhoc[x] = sm.at(s.i1.p) - gx*u1[x] - gy*u2[x] - i0[x]
			}
		}
		return 0
	})
}

// gradFloor is the squared image gradient below which the data term cannot
// say anything about the flow (a flat region) and thresholding leaves it be.
const gradFloor = 1e-8

// iterate runs the inner iterations of one warp: a pointwise thresholding
// step on the data term, a primal step u = v + θ·div p, and Chambolle's dual
// projection p = (p + τ/θ·∇u)/(1 + τ/θ·|∇u|) for each flow component.
func (s *solver) iterate() {
	w, h := s.w, s.h
	lt := float32(s.o.Lambda * s.o.Theta)
	theta := float32(s.o.Theta)
	taut := float32(s.o.Tau / s.o.Theta)
	stop := s.o.Epsilon * s.o.Epsilon * float64(w*h)
	primal := func(y0, y1 int) float64 {
		var change float64
		for y := y0; y < y1; y++ {
			o := y * w
			u1, u2 := s.u1.p[o:o+w], s.u2.p[o:o+w]
			ix, iy, grad, rhoc := s.ix.p[o:o+w], s.iy.p[o:o+w], s.grad.p[o:o+w], s.rhoc.p[o:o+w]
			p11, p12, p21, p22 := s.p11.p[o:o+w], s.p12.p[o:o+w], s.p21.p[o:o+w], s.p22.p[o:o+w]
			var p12up, p22up []float32
			if y > 0 {
				p12up, p22up = s.p12.p[o-w:o], s.p22.p[o-w:o]
			}
			var p11l, p21l float32 // p11, p21 at x−1 (zero left of the frame)
			for x := range u1 {
				a, b := u1[x], u2[x]
				gx, gy, g := ix[x], iy[x], grad[x]
				rho := rhoc[x] + gx*a + gy*b
				var d1, d2 float32
				switch {
				case rho < -lt*g:
					d1, d2 = lt*gx, lt*gy
				case rho > lt*g:
					d1, d2 = -lt*gx, -lt*gy
				case g > gradFloor:
					f := -rho / g
					d1, d2 = f*gx, f*gy
				}
				// Divergence: the negative adjoint of the forward differences
				// dual uses (p is zero on the last row and column).
				div1 := p11[x] - p11l
				div2 := p21[x] - p21l
				if p12up != nil {
					div1 += p12[x] - p12up[x]
					div2 += p22[x] - p22up[x]
				} else {
					div1 += p12[x]
					div2 += p22[x]
				}
				p11l, p21l = p11[x], p21[x]
				n1 := a + d1 + theta*div1
				n2 := b + d2 + theta*div2
				u1[x], u2[x] = n1, n2
				change += float64((n1-a)*(n1-a) + (n2-b)*(n2-b))
			}
		}
		return change
	}
	dual := func(y0, y1 int) float64 {
		for y := y0; y < y1; y++ {
			o := y * w
			u1, u2 := s.u1.p[o:o+w], s.u2.p[o:o+w]
			p11, p12, p21, p22 := s.p11.p[o:o+w], s.p12.p[o:o+w], s.p21.p[o:o+w], s.p22.p[o:o+w]
			var u1dn, u2dn []float32
			if y+1 < h {
				u1dn, u2dn = s.u1.p[o+w:o+2*w], s.u2.p[o+w:o+2*w]
			}
			for x := range u1 {
				var ax, ay, bx, by float32
				if x+1 < w {
					ax, bx = u1[x+1]-u1[x], u2[x+1]-u2[x]
				}
				if u1dn != nil {
					ay, by = u1dn[x]-u1[x], u2dn[x]-u2[x]
				}
				n1 := 1 + taut*sqrt32(ax*ax+ay*ay)
				n2 := 1 + taut*sqrt32(bx*bx+by*by)
				p11[x] = (p11[x] + taut*ax) / n1
				p12[x] = (p12[x] + taut*ay) / n1
				p21[x] = (p21[x] + taut*bx) / n2
				p22[x] = (p22[x] + taut*by) / n2
			}
		}
		return 0
	}
	for range s.o.Iterations {
		change := s.r.do(h, primal)
		s.r.do(h, dual)
		if change < stop {
			break
		}
	}
}

func sqrt32(v float32) float32 { return float32(math.Sqrt(float64(v))) }
