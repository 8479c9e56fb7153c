package losses_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nst-project/nst/losses"
)

// tv3d64 is TotalVariation3D's statement in float64: the squared
// differences of neighbours along depth, rows and columns of each of c
// volumes of d×h×w, over the number of values.
func tv3d64(v []float64, c, d, h, w int) float64 {
	at := func(ch, z, y, x int) float64 { return v[((ch*d+z)*h+y)*w+x] }
	var s float64
	for ch := range c {
		for z := range d {
			for y := range h {
				for x := range w {
					for _, n := range [][3]int{{z + 1, y, x}, {z, y + 1, x}, {z, y, x + 1}} {
						if n[0] < d && n[1] < h && n[2] < w {
							diff := at(ch, n[0], n[1], n[2]) - at(ch, z, y, x)
							s += diff * diff
						}
					}
				}
			}
		}
	}
	return s / float64(len(v))
}

// TestTotalVariation3D checks the volume's total variation and its
// gradient against the float64 statement and central differences, on a
// random volume and on one that varies along depth only (where the
// per-slice variation is zero); with depth 1 it is TotalVariation.
func TestTotalVariation3D(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	const c, d, h, w = 2, 3, 4, 5
	random := make([]float64, c*d*h*w)
	for i := range random {
		random[i] = float64(rng.Float32())
	}
	layered := make([]float64, c*d*h*w)
	for i := range layered {
		layered[i] = float64((i / (h * w)) % d) // slice z holds z
	}
	for name, v := range map[string][]float64{"random": random, "varying along depth only": layered} {
		t.Run(name, func(t *testing.T) {
			data := make([]float32, len(v))
			for i, x := range v {
				data[i] = float32(x)
			}
			const weight = 0.7
			grad := make([]float32, len(data))
			got, err := losses.TotalVariation3D(data, c, d, h, w, weight, grad)
			if err != nil {
				t.Fatal(err)
			}
			want := tv3d64(v, c, d, h, w)
			if want == 0 || !closeTo(got, want, 1e-12, 0) {
				t.Fatalf("J_tv = %.12g, float64 statement %.12g", got, want)
			}
			const eps = 1e-6
			for i, x := range v {
				v[i] = x + eps
				plus := tv3d64(v, c, d, h, w)
				v[i] = x - eps
				minus := tv3d64(v, c, d, h, w)
				v[i] = x
				if fd := weight * (plus - minus) / (2 * eps); math.Abs(float64(grad[i])-fd) > 1e-6 {
					t.Fatalf("grad[%d] = %.8g, finite differences %.8g", i, grad[i], fd)
				}
			}
		})
	}
	flat := make([]float32, 2*4*5)
	for i := range flat {
		flat[i] = rng.Float32()
	}
	a, err := losses.TotalVariation3D(flat, 2, 1, 4, 5, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := losses.TotalVariation(flat, 2, 4, 5, 1, nil); a != b {
		t.Errorf("depth 1: %v, TotalVariation %v", a, b)
	}
}
