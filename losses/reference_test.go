package losses_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nst-project/nst/internal/gemm"
	"github.com/nst-project/nst/internal/ortrt"
	"github.com/nst-project/nst/losses"
)

// This file is the tests' float64 statement of the costs, written from the
// formulas in the package doc with explicit (channel, y, x) indexing and no
// code shared with the package.

// tensor is one layer's activations in float64, NCHW with batch 1.
type tensor struct {
	c, h, w int
	v       []float64
}

func (t tensor) at(ch, y, x int) float64 { return t.v[(ch*t.h+y)*t.w+x] }

// gram64 returns G[i][j] = Σ_{y,x} A[i,y,x]·A[j,y,x], channels-first.
func gram64(t tensor) [][]float64 {
	g := make([][]float64, t.c)
	for i := range t.c {
		g[i] = make([]float64, t.c)
		for j := range t.c {
			for y := range t.h {
				for x := range t.w {
					g[i][j] += t.at(i, y, x) * t.at(j, y, x)
				}
			}
		}
	}
	return g
}

// problem is a full objective in float64.
type problem struct {
	spec    losses.Spec
	content map[string]tensor   // content image's activations
	styles  []map[string]tensor // each style image's activations
	blend   []float64           // normalised
}

// costs64 returns the raw per-layer costs and J for the generated
// activations gen.
func (p problem) costs64(gen map[string]tensor) (content, style []float64, total float64) {
	var contentTotal, styleTotal float64
	for _, l := range p.spec.Content {
		g, c := gen[l.Name], p.content[l.Name]
		n := float64(g.c * g.h * g.w)
		var s float64
		for i := range g.v {
			s += (c.v[i] - g.v[i]) * (c.v[i] - g.v[i])
		}
		raw := s / (4 * n)
		content = append(content, raw)
		contentTotal += l.Weight * raw
	}
	for _, l := range p.spec.Style {
		g := gen[l.Name]
		mg := float64(g.h * g.w)
		gg := gram64(g)
		target := make([][]float64, g.c)
		for i := range target {
			target[i] = make([]float64, g.c)
		}
		for si, acts := range p.styles {
			s := acts[l.Name]
			ms := float64(s.h * s.w)
			gs := gram64(s)
			for i := range g.c {
				for j := range g.c {
					target[i][j] += p.blend[si] * gs[i][j] / ms
				}
			}
		}
		var sum float64
		for i := range g.c {
			for j := range g.c {
				d := target[i][j] - gg[i][j]/mg
				sum += d * d
			}
		}
		raw := sum / (4 * float64(g.c*g.c))
		style = append(style, raw)
		styleTotal += l.Weight * raw
	}
	return content, style, p.spec.Alpha*contentTotal + p.spec.Beta*styleTotal
}

// numGrad returns dJ/dgen[name] by central differences in float64.
func (p problem) numGrad(gen map[string]tensor, name string) []float64 {
	const h = 1e-5
	t := gen[name]
	grad := make([]float64, len(t.v))
	for i, v := range t.v {
		t.v[i] = v + h
		_, _, plus := p.costs64(gen)
		t.v[i] = v - h
		_, _, minus := p.costs64(gen)
		t.v[i] = v
		grad[i] = (plus - minus) / (2 * h)
	}
	return grad
}

// tv64 is J_tv in float64 over explicit pairs of neighbours.
func tv64(t tensor) float64 {
	var s float64
	for ch := range t.c {
		for y := range t.h {
			for x := range t.w {
				if y+1 < t.h {
					d := t.at(ch, y+1, x) - t.at(ch, y, x)
					s += d * d
				}
				if x+1 < t.w {
					d := t.at(ch, y, x+1) - t.at(ch, y, x)
					s += d * d
				}
			}
		}
	}
	return s / float64(t.c*t.h*t.w)
}

// randTensor returns float32-representable values in [0, 1) with about a
// quarter zeros, like ReLU outputs.
func randTensor(rng *rand.Rand, c, h, w int) tensor {
	t := tensor{c: c, h: h, w: w, v: make([]float64, c*h*w)}
	for i := range t.v {
		if rng.IntN(4) > 0 {
			t.v[i] = float64(rng.Float32())
		}
	}
	return t
}

// act converts a float64 tensor to the package's float32 activation.
func act(name string, t tensor) losses.Activation {
	d := make([]float32, len(t.v))
	for i, v := range t.v {
		d[i] = float32(v)
	}
	return losses.Activation{Name: name, C: t.c, H: t.h, W: t.w, Data: d}
}

func acts(names []string, ts map[string]tensor) []losses.Activation {
	var out []losses.Activation
	for _, n := range names {
		out = append(out, act(n, ts[n]))
	}
	return out
}

// kernels returns the kernels every cost test runs with.
func kernels(t testing.TB) map[string]losses.Kernel {
	t.Helper()
	if err := ortrt.Init(""); err != nil {
		t.Fatal(err)
	}
	k, err := gemm.NewORT(ortrt.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k.Close(); err != nil {
			t.Error(err)
		}
	})
	return map[string]losses.Kernel{"reference": refKernel{}, "ort": k}
}

// closeTo reports whether got is within tol of want, relative to scale.
func closeTo(got, want, tol, scale float64) bool {
	return math.Abs(got-want) <= tol*math.Max(scale, math.Abs(want))
}
