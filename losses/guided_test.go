package losses_test

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/nst-project/nst/losses"
)

// guidedProblem is a problem whose style images may carry masks: masks[i]
// maps a style layer to image i's h×w mask there, nil for an image that
// applies everywhere. Its costs follow the formulas in guided.go, in
// float64, with no code shared with the package.
type guidedProblem struct {
	problem
	masks []map[string][]float64
}

// costs64 returns the raw per-layer style costs and J for the generated
// activations gen.
func (p guidedProblem) costs64(gen map[string]tensor) (style []float64, total float64) {
	contentOnly := p.problem
	contentOnly.spec.Style = nil
	_, _, total = contentOnly.costs64(gen)
	for _, l := range p.spec.Style {
		g := gen[l.Name]
		c := g.c
		styleGram := func(si int) [][]float64 {
			s := p.styles[si][l.Name]
			gs := gram64(s)
			for i := range gs {
				for j := range gs[i] {
					gs[i][j] /= float64(s.h * s.w)
				}
			}
			return gs
		}
		cost := func(gg [][]float64, norm float64, target [][]float64) float64 {
			var sum float64
			for i := range c {
				for j := range c {
					d := gg[i][j]/norm - target[i][j]
					sum += d * d
				}
			}
			return sum / (4 * float64(c*c))
		}
		var raw float64
		// The unmasked images: one term with their blended target.
		var unmaskedWeight float64
		target := make([][]float64, c)
		for i := range target {
			target[i] = make([]float64, c)
		}
		for si := range p.styles {
			if p.masks[si] == nil {
				unmaskedWeight += p.blend[si]
			}
		}
		for si := range p.styles {
			if p.masks[si] != nil || unmaskedWeight == 0 {
				continue
			}
			gs := styleGram(si)
			for i := range c {
				for j := range c {
					target[i][j] += p.blend[si] / unmaskedWeight * gs[i][j]
				}
			}
		}
		if unmaskedWeight > 0 {
			raw += unmaskedWeight * cost(gram64(g), float64(g.h*g.w), target)
		}
		for si := range p.styles {
			m := p.masks[si][l.Name]
			if m == nil {
				continue
			}
			masked := tensor{c: c, h: g.h, w: g.w, v: make([]float64, len(g.v))}
			var norm float64
			for ch := range c {
				for y := range g.h {
					for x := range g.w {
						masked.v[(ch*g.h+y)*g.w+x] = g.at(ch, y, x) * m[y*g.w+x]
					}
				}
			}
			for _, v := range m {
				norm += v * v
			}
			if norm == 0 || p.blend[si] == 0 {
				continue
			}
			raw += p.blend[si] * cost(gram64(masked), norm, styleGram(si))
		}
		style = append(style, raw)
		total += p.spec.Beta * l.Weight * raw
	}
	return style, total
}

// numGrad returns dJ/dgen[name] by central differences in float64.
func (p guidedProblem) numGrad(gen map[string]tensor, name string) []float64 {
	const h = 1e-5
	t := gen[name]
	grad := make([]float64, len(t.v))
	for i, v := range t.v {
		t.v[i] = v + h
		_, plus := p.costs64(gen)
		t.v[i] = v - h
		_, minus := p.costs64(gen)
		t.v[i] = v
		grad[i] = (plus - minus) / (2 * h)
	}
	return grad
}

// packageMasks converts masks[si] to the package's masks at the generated
// activations' sizes.
func packageMasks(masks []map[string][]float64, gen map[string]tensor) [][]losses.Mask {
	out := make([][]losses.Mask, len(masks))
	for si, ms := range masks {
		if ms == nil {
			continue
		}
		out[si] = []losses.Mask{}
		for _, name := range slices.Sorted(maps.Keys(ms)) {
			d := make([]float32, len(ms[name]))
			for i, v := range ms[name] {
				d[i] = float32(v)
			}
			out[si] = append(out[si], losses.Mask{Name: name, H: gen[name].h, W: gen[name].w, Data: d})
		}
	}
	return out
}

