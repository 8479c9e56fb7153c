package flow

import (
	"fmt"
	"math"
)

// Class says why a pixel's temporal weight is what it is.
type Class uint8

// The classes Classify assigns, in the order it tests them.
const (
	// Reliable pixels pass every test and get weight 1.
	Reliable Class = iota
	// Invalid pixels have a flow that is not finite or beyond 1e9 (the
	// Middlebury format's "unknown" value).
	Invalid
	// OutOfFrame pixels are carried by the flow outside the other frame,
	// where there is nothing to compare with.
	OutOfFrame
	// Disoccluded pixels fail the forward–backward check: the other frame
	// does not see them.
	Disoccluded
	// MotionBoundary pixels lie where the flow changes too fast to be
	// trusted.
	MotionBoundary
)

// String names the class.
func (c Class) String() string {
	switch c {
	case Reliable:
		return "reliable"
	case Invalid:
		return "invalid"
	case OutOfFrame:
		return "out of frame"
	case Disoccluded:
		return "disoccluded"
	case MotionBoundary:
		return "motion boundary"
	}
	return fmt.Sprintf("Class(%d)", uint8(c))
}

// Classify runs Ruder et al.'s consistency check on the flow w from the
// current frame to another one, using the flow back from that frame, back.
// With ŵ = back sampled bilinearly at x + w(x), a pixel x is
//
//   - Disoccluded where |w + ŵ|² > 0.01·(|w|² + |ŵ|²) + 0.5: following the
//     flow there and back does not return close to x;
//   - a MotionBoundary where |∇u|² + |∇v|² > 0.01·|w|² + 0.002, with
//     centred differences (one-sided at the border) for the gradients of
//     w's components u and v;
//
// and, before those tests, OutOfFrame where x + w(x) leaves the frame (as
// Ruder et al.'s checker does, the last row and column count as outside,
// because bilinear sampling needs a neighbour beyond them) and Invalid
// where w is not a usable number.
func Classify(w, back Field) ([]Class, error) {
	if err := w.Check(); err != nil {
		return nil, fmt.Errorf("consistency check: flow: %w", err)
	}
	if err := back.Check(); err != nil {
		return nil, fmt.Errorf("consistency check: backward flow: %w", err)
	}
	if w.W != back.W || w.H != back.H {
		return nil, fmt.Errorf("consistency check: flows differ in size: %dx%d and %dx%d", w.W, w.H, back.W, back.H)
	}
	W, H := w.W, w.H
	cls := make([]Class, W*H)
	for y := 0; y < H; y++ {
		for x := 0; x < W; x++ {
			i := y*W + x
			u, v := float64(w.U[i]), float64(w.V[i])
			if !usable(u) || !usable(v) {
				cls[i] = Invalid
				continue
			}
			bx, by := float64(x)+u, float64(y)+v
			if !(bx >= 0 && by >= 0 && bx < float64(W-1) && by < float64(H-1)) {
				cls[i] = OutOfFrame
				continue
			}
			s := newSampler(float32(bx), float32(by), W, H)
			bu, bv := float64(s.at(back.U)), float64(s.at(back.V))
			if !usable(bu) || !usable(bv) {
				cls[i] = Invalid
				continue
			}
			du, dv := u+bu, v+bv
			if du*du+dv*dv > 0.01*(u*u+v*v+bu*bu+bv*bv)+0.5 {
				cls[i] = Disoccluded
				continue
			}
			ux, uy := centred(w.U, W, H, x, y)
			vx, vy := centred(w.V, W, H, x, y)
			if ux*ux+uy*uy+vx*vx+vy*vy > 0.01*(u*u+v*v)+0.002 {
				cls[i] = MotionBoundary
			}
		}
	}
	return cls, nil
}

// Weights returns the temporal weights c ∈ {0, 1} of Ruder et al.: 1 for
// Reliable pixels, 0 for every other class. It is Classify followed by
// WeightsOf.
func Weights(w, back Field) ([]float32, error) {
	cls, err := Classify(w, back)
	if err != nil {
		return nil, err
	}
	return WeightsOf(cls), nil
}

// WeightsOf maps classes to temporal weights: 1 for Reliable, 0 otherwise.
func WeightsOf(cls []Class) []float32 {
	c := make([]float32, len(cls))
	for i, k := range cls {
		if k == Reliable {
			c[i] = 1
		}
	}
	return c
}

// usable reports whether a flow value is finite and below the Middlebury
// format's "unknown" threshold of 1e9.
func usable(v float64) bool { return math.Abs(v) < 1e9 }

// centred returns the centred differences of plane p at (x, y) in x and y,
// one-sided at the border and 0 along an axis of length one. A difference
// that involves an unusable value is +Inf, so that the neighbours of
// invalid flow count as motion boundaries.
func centred(p []float32, w, h, x, y int) (dx, dy float64) {
	diff := func(x1, y1, x0, y0 int, scale float64) float64 {
		a, b := float64(p[y1*w+x1]), float64(p[y0*w+x0])
		if !usable(a) || !usable(b) {
			return math.Inf(1)
		}
		return scale * (a - b)
	}
	switch {
	case w == 1:
	case x == 0:
		dx = diff(1, y, 0, y, 1)
	case x == w-1:
		dx = diff(x, y, x-1, y, 1)
	default:
		dx = diff(x+1, y, x-1, y, 0.5)
	}
	switch {
	case h == 1:
	case y == 0:
		dy = diff(x, 1, x, 0, 1)
	case y == h-1:
		dy = diff(x, y, x, y-1, 1)
	default:
		dy = diff(x, y+1, x, y-1, 0.5)
	}
	return dx, dy
}

// LongTermWeights turns the weights of several earlier frames into Ruder et
// al.'s long-term weights. short[j] holds the weights c of the j-th earlier
// frame in the set, closest first (for offsets J = {1, 2, 4}: frames i−1,
// i−2, i−4). Each result is
//
//	c_long[j] = max(c[j] − Σ_{k<j} c[k], 0)
//
// so a pixel counts only for the closest earlier frame that sees it and the
// long-term costs do not weigh one pixel several times. The first result
// equals short[0]. The input is not modified.
func LongTermWeights(short [][]float32) ([][]float32, error) {
	if len(short) == 0 {
		return nil, nil
	}
	n := len(short[0])
	for j, c := range short {
		if len(c) != n {
			return nil, fmt.Errorf("long-term weights: frame %d has %d weights, frame 0 has %d", j, len(c), n)
		}
	}
	covered := make([]float64, n)
	out := make([][]float32, len(short))
	for j, c := range short {
		l := make([]float32, n)
		for i, v := range c {
			l[i] = float32(max(float64(v)-covered[i], 0))
			covered[i] += float64(v)
		}
		out[j] = l
	}
	return out, nil
}
