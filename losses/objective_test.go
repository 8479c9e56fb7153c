package losses_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/nst-project/nst/losses"
)

// The hand-computed case: one layer of 2 channels of 2×3 (M = 6).
//
//	generated A = [1 2 3 4 5 6 | 6 5 4 3 2 1]
//	target    S = [1 0 1 0 1 0 | 0 1 0 1 0 1]
//
// Channels first, G_G = [[91, 56], [56, 91]] and G_S = [[3, 0], [0, 3]].
// (Reading the data as [M, C] would give G_G = [[91, 88], [88, 91]].)
//
//	J_style   = (88² + 56² + 56² + 88²)/(4·2²·6²) = 21760/576 = 340/9
//	dJ/dA     = 4·(G_G − G_S)·A/576 = [[88, 56], [56, 88]]·A/144
//	          = [424 456 488 520 552 584 | 584 552 520 488 456 424]/144
//	J_content = Σ (A − S)²/(4·12) = 152/48 = 19/6, A − S = [0 2 2 4 4 6 | 6 4 4 2 2 0]
//	dJ/dA     = (A − S)/24
var (
	handA = []float32{1, 2, 3, 4, 5, 6, 6, 5, 4, 3, 2, 1}
	handS = []float32{1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1}
)

func handStyleGrad() []float64 {
	g := []float64{424, 456, 488, 520, 552, 584, 584, 552, 520, 488, 456, 424}
	for i := range g {
		g[i] /= 144
	}
	return g
}

func handContentGrad() []float64 {
	g := []float64{0, 2, 2, 4, 4, 6, 6, 4, 4, 2, 2, 0}
	for i := range g {
		g[i] /= 24
	}
	return g
}

func TestHandComputedCosts(t *testing.T) {
	layer := []losses.Layer{{Name: "l", Weight: 1}}
	cases := []struct {
		name         string
		spec         losses.Spec
		content      []float64
		style        []float64
		total        float64
		contentScale float64 // weight of the content gradient in the result
		styleScale   float64
	}{
		{"style only", losses.Spec{Style: layer, Beta: 1}, nil, []float64{340.0 / 9}, 340.0 / 9, 0, 1},
		{"content only", losses.Spec{Content: layer, Alpha: 1}, []float64{19.0 / 6}, nil, 19.0 / 6, 1, 0},
		{"both on one layer", losses.Spec{Content: layer, Style: layer, Alpha: 2, Beta: 3}, []float64{19.0 / 6}, []float64{340.0 / 9}, 359.0 / 3, 2, 3},
	}
	for name, k := range kernels(t) {
		for _, c := range cases {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				o, err := losses.New(c.spec, k)
				if err != nil {
					t.Fatal(err)
				}
				target := []losses.Activation{{Name: "l", C: 2, H: 2, W: 3, Data: handS}}
				if err := o.SetContentTargets(target); err != nil {
					t.Fatal(err)
				}
				if err := o.SetGuidedStyleTargets([][]losses.Activation{target}, nil, nil); err != nil {
					t.Fatal(err)
				}
				grad := make([]float32, 12)
				costs := o.NewCosts()
				if err := o.Eval(costs, []losses.Activation{{Name: "l", C: 2, H: 2, W: 3, Data: handA}}, [][]float32{grad}); err != nil {
					t.Fatal(err)
				}
				for i, want := range c.content {
					if math.Abs(costs.Content[i]-want) > 1e-9 {
						t.Errorf("content cost %.12g, want %.12g", costs.Content[i], want)
					}
				}
				for i, want := range c.style {
					if math.Abs(costs.Style[i]-want) > 1e-9 {
						t.Errorf("style cost %.12g, want %.12g", costs.Style[i], want)
					}
				}
				if math.Abs(costs.Total-c.total) > 1e-9 {
					t.Errorf("total %.12g, want %.12g", costs.Total, c.total)
				}
				cg, sg := handContentGrad(), handStyleGrad()
				for i, g := range grad {
					want := c.contentScale*cg[i] + c.styleScale*sg[i]
					// The gradient is float32: allow its rounding, 2⁻²³ relative.
					if math.Abs(float64(g)-want) > 1e-9+math.Abs(want)*0x1p-22 {
						t.Errorf("grad[%d] = %.9g, want %.9g", i, g, want)
					}
				}
			})
		}
	}
}

