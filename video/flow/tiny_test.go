package flow

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestTinyFrames checks that frames down to one pixel, and thin strips,
// give a finite flow of their size rather than a panic.
func TestTinyFrames(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range [][2]int{{1, 1}, {1, 5}, {5, 1}, {2, 2}, {3, 40}, {40, 3}, {17, 16}} {
		t.Run(fmt.Sprintf("%dx%d", s[0], s[1]), func(t *testing.T) {
			w, h := s[0], s[1]
			a := Image{C: 1, W: w, H: h, Pix: make([]float32, w*h)}
			b := Image{C: 1, W: w, H: h, Pix: make([]float32, w*h)}
			for i := range a.Pix {
				a.Pix[i], b.Pix[i] = rng.Float32(), rng.Float32()
			}
			ab, ba, err := Bidirectional(context.Background(), a, b, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []Field{ab, ba} {
				if err := f.Check(); err != nil || f.W != w || f.H != h {
					t.Fatalf("flow %dx%d: %v", f.W, f.H, err)
				}
				for i := range f.U {
					if !usable(float64(f.U[i])) || !usable(float64(f.V[i])) {
						t.Fatalf("flow (%v, %v) at %d", f.U[i], f.V[i], i)
					}
				}
			}
			if _, err := Weights(ab, ba); err != nil {
				t.Fatal(err)
			}
		})
	}
}
