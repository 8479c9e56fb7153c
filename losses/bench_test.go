package losses_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/nst-project/nst/losses"
)

// vgg19 returns the activations Eval sees for VGG19 at size×size pixels:
// style layers relu1_1..relu5_1 and content layer relu4_2, with ReLU-like
// random values, and the flops of the style products.
func vgg19(rng *rand.Rand, size int) ([]losses.Activation, float64) {
	layers := []struct {
		name   string
		c, div int
	}{{"relu1_1", 64, 1}, {"relu2_1", 128, 2}, {"relu3_1", 256, 4}, {"relu4_1", 512, 8}, {"relu4_2", 512, 8}, {"relu5_1", 512, 16}}
	var as []losses.Activation
	var flops float64
	for _, l := range layers {
		side := size / l.div
		a := losses.Activation{Name: l.name, C: l.c, H: side, W: side, Data: make([]float32, l.c*side*side)}
		for i := range a.Data {
			if rng.IntN(2) == 0 {
				a.Data[i] = 2 * rng.Float32()
			}
		}
		as = append(as, a)
		if l.name != "relu4_2" {
			flops += 4 * float64(l.c) * float64(l.c) * float64(side*side) // Gram and gradient
		}
	}
	return as, flops
}

var vggSpec = losses.Spec{
	Content: []losses.Layer{{Name: "relu4_2", Weight: 1}},
	Style: []losses.Layer{
		{Name: "relu1_1", Weight: 0.2}, {Name: "relu2_1", Weight: 0.2}, {Name: "relu3_1", Weight: 0.2},
		{Name: "relu4_1", Weight: 0.2}, {Name: "relu5_1", Weight: 0.2},
	},
	Alpha: 1, Beta: 1e3,
}

// vggObjective returns an objective over vggSpec on k with the targets of
// content and style set.
func vggObjective(b *testing.B, k losses.Kernel, content, style []losses.Activation) *losses.Objective {
	b.Helper()
	o, err := losses.New(vggSpec, k)
	if err != nil {
		b.Fatal(err)
	}
	if err := o.SetContentTargets(content); err != nil {
		b.Fatal(err)
	}
	if err := o.SetGuidedStyleTargets([][]losses.Activation{style}, nil, nil); err != nil {
		b.Fatal(err)
	}
	return o
}

// BenchmarkEval measures one iteration's content and style costs and
// gradients at VGG19's shapes, e.g.
// go test -run - -bench Eval/ort -benchtime=3x ./losses/
func BenchmarkEval(b *testing.B) {
	ks := kernels(b)
	for _, size := range []int{256, 512} {
		rng := rand.New(rand.NewPCG(uint64(size), 1))
		content, _ := vgg19(rng, size)
		style, _ := vgg19(rng, size)
		gen, flops := vgg19(rng, size)
		grads := make([][]float32, len(gen))
		for i, a := range gen {
			grads[i] = make([]float32, len(a.Data))
		}
		for _, name := range []string{"ort", "reference"} {
			b.Run(fmt.Sprintf("%s/%dpx", name, size), func(b *testing.B) {
				o := vggObjective(b, ks[name], content, style)
				costs := o.NewCosts()
				// One Eval before timing: the ORT kernel wraps the buffers
				// and the gradients' pages are faulted in, as in the first
				// iteration of a run.
				if err := o.Eval(costs, gen, grads); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if err := o.Eval(costs, gen, grads); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/eval")
			})
		}
	}
}

// BenchmarkEvalInPlace is BenchmarkEval for EvalInPlace, to compare the
// blocked gradients with Eval's whole-layer products, e.g.
// go test -run - -bench 'Eval(InPlace)?/ort/512' -benchtime=3x ./losses/
// Restoring the activations before each iteration, as the backbone's
// forward pass would, is not timed.
func BenchmarkEvalInPlace(b *testing.B) {
	ks := kernels(b)
	for _, size := range []int{256, 512} {
		rng := rand.New(rand.NewPCG(uint64(size), 1))
		content, _ := vgg19(rng, size)
		style, _ := vgg19(rng, size)
		orig, flops := vgg19(rng, size)
		gen := make([]losses.Activation, len(orig))
		for i, a := range orig {
			gen[i] = a
			gen[i].Data = slices.Clone(a.Data)
		}
		restore := func() {
			for i, a := range orig {
				copy(gen[i].Data, a.Data)
			}
		}
		for _, name := range []string{"ort", "reference"} {
			b.Run(fmt.Sprintf("%s/%dpx", name, size), func(b *testing.B) {
				o := vggObjective(b, ks[name], content, style)
				costs := o.NewCosts()
				// One call before timing, as for BenchmarkEval.
				if err := o.EvalInPlace(costs, gen); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					b.StopTimer()
					restore()
					b.StartTimer()
					if err := o.EvalInPlace(costs, gen); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/eval")
			})
		}
	}
}

func BenchmarkTotalVariation(b *testing.B) {
	for _, size := range []int{256, 512} {
		b.Run(fmt.Sprintf("%dpx", size), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			img := make([]float32, 3*size*size)
			for i := range img {
				img[i] = rng.Float32()
			}
			grad := make([]float32, len(img))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := losses.TotalVariation(img, 3, size, size, 1e-2, grad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