// fixture is an objective over layers where nC, nH and nW all differ, two
// content layers, three style layers (one shared with content), two blended
// style images of other sizes than the generated image, and one activation
// no cost uses.
type fixture struct {
	prob  problem
	gen   map[string]tensor
	names []string // the generated image's activations, in the order given
}

func newFixture() fixture {
	rng := rand.New(rand.NewPCG(7, 11))
	shapes := map[string][3]int{"a": {3, 5, 4}, "b": {5, 2, 3}, "c": {4, 3, 7}, "d": {2, 3, 4}, "unused": {2, 2, 2}}
	gen := map[string]tensor{}
	content := map[string]tensor{}
	for n, s := range shapes {
		gen[n] = randTensor(rng, s[0], s[1], s[2])
		content[n] = randTensor(rng, s[0], s[1], s[2])
	}
	style0 := map[string]tensor{"a": randTensor(rng, 3, 6, 5), "b": randTensor(rng, 5, 3, 2), "d": randTensor(rng, 2, 4, 5)}
	style1 := map[string]tensor{"a": randTensor(rng, 3, 4, 4), "b": randTensor(rng, 5, 2, 2), "d": randTensor(rng, 2, 2, 7)}
	return fixture{
		prob: problem{
			spec: losses.Spec{
				Content: []losses.Layer{{Name: "a", Weight: 0.7}, {Name: "c", Weight: 1.3}},
				Style:   []losses.Layer{{Name: "b", Weight: 2}, {Name: "a", Weight: 0.5}, {Name: "d", Weight: 1.5}},
				Alpha:   2.5, Beta: 40, TV: 3,
			},
			content: content,
			styles:  []map[string]tensor{style0, style1},
			blend:   []float64{0.75, 0.25},
		},
		gen:   gen,
		names: []string{"d", "unused", "c", "b", "a"},
	}
}

