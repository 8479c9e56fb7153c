package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// styleShapes are VGG19's style layers relu1_1..relu5_1 as [channels,
// positions] at an input of size×size pixels.
func styleShapes(size int) [][2]int {
	var shapes [][2]int
	for i, c := range []int{64, 128, 256, 512, 512} {
		side := size >> i
		shapes = append(shapes, [2]int{c, side * side})
	}
	return shapes
}

// BenchmarkGram and BenchmarkMatMul run the two products of one style layer
// (Gram, then gradient) per kernel at 256 and 512 px, e.g.
// go test -bench . -benchtime=3x ./internal/gemm/
func BenchmarkGram(b *testing.B) {
	benchProducts(b, func(k kernel, c, m int, a, g, d []float32) error {
		return k.Gram(g, a, c, m)
	})
}

func BenchmarkMatMul(b *testing.B) {
	benchProducts(b, func(k kernel, c, m int, a, g, d []float32) error {
		return k.MatMul(d, g, a, c, c, m)
	})
}

func benchProducts(b *testing.B, product func(k kernel, c, m int, a, g, d []float32) error) {
	kernels := map[string]kernel{"ort": newORT(b), "reference": &reference{}}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, size := range []int{256, 512} {
		for _, s := range styleShapes(size) {
			c, m := s[0], s[1]
			a := randMatrix(rng, c*m, false)
			g := randMatrix(rng, c*c, true)
			// Touched before timing, like the pipeline's reused gradient
			// buffers: a fresh output would add its page faults to the first
			// run, tens of milliseconds at 512 px.
			d := randMatrix(rng, c*m, false)
			for _, name := range []string{"ort", "reference"} {
				b.Run(fmt.Sprintf("%s/%dpx/%dx%d", name, size, c, m), func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if err := product(kernels[name], c, m, a, g, d); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(2*float64(c)*float64(c)*float64(m)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}
