package models

import (
	"math"
	"testing"
	"unsafe"
)

// TestGradInPlace: a Net whose gradients overwrite the activations gives
// the image gradient a Net with separate gradient buffers gives, for
// every pooling, and its GradBuffers are the activations.
func TestGradInPlace(t *testing.T) {
	b, err := SynthFrom(SynthSpec{Blocks: [][]int{{4, 4}, {8}, {8}}}, 3)
	if err != nil {
		t.Fatal(err)
	}
	layers := []string{"relu1_1", "relu1_2", "relu2_1", "relu3_1"}
	img := randImage(20, 24, 5)
	for _, pooling := range []string{PoolingMax, PoolingAvg} {
		t.Run(pooling, func(t *testing.T) {
			grad := func(inPlace bool) []float32 {
				n := prepare(t, b, Options{Layers: layers, Pooling: pooling, Height: 20, Width: 24, Preprocess: ImageNetPreprocess, GradInPlace: inPlace})
				acts, err := n.Forward(img)
				if err != nil {
					t.Fatal(err)
				}
				seeds := n.GradBuffers()
				for i, a := range acts {
					if inPlace && unsafe.SliceData(seeds[i]) != unsafe.SliceData(a.Data) {
						t.Errorf("%s: gradient buffer is not the activation", a.Name)
					}
					for j, v := range a.Data {
						seeds[i][j] = float32(math.Sin(float64(j))) + 0.1*v
					}
				}
				dx, err := n.Backward()
				if err != nil {
					t.Fatal(err)
				}
				return append([]float32(nil), dx...)
			}
			want, got := grad(false), grad(true)
			var norm, diff float64
			for i := range want {
				norm = max(norm, math.Abs(float64(want[i])))
				diff = max(diff, math.Abs(float64(got[i]-want[i])))
			}
			if norm == 0 || diff > 1e-6*norm {
				t.Errorf("image gradient differs by %g (largest value %g)", diff, norm)
			}
		})
	}
}