// objective builds the fixture's objective on k with its targets set.
func (f fixture) objective(t testing.TB, k losses.Kernel) *losses.Objective {
	t.Helper()
	o, err := losses.New(f.prob.spec, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.SetContentTargets(acts([]string{"c", "a", "b"}, f.prob.content)); err != nil {
		t.Fatal(err)
	}
	styles := [][]losses.Activation{acts([]string{"a", "b", "d"}, f.prob.styles[0]), acts([]string{"d", "b", "a"}, f.prob.styles[1])}
	if err := o.SetGuidedStyleTargets(styles, []float64{3, 1}, nil); err != nil {
		t.Fatal(err)
	}
	return o
}

// eval runs Eval on the fixture's generated activations, with gradient
// buffers full of NaN to show that Eval overwrites every value.
func (f fixture) eval(t testing.TB, o *losses.Objective) (*losses.Costs, map[string][]float32) {
	t.Helper()
	as := acts(f.names, f.gen)
	grads := make([][]float32, len(as))
	byName := map[string][]float32{}
	for i, a := range as {
		grads[i] = make([]float32, len(a.Data))
		for j := range grads[i] {
			grads[i][j] = float32(math.NaN())
		}
		byName[a.Name] = grads[i]
	}
	costs := &losses.Costs{}
	if err := o.Eval(costs, as, grads); err != nil {
		t.Fatal(err)
	}
	return costs, byName
}

func TestCostsMatchFloat64Reference(t *testing.T) {
	f := newFixture()
	wantContent, wantStyle, wantTotal := f.prob.costs64(f.gen)
	for name, k := range kernels(t) {
		t.Run(name, func(t *testing.T) {
			costs, _ := f.eval(t, f.objective(t, k))
			const tol = 1e-6 // float32 activations and Grams
			for i, want := range wantContent {
				if !closeTo(costs.Content[i], want, tol, 0) {
					t.Errorf("content[%d] = %.10g, want %.10g", i, costs.Content[i], want)
				}
			}
			for i, want := range wantStyle {
				if !closeTo(costs.Style[i], want, tol, 0) {
					t.Errorf("style[%d] = %.10g, want %.10g", i, costs.Style[i], want)
				}
			}
			if !closeTo(costs.Total, wantTotal, tol, 0) {
				t.Errorf("total = %.10g, want %.10g", costs.Total, wantTotal)
			}
			ct := 0.7*wantContent[0] + 1.3*wantContent[1]
			st := 2*wantStyle[0] + 0.5*wantStyle[1] + 1.5*wantStyle[2]
			if !closeTo(costs.ContentTotal, ct, tol, 0) || !closeTo(costs.StyleTotal, st, tol, 0) {
				t.Errorf("totals: content %.10g, style %.10g; want %.10g, %.10g", costs.ContentTotal, costs.StyleTotal, ct, st)
			}
			if costs.TV != 0 {
				t.Errorf("TV = %v before AddTV, want 0", costs.TV)
			}
		})
	}
}

// TestGradientsMatchFiniteDifferences checks every gradient value of every
// layer against central differences of the float64 reference.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	f := newFixture()
	want := map[string][]float64{}
	for _, n := range f.names {
		want[n] = f.prob.numGrad(f.gen, n)
	}
	for name, k := range kernels(t) {
		t.Run(name, func(t *testing.T) {
			_, grads := f.eval(t, f.objective(t, k))
			for _, n := range f.names {
				scale := 0.0
				for _, v := range want[n] {
					scale = math.Max(scale, math.Abs(v))
				}
				if n == "unused" {
					if scale != 0 {
						t.Fatalf("reference gradient of the unused layer is not zero")
					}
				} else if scale == 0 {
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

// TestStyleNormalisationAcrossSizes checks the documented normalisation: a
// style image whose every channel is the generated image's tiled 2×2 has
// four times the Gram over four times the positions, so the style cost is
// zero although M_S ≠ M_G.
func TestStyleNormalisationAcrossSizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	g := randTensor(rng, 3, 4, 5)
	s := tensor{c: 3, h: 8, w: 10, v: make([]float64, 3*8*10)}
	for ch := range 3 {
		for y := range 8 {
			for x := range 10 {
				s.v[(ch*8+y)*10+x] = g.at(ch, y%4, x%5)
			}
		}
	}
	for name, k := range kernels(t) {
		t.Run(name, func(t *testing.T) {
			o, err := losses.New(losses.Spec{Style: []losses.Layer{{Name: "l", Weight: 1}}, Beta: 1}, k)
			if err != nil {
				t.Fatal(err)
			}
			if err := o.SetGuidedStyleTargets([][]losses.Activation{{act("l", s)}}, nil, nil); err != nil {
				t.Fatal(err)
			}
			grad := make([]float32, 60)
			costs := o.NewCosts()
			if err := o.Eval(costs, []losses.Activation{act("l", g)}, [][]float32{grad}); err != nil {
				t.Fatal(err)
			}
			if costs.Style[0] > 1e-12 {
				t.Errorf("style cost %g, want 0", costs.Style[0])
			}
			for i, v := range grad {
				if math.Abs(float64(v)) > 1e-6 {
					t.Fatalf("grad[%d] = %g, want 0", i, v)
				}
			}
		})
	}
}

// TestStyleImagesAreNotKeptAlive checks that a kernel holding on to the
// buffers it is passed (as the ORT kernel's wrapper cache does) holds
// nothing after SetGuidedStyleTargets, accepted or rejected: neither the
// style images' activations nor the scratch their Grams were computed in.
func TestStyleImagesAreNotKeptAlive(t *testing.T) {
	f := newFixture()
	k := &holdingKernel{}
	o := f.objective(t, k)
	if n, bytes := k.holding(); n != 0 {
		t.Errorf("after SetGuidedStyleTargets: %d wrappers of %d bytes, want none", n, bytes)
	}
	bad := [][]losses.Activation{acts([]string{"a", "b", "d"}, f.prob.styles[0]), acts([]string{"a", "b", "d"}, f.prob.styles[1])}
	bad[1][2].C, bad[1][2].H = 4, bad[1][2].H/2 // layer d: 4 channels in image 1
	if err := o.SetGuidedStyleTargets(bad, nil, nil); err == nil {
		t.Fatal("style images with different channels accepted")
	}
	if n, _ := k.holding(); n != 0 {
		t.Errorf("after a rejected SetGuidedStyleTargets: %d wrappers, want none", n)
	}
}

func TestBlendWeightsAreNormalised(t *testing.T) {
	f := newFixture()
	k := kernels(t)["reference"]
	styles := [][]losses.Activation{acts([]string{"a", "b", "d"}, f.prob.styles[0]), acts([]string{"a", "b", "d"}, f.prob.styles[1])}
	run := func(blend []float64) []float64 {
		o, err := losses.New(losses.Spec{Style: f.prob.spec.Style, Beta: 1}, k)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.SetGuidedStyleTargets(styles, blend, nil); err != nil {
			t.Fatal(err)
		}
		gen := acts([]string{"a", "b", "d"}, f.gen)
		grads := [][]float32{make([]float32, 60), make([]float32, 30), make([]float32, 24)}
		costs := o.NewCosts()
		if err := o.Eval(costs, gen, grads); err != nil {
			t.Fatal(err)
		}
		return slices.Clone(costs.Style)
	}
	equal := run(nil)
	if got := run([]float64{5, 5}); !slices.Equal(got, equal) {
		t.Errorf("blend {5, 5} gives %v, nil gives %v", got, equal)
	}
	if got, want := run([]float64{3, 1}), run([]float64{0.75, 0.25}); !slices.Equal(got, want) {
		t.Errorf("blend {3, 1} gives %v, {0.75, 0.25} gives %v", got, want)
	}
	// Blending shifts the target: weight 1 on one image differs from equal weights.
	if got := run([]float64{1, 0}); slices.Equal(got, equal) {
		t.Errorf("blend {1, 0} gives the equal-weight costs %v", got)
	}
}

func TestEvalOverwritesAndTargetsAreCopies(t *testing.T) {
	f := newFixture()
	k := kernels(t)["reference"]
	o, err := losses.New(f.prob.spec, k)
	if err != nil {
		t.Fatal(err)
	}
	contentActs := acts([]string{"a", "c"}, f.prob.content)
	if err := o.SetContentTargets(contentActs); err != nil {
		t.Fatal(err)
	}
	styles := [][]losses.Activation{acts([]string{"a", "b", "d"}, f.prob.styles[0]), acts([]string{"a", "b", "d"}, f.prob.styles[1])}
	if err := o.SetGuidedStyleTargets(styles, []float64{3, 1}, nil); err != nil {
		t.Fatal(err)
	}
	costs1, grads1 := f.eval(t, o)
	first := *costs1
	// The pipeline reuses its activation buffers: targets must not follow.
	for _, a := range slices.Concat(contentActs, styles[0], styles[1]) {
		clear(a.Data)
	}
	costs2, grads2 := f.eval(t, o)
	if costs2.Total != first.Total {
		t.Errorf("second Eval total %v, first %v", costs2.Total, first.Total)
	}
	for n, g := range grads1 {
		if !slices.Equal(g, grads2[n]) {
			t.Errorf("layer %s: gradients differ between two Evals of the same input", n)
		}
	}
	for i, v := range grads1["unused"] {
		if v != 0 {
			t.Fatalf("unused layer grad[%d] = %v, want 0", i, v)
		}
	}
}

func TestEvalDoesNotAllocate(t *testing.T) {
	f := newFixture()
	ks := kernels(t)
	as := acts(f.names, f.gen)
	grads := make([][]float32, len(as))
	for i, a := range as {
		grads[i] = make([]float32, len(a.Data))
	}
	img := make([]float32, 3*8*9)
	imgGrad := make([]float32, len(img))
	for name, k := range ks {
		t.Run(name, func(t *testing.T) {
			o := f.objective(t, k)
			costs := o.NewCosts()
			step := func() {
				if err := o.Eval(costs, as, grads); err != nil {
					t.Fatal(err)
				}
				if err := o.AddTV(costs, img, 3, 8, 9, imgGrad); err != nil {
					t.Fatal(err)
				}
			}
			step()
			got := testing.AllocsPerRun(5, step)
			// ONNX Runtime's Go binding allocates inside each session run;
			// the floor is the same kernel calls made directly.
			calls := kernelCalls(t, k, as)
			calls()
			floor := testing.AllocsPerRun(5, calls)
			if got > floor {
				t.Errorf("%v allocations per Eval+AddTV, want at most %v (the kernel's own)", got, floor)
			}
			t.Logf("%v allocations per Eval (kernel floor %v)", got, floor)
		})
	}
}

// kernelCalls returns the products Eval makes for the fixture, a Gram and a
// MatMul per style layer, on buffers of their own.
func kernelCalls(t *testing.T, k losses.Kernel, as []losses.Activation) func() {
	var calls []func() error
	for _, a := range as {
		if a.Name != "a" && a.Name != "b" && a.Name != "d" {
			continue
		}
		g := make([]float32, a.C*a.C)
		d := make([]float32, len(a.Data))
		calls = append(calls,
			func() error { return k.Gram(g, a.Data, a.C, a.H*a.W) },
			func() error { return k.MatMul(d, g, a.Data, a.C, a.C, a.H*a.W) })
	}
	return func() {
		for _, c := range calls {
			if err := c(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestErrors(t *testing.T) {
	k := kernels(t)["reference"]
	one := []losses.Layer{{Name: "l", Weight: 1}}
	newCases := []struct {
		name   string
		spec   losses.Spec
		kernel losses.Kernel
		want   string
	}{
		{"negative alpha", losses.Spec{Alpha: -1}, k, "alpha: weight -1"},
		{"NaN beta", losses.Spec{Beta: math.NaN()}, k, "beta: weight NaN"},
		{"infinite tv", losses.Spec{TV: math.Inf(1)}, k, "tv: weight +Inf"},
		{"empty name", losses.Spec{Content: []losses.Layer{{Weight: 1}}}, k, "content layer 0: empty name"},
		{"negative layer weight", losses.Spec{Style: []losses.Layer{{Name: "l", Weight: -2}}}, k, `style layer "l": weight -2`},
		{"duplicate", losses.Spec{Style: []losses.Layer{{Name: "l"}, {Name: "l"}}}, k, `style layer "l" listed twice`},
		{"nil kernel", losses.Spec{Style: one}, nil, "need a matrix kernel"},
	}
	for _, c := range newCases {
		if _, err := losses.New(c.spec, c.kernel); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New %s: error %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := losses.New(losses.Spec{Content: one, Alpha: 1}, nil); err != nil {
		t.Errorf("content-only objective without a kernel: %v", err)
	}

	l := func(c, h, w int) losses.Activation {
		return losses.Activation{Name: "l", C: c, H: h, W: w, Data: make([]float32, max(c*h*w, 0))}
	}
	o, err := losses.New(losses.Spec{Content: one, Style: one, Alpha: 1, Beta: 1}, k)
	if err != nil {
		t.Fatal(err)
	}
	grad := make([]float32, 12)
	if err := o.Eval(o.NewCosts(), []losses.Activation{l(2, 2, 3)}, [][]float32{grad}); err == nil || !strings.Contains(err.Error(), "content targets not set") {
		t.Errorf("Eval before targets: %v", err)
	}
	targetCases := []struct {
		name string
		set  func() error
		want string
	}{
		{"content layer missing", func() error {
			return o.SetContentTargets([]losses.Activation{{Name: "x", C: 1, H: 1, W: 1, Data: []float32{0}}})
		}, `content image: no activations of layer "l"`},
		{"short data", func() error {
			a := l(2, 2, 3)
			a.Data = a.Data[:11]
			return o.SetContentTargets([]losses.Activation{a})
		}, `activation "l": 11 values for 2×2×3`},
		{"zero height", func() error { return o.SetContentTargets([]losses.Activation{l(2, 0, 3)}) }, "want positive"},
		{"repeated name", func() error { return o.SetContentTargets([]losses.Activation{l(2, 2, 3), l(2, 2, 3)}) }, `"l" given twice`},
		{"no style image", func() error { return o.SetGuidedStyleTargets(nil, nil, nil) }, "no style image"},
		{"blend count", func() error {
			return o.SetGuidedStyleTargets([][]losses.Activation{{l(2, 2, 3)}}, []float64{1, 2}, nil)
		}, "2 weights for 1 style images"},
		{"blend zero", func() error {
			return o.SetGuidedStyleTargets([][]losses.Activation{{l(2, 2, 3)}, {l(2, 2, 3)}}, []float64{0, 0}, nil)
		}, "positive, finite sum"},
		{"blend negative", func() error {
			return o.SetGuidedStyleTargets([][]losses.Activation{{l(2, 2, 3)}, {l(2, 2, 3)}}, []float64{1, -1}, nil)
		}, "style blend weight 1"},
		{"channels differ between style images", func() error {
			return o.SetGuidedStyleTargets([][]losses.Activation{{l(2, 2, 3)}, {l(3, 2, 3)}}, nil, nil)
		}, "image 1 has 3 channels, image 0 has 2"},
		{"style layer missing", func() error {
			return o.SetGuidedStyleTargets([][]losses.Activation{{l(2, 2, 3)}, {}}, nil, nil)
		}, `style image 1: no activations of layer "l"`},
	}
	for _, c := range targetCases {
		if err := c.set(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}

	if err := o.SetContentTargets([]losses.Activation{l(2, 2, 3)}); err != nil {
		t.Fatal(err)
	}
	if err := o.Eval(o.NewCosts(), []losses.Activation{l(2, 2, 3)}, [][]float32{grad}); err == nil || !strings.Contains(err.Error(), "style targets not set") {
		t.Errorf("Eval before style targets: %v", err)
	}
	if err := o.SetGuidedStyleTargets([][]losses.Activation{{l(2, 4, 4)}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	evalCases := []struct {
		name  string
		acts  []losses.Activation
		grads [][]float32
		want  string
	}{
		{"grad count", []losses.Activation{l(2, 2, 3)}, nil, "0 gradient buffers for 1 activations"},
		{"grad length", []losses.Activation{l(2, 2, 3)}, [][]float32{make([]float32, 11)}, `gradient buffer of "l": 11 values for 12`},
		{"layer missing", []losses.Activation{{Name: "x", C: 1, H: 1, W: 1, Data: []float32{0}}}, [][]float32{{0}}, `no activations of layer "l"`},
		{"content size", []losses.Activation{l(2, 3, 2)}, [][]float32{make([]float32, 12)}, "activations 2×3×2, content image's 2×2×3"},
	}
	for _, c := range evalCases {
		if err := o.Eval(o.NewCosts(), c.acts, c.grads); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Eval %s: error %v, want %q", c.name, err, c.want)
		}
	}
	so, err := losses.New(losses.Spec{Style: one, Beta: 1}, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := so.SetGuidedStyleTargets([][]losses.Activation{{l(2, 4, 4)}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := so.Eval(so.NewCosts(), []losses.Activation{l(3, 2, 3)}, [][]float32{make([]float32, 18)}); err == nil || !strings.Contains(err.Error(), "3 channels, style images have 2") {
		t.Errorf("Eval with other channels: %v", err)
	}
}

// TestFailedTargetsKeepPrevious checks that a rejected SetGuidedStyleTargets or
// SetContentTargets leaves the objective as it was.
func TestFailedTargetsKeepPrevious(t *testing.T) {
	k := kernels(t)["reference"]
	one := []losses.Layer{{Name: "l", Weight: 1}, {Name: "m", Weight: 1}}
	o, err := losses.New(losses.Spec{Content: one, Style: one, Alpha: 1, Beta: 1}, k)
	if err != nil {
		t.Fatal(err)
	}
	good := []losses.Activation{{Name: "l", C: 2, H: 2, W: 3, Data: handS}, {Name: "m", C: 1, H: 1, W: 2, Data: []float32{1, 2}}}
	if err := o.SetContentTargets(good); err != nil {
		t.Fatal(err)
	}
	if err := o.SetGuidedStyleTargets([][]losses.Activation{good}, nil, nil); err != nil {
		t.Fatal(err)
	}
	gen := []losses.Activation{{Name: "l", C: 2, H: 2, W: 3, Data: handA}, {Name: "m", C: 1, H: 1, W: 2, Data: []float32{1, 2}}}
	grads := [][]float32{make([]float32, 12), make([]float32, 2)}
	costs := o.NewCosts()
	if err := o.Eval(costs, gen, grads); err != nil {
		t.Fatal(err)
	}
	before := fmt.Sprint(costs)
	bad := []losses.Activation{{Name: "l", C: 2, H: 2, W: 3, Data: handA}}
	if err := o.SetContentTargets(bad); err == nil {
		t.Fatal("content targets without layer m accepted")
	}
	if err := o.SetGuidedStyleTargets([][]losses.Activation{good, {good[0], {Name: "m", C: 3, H: 1, W: 1, Data: []float32{1, 2, 3}}}}, nil, nil); err == nil {
		t.Fatal("style images with different channels accepted")
	}
	if err := o.Eval(costs, gen, grads); err != nil {
		t.Fatal(err)
	}
	if after := fmt.Sprint(costs); after != before {
		t.Errorf("costs changed after rejected targets: %s, was %s", after, before)
	}
}
