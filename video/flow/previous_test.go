package flow

import (
	"context"
	"math"
	"testing"
)

// TestPrepare checks the whole per-frame path on a panning texture: with
// the earlier frame itself as its "stylised" result, the warped frame
// matches the current frame wherever the weights are 1, the weights are 1
// on nearly all of the interior, and pixels whose source panned in from
// outside the earlier frame get weight 0.
func TestPrepare(t *testing.T) {
	const w, h, dx, dy = 96, 80, 3, -2
	cur, prev := shiftedPair(w, h, dx, dy, 11) // cur(x) = prev(x + (3, −2))
	rgb := func(g Image) []float32 {
		n := w * h
		out := make([]float32, 3*n)
		for i, v := range g.Pix {
			out[i], out[n+i], out[2*n+i] = v, v*v, 1-v
		}
		return out
	}
	stylised := rgb(prev)
	want := rgb(cur)
	p, err := Prepare(context.Background(), cur, prev, stylised, 3, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var reliable, interior int
	var maxErr float64
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			if x > w-1-dx || y < -dy {
				// The source lies outside the earlier frame.
				if p.Weights[i] != 0 {
					t.Fatalf("(%d, %d): weight %v for a pixel from outside the frame (%v)", x, y, p.Weights[i], p.Classes[i])
				}
				continue
			}
			if x == w-1-dx {
				// The source is on the last column, which the check counts
				// as outside (no neighbour to interpolate with): either is right.
				continue
			}
			interior++
			if p.Weights[i] == 0 {
				continue
			}
			reliable++
			for k := 0; k < 3; k++ {
				maxErr = math.Max(maxErr, math.Abs(float64(p.Warped[k*w*h+i]-want[k*w*h+i])))
			}
		}
	}
	if frac := float64(reliable) / float64(interior); frac < 0.95 {
		t.Errorf("%.3f of the interior reliable, want ≥ 0.95", frac)
	}
	if maxErr > 0.02 {
		t.Errorf("warped frame differs from the current one by up to %.4f on reliable pixels, want ≤ 0.02", maxErr)
	}
	if p.Forward.W != w || p.Backward.H != h {
		t.Error("flows missing from the result")
	}
	if _, err := Prepare(context.Background(), cur, prev, stylised[:10], 3, Options{}); err == nil {
		t.Error("short stylised frame: no error")
	}
}