// maskSet builds, per style layer of the fixture, a mask of the generated
// layer's size from f(y, x, h, w).
func maskSet(gen map[string]tensor, f func(layer string, y, x, h, w int) float64) map[string][]float64 {
	out := map[string][]float64{}
	for _, name := range []string{"a", "b", "d"} {
		g := gen[name]
		m := make([]float64, g.h*g.w)
		for y := range g.h {
			for x := range g.w {
				// Values float32 can hold, so that both sides see the same mask.
				m[y*g.w+x] = float64(float32(f(name, y, x, g.h, g.w)))
			}
		}
		out[name] = m
	}
	return out
}

func left(_ string, _, x, _, w int) float64 {
	if 2*x < w {
		return 1
	}
	return 0
}

func right(l string, y, x, h, w int) float64 { return 1 - left(l, y, x, h, w) }

// guidedCases are the mask arrangements every guided test runs on the
// fixture: its two style images with masks of several kinds.
func guidedCases(gen map[string]tensor) []struct {
	name  string
	masks []map[string][]float64
	blend []float64
} {
	rng := rand.New(rand.NewPCG(3, 4))
	soft := func(string, int, int, int, int) float64 { return 1.5 * rng.Float64() }
	vanishing := func(l string, y, x, h, w int) float64 {
		if l == "b" {
			return 0 // the region has no position at layer b
		}
		return left(l, y, x, h, w)
	}
	return []struct {
		name  string
		masks []map[string][]float64
		blend []float64
	}{
		{"complementary halves", []map[string][]float64{maskSet(gen, left), maskSet(gen, right)}, []float64{3, 1}},
		{"soft overlapping masks", []map[string][]float64{maskSet(gen, soft), maskSet(gen, soft)}, []float64{1, 2}},
		{"one masked, one everywhere", []map[string][]float64{maskSet(gen, right), nil}, []float64{3, 1}},
		{"region vanishing at a layer", []map[string][]float64{maskSet(gen, vanishing), maskSet(gen, right)}, []float64{1, 1}},
		{"zero-weight masked image", []map[string][]float64{maskSet(gen, left), maskSet(gen, right)}, []float64{0, 1}},
	}
}

// guidedObjective builds the fixture's objective with masked style targets.
func guidedObjective(t testing.TB, f fixture, k losses.Kernel, masks []map[string][]float64, blend []float64) *losses.Objective {
	t.Helper()
	o, err := losses.New(f.prob.spec, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.SetContentTargets(acts([]string{"c", "a", "b"}, f.prob.content)); err != nil {
		t.Fatal(err)
	}
	styles := [][]losses.Activation{acts([]string{"a", "b", "d"}, f.prob.styles[0]), acts([]string{"d", "b", "a"}, f.prob.styles[1])}
	if err := o.SetGuidedStyleTargets(styles, blend, packageMasks(masks, f.gen)); err != nil {
		t.Fatal(err)
	}
	return o
}

func normalised(blend []float64) []float64 {
	var s float64
	for _, v := range blend {
		s += v
	}
	out := make([]float64, len(blend))
	for i, v := range blend {
		out[i] = v / s
	}
	return out
}

// TestGuidedCostsAndGradients checks guided costs against the float64
// statement and every gradient value against its central differences.
func TestGuidedCostsAndGradients(t *testing.T) {
	f := newFixture()
	ks := kernels(t)
	for _, c := range guidedCases(f.gen) {
		p := guidedProblem{problem: f.prob, masks: c.masks}
		p.blend = normalised(c.blend)
		wantStyle, wantTotal := p.costs64(f.gen)
		want := map[string][]float64{}
		for _, n := range f.names {
			want[n] = p.numGrad(f.gen, n)
		}
		for name, k := range ks {
			t.Run(c.name+"/"+name, func(t *testing.T) {
				costs, grads := f.eval(t, guidedObjective(t, f, k, c.masks, c.blend))
				const tol = 1e-6
				for i, w := range wantStyle {
					if !closeTo(costs.Style[i], w, tol, 0) {
						t.Errorf("style[%d] = %.10g, want %.10g", i, costs.Style[i], w)
					}
				}
				if !closeTo(costs.Total, wantTotal, tol, 0) {
					t.Errorf("total = %.10g, want %.10g", costs.Total, wantTotal)
				}
				for _, n := range f.names {
					scale := 0.0
					for _, v := range want[n] {
						scale = math.Max(scale, math.Abs(v))
					}
					if n != "unused" && scale == 0 {
						t.Fatalf("layer %s: reference gradient is all zero; the check would be vacuous", n)
					}
					for i, g := range grads[n] {
						if !(math.Abs(float64(g)-want[n][i]) <= 1e-5*scale) {
							t.Fatalf("layer %s: grad[%d] = %.8g, finite differences %.8g (layer max %.3g)", n, i, g, want[n][i], scale)
						}
					}
				}
			})
		}
	}
}

// TestGuidedMasksMatter guards the test above against masks that change
// nothing: each arrangement must give other costs than no masks at all.
func TestGuidedMasksMatter(t *testing.T) {
	f := newFixture()
	k := kernels(t)["reference"]
	plain, _ := f.eval(t, f.objective(t, k))
	for _, c := range guidedCases(f.gen) {
		guided, _ := f.eval(t, guidedObjective(t, f, k, c.masks, c.blend))
		if guided.StyleTotal == plain.StyleTotal {
			t.Errorf("%s: style cost %v equals the unmasked one", c.name, guided.StyleTotal)
		}
	}
}

// TestGuidedAllOnesIsUnmasked checks that masks of all ones on every style
// give the unmasked objective exactly, bit for bit, and that masks of all
// nil take the unmasked path.
func TestGuidedAllOnesIsUnmasked(t *testing.T) {
	f := newFixture()
	ones := func(string, int, int, int, int) float64 { return 1 }
	for name, k := range kernels(t) {
		t.Run(name, func(t *testing.T) {
			plainCosts, plainGrads := f.eval(t, f.objective(t, k))
			for _, masks := range [][]map[string][]float64{
				{maskSet(f.gen, ones), maskSet(f.gen, ones)},
				{nil, nil},
			} {
				// One masked image with weight 1 and a zero-weight one:
				// the blend of the fixture (3:1) is not a sum of masked
				// terms, so compare single-style objectives.
				single := func(guided bool) (*losses.Costs, map[string][]float32) {
					o, err := losses.New(f.prob.spec, k)
					if err != nil {
						t.Fatal(err)
					}
					if err := o.SetContentTargets(acts([]string{"c", "a", "b"}, f.prob.content)); err != nil {
						t.Fatal(err)
					}
					styles := [][]losses.Activation{acts([]string{"a", "b", "d"}, f.prob.styles[0])}
					if guided {
						err = o.SetGuidedStyleTargets(styles, nil, packageMasks(masks[:1], f.gen))
					} else {
						err = o.SetGuidedStyleTargets(styles, nil, nil)
					}
					if err != nil {
						t.Fatal(err)
					}
					return f.eval(t, o)
				}
				wantCosts, wantGrads := single(false)
				gotCosts, gotGrads := single(true)
				if fmt.Sprint(gotCosts) != fmt.Sprint(wantCosts) {
					t.Errorf("masks %v: costs %+v, unmasked %+v", masks[0] != nil, gotCosts, wantCosts)
				}
				for n, g := range wantGrads {
					if !slices.Equal(gotGrads[n], g) {
						t.Errorf("masks %v: layer %s gradient differs from the unmasked one", masks[0] != nil, n)
					}
				}
			}
			// Masks all nil with the blend: the same as no masks at all.
			o, err := losses.New(f.prob.spec, k)
			if err != nil {
				t.Fatal(err)
			}
			if err := o.SetContentTargets(acts([]string{"c", "a", "b"}, f.prob.content)); err != nil {
				t.Fatal(err)
			}
			styles := [][]losses.Activation{acts([]string{"a", "b", "d"}, f.prob.styles[0]), acts([]string{"d", "b", "a"}, f.prob.styles[1])}
			if err := o.SetGuidedStyleTargets(styles, []float64{3, 1}, [][]losses.Mask{nil, nil}); err != nil {
				t.Fatal(err)
			}
			costs, grads := f.eval(t, o)
			if fmt.Sprint(costs) != fmt.Sprint(plainCosts) {
				t.Errorf("nil masks: costs %+v, without masks %+v", costs, plainCosts)
			}
			for n, g := range plainGrads {
				if !slices.Equal(grads[n], g) {
					t.Errorf("nil masks: layer %s gradient differs", n)
				}
			}
		})
	}
}

func TestGuidedErrors(t *testing.T) {
	f := newFixture()
	k := kernels(t)["reference"]
	styles := func() [][]losses.Activation {
		return [][]losses.Activation{acts([]string{"a", "b", "d"}, f.prob.styles[0]), acts([]string{"a", "b", "d"}, f.prob.styles[1])}
	}
	good := func() [][]losses.Mask {
		return packageMasks([]map[string][]float64{maskSet(f.gen, left), maskSet(f.gen, right)}, f.gen)
	}
	cases := []struct {
		name  string
		masks func() [][]losses.Mask
		want  string
	}{
		{"mask count", func() [][]losses.Mask { return good()[:1] }, "masks for 1 style images, 2 images given"},
		{"layer missing", func() [][]losses.Mask { m := good(); m[1] = m[1][1:]; return m }, `style image 1: no mask for style layer "a"`},
		{"layer twice", func() [][]losses.Mask { m := good(); m[0] = append(m[0], m[0][0]); return m }, `two masks for layer "a"`},
		{"short data", func() [][]losses.Mask { m := good(); m[0][1].Data = m[0][1].Data[:2]; return m }, `mask of layer "b": 2 values for 2×3`},
		{"zero size", func() [][]losses.Mask { m := good(); m[0][1].H = 0; return m }, "want positive"},
		{"negative value", func() [][]losses.Mask { m := good(); m[1][2].Data[3] = -0.5; return m }, `mask of layer "d": value -0.5 at 3`},
		{"NaN value", func() [][]losses.Mask { m := good(); m[1][2].Data[0] = float32(math.NaN()); return m }, "value NaN"},
		{"infinite value", func() [][]losses.Mask { m := good(); m[0][0].Data[0] = float32(math.Inf(1)); return m }, "value +Inf"},
		{"sizes disagree", func() [][]losses.Mask {
			m := good()
			m[1][0].H, m[1][0].W = m[1][0].W, m[1][0].H
			return m
		}, `style layer "a": masks of 5×4 and 4×5`},
	}
	o := guidedObjective(t, f, k, []map[string][]float64{maskSet(f.gen, left), maskSet(f.gen, right)}, []float64{1, 1})
	before, _ := f.eval(t, o)
	want := fmt.Sprint(before)
	for _, c := range cases {
		err := o.SetGuidedStyleTargets(styles(), nil, c.masks())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
		// A rejected call leaves the previous targets in place.
		if after, _ := f.eval(t, o); fmt.Sprint(after) != want {
			t.Errorf("%s: costs changed after a rejected call: %+v, was %s", c.name, after, want)
		}
	}

	// Masks are at the generated image's sizes: other activations fail.
	bad := acts(f.names, f.gen)
	for i := range bad {
		if bad[i].Name == "b" {
			bad[i].H, bad[i].W = bad[i].W, bad[i].H
		}
	}
	grads := make([][]float32, len(bad))
	for i, a := range bad {
		grads[i] = make([]float32, len(a.Data))
	}
	if err := o.Eval(o.NewCosts(), bad, grads); err == nil || !strings.Contains(err.Error(), `style layer "b": masks of 2×3, activations of 3×2`) {
		t.Errorf("Eval at another size: %v", err)
	}
}

// TestGuidedEvalDoesNotAllocate checks the guided path as
// TestEvalDoesNotAllocate checks the plain one.
func TestGuidedEvalDoesNotAllocate(t *testing.T) {
	f := newFixture()
	as := acts(f.names, f.gen)
	grads := make([][]float32, len(as))
	for i, a := range as {
		grads[i] = make([]float32, len(a.Data))
	}
	masks := []map[string][]float64{maskSet(f.gen, left), maskSet(f.gen, right)}
	for name, k := range kernels(t) {
		t.Run(name, func(t *testing.T) {
			o := guidedObjective(t, f, k, masks, nil)
			costs := o.NewCosts()
			step := func() {
				if err := o.Eval(costs, as, grads); err != nil {
					t.Fatal(err)
				}
			}
			step()
			got := testing.AllocsPerRun(5, step)
			// Two guides per style layer: twice the plain products.
			calls := kernelCalls(t, k, as)
			calls()
			floor := 2 * testing.AllocsPerRun(5, calls)
			if got > floor {
				t.Errorf("%v allocations per guided Eval, want at most %v (the kernel's own)", got, floor)
			}
			t.Logf("%v allocations per guided Eval (kernel floor %v)", got, floor)
		})
	}
}

// TestGuidedStyleImagesAreNotKeptAlive checks that a kernel holding on to
// its buffers holds nothing after guided targets: none of the style
// images, nor the scratch their Grams were computed in.
func TestGuidedStyleImagesAreNotKeptAlive(t *testing.T) {
	f := newFixture()
	k := &holdingKernel{}
	guidedObjective(t, f, k, []map[string][]float64{maskSet(f.gen, left), nil}, nil)
	if n, bytes := k.holding(); n != 0 {
		t.Errorf("after SetGuidedStyleTargets: %d wrappers of %d bytes, want none", n, bytes)
	}
}

// BenchmarkEvalGuided measures one iteration with two half-image masks at
// VGG19's shapes, to compare with BenchmarkEval/ort, e.g.
// go test -run - -bench 'Eval(Guided)?/ort' -benchtime=3x ./losses/
func BenchmarkEvalGuided(b *testing.B) {
	k := kernels(b)["ort"]
	for _, size := range []int{256, 512} {
		rng := rand.New(rand.NewPCG(uint64(size), 1))
		content, _ := vgg19(rng, size)
		style0, _ := vgg19(rng, size)
		style1, _ := vgg19(rng, size)
		gen, _ := vgg19(rng, size)
		grads := make([][]float32, len(gen))
		for i, a := range gen {
			grads[i] = make([]float32, len(a.Data))
		}
		halves := [][]losses.Mask{nil, nil}
		for _, a := range gen {
			l, r := make([]float32, a.H*a.W), make([]float32, a.H*a.W)
			for p := range l {
				if 2*(p%a.W) < a.W {
					l[p] = 1
				} else {
					r[p] = 1
				}
			}
			halves[0] = append(halves[0], losses.Mask{Name: a.Name, H: a.H, W: a.W, Data: l})
			halves[1] = append(halves[1], losses.Mask{Name: a.Name, H: a.H, W: a.W, Data: r})
		}
		b.Run(fmt.Sprintf("ort/%dpx", size), func(b *testing.B) {
			o, err := losses.New(vggSpec, k)
			if err != nil {
				b.Fatal(err)
			}
			if err := o.SetContentTargets(content); err != nil {
				b.Fatal(err)
			}
			if err := o.SetGuidedStyleTargets([][]losses.Activation{style0, style1}, nil, halves); err != nil {
				b.Fatal(err)
			}
			costs := o.NewCosts()
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
			b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/eval")
		})
	}
}
