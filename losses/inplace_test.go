package losses_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/nst-project/nst/losses"
)

// largeFixture is newFixture's objective (same layer names, weights and
// roles: a content and style, b and d style, c content, unused unused) on
// layers wide enough for the ORT kernel's blocked code paths and for
// several column blocks of uneven widths.
func largeFixture() fixture {
	f := newFixture()
	rng := rand.New(rand.NewPCG(13, 17))
	shapes := [][4]any{{"a", 24, 11, 13}, {"b", 40, 6, 9}, {"c", 16, 8, 9}, {"d", 9, 17, 19}, {"unused", 3, 4, 5}}
	f.gen, f.prob.content = map[string]tensor{}, map[string]tensor{}
	for _, s := range shapes {
		name, c, h, w := s[0].(string), s[1].(int), s[2].(int), s[3].(int)
		f.gen[name] = randTensor(rng, c, h, w)
		f.prob.content[name] = randTensor(rng, c, h, w)
	}
	f.prob.styles = []map[string]tensor{
		{"a": randTensor(rng, 24, 9, 10), "b": randTensor(rng, 40, 7, 7), "d": randTensor(rng, 9, 20, 15)},
		{"a": randTensor(rng, 24, 14, 12), "b": randTensor(rng, 40, 5, 8), "d": randTensor(rng, 9, 11, 11)},
	}
	return f
}

// inPlaceSetup is one objective to run EvalInPlace and Eval on.
type inPlaceSetup struct {
	name      string
	f         fixture
	objective func(t testing.TB, k losses.Kernel) *losses.Objective
}

// inPlaceSetups returns, for the small and the large fixture, its plain
// objective (two blended style images) and one per guided mask arrangement.
func inPlaceSetups() []inPlaceSetup {
	var setups []inPlaceSetup
	for _, fc := range []struct {
		name string
		f    fixture
	}{{"small", newFixture()}, {"large", largeFixture()}} {
		f := fc.f
		setups = append(setups, inPlaceSetup{fc.name + "/plain", f, f.objective})
		for _, c := range guidedCases(f.gen) {
			setups = append(setups, inPlaceSetup{fc.name + "/guided " + c.name, f, func(t testing.TB, k losses.Kernel) *losses.Objective {
				return guidedObjective(t, f, k, c.masks, c.blend)
			}})
		}
	}
	return setups
}

// TestEvalInPlaceMatchesEval checks that EvalInPlace gives Eval's costs,
// exactly, and Eval's gradients: exactly with the reference kernel, whose
// every product value is the same sum whatever the block, and within
// float32 rounding with ORT, whose blocking may order sums differently.
// Block buffers of 1, 16, 21 and 1000 values split the layers into single
// columns, even and uneven blocks; at 2500 the large fixture's layer b is
// one block beside layers of several, and the default leaves one block per
// layer.
func TestEvalInPlaceMatchesEval(t *testing.T) {
	ks := kernels(t)
	blocks := []struct {
		name   string
		floats int // 0: the default
	}{{"one block", 0}, {"single columns", 1}, {"16 floats", 16}, {"21 floats", 21}, {"1000 floats", 1000}, {"2500 floats", 2500}}
	for _, s := range inPlaceSetups() {
		for _, b := range blocks {
			for _, kn := range []string{"reference", "ort"} {
				t.Run(s.name+"/"+b.name+"/"+kn, func(t *testing.T) {
					o := s.objective(t, ks[kn])
					if b.floats > 0 {
						losses.SetBlockFloats(o, b.floats)
					}
					want, wantGrads := s.f.eval(t, o)
					as := acts(s.f.names, s.f.gen)
					got := &losses.Costs{}
					if err := o.EvalInPlace(got, as); err != nil {
						t.Fatal(err)
					}
					checkSameCosts(t, got, want)
					tol := 0.0
					if kn == "ort" {
						tol = 1e-5
					}
					for _, a := range as {
						checkGradient(t, a.Name, a.Data, wantGrads[a.Name], tol)
					}
					unused := as[slices.IndexFunc(as, func(a losses.Activation) bool { return a.Name == "unused" })]
					if slices.ContainsFunc(unused.Data, func(v float32) bool { return v != 0 }) {
						t.Errorf("unused layer not zeroed: %v", unused.Data)
					}
				})
			}
		}
	}
}

// checkSameCosts fails unless every field of got equals want's.
func checkSameCosts(t *testing.T, got, want *losses.Costs) {
	t.Helper()
	if !slices.Equal(got.Content, want.Content) {
		t.Errorf("content costs %v, Eval's %v", got.Content, want.Content)
	}
	if !slices.Equal(got.Style, want.Style) {
		t.Errorf("style costs %v, Eval's %v", got.Style, want.Style)
	}
	for _, f := range []struct {
		name      string
		got, want float64
	}{
		{"TV", got.TV, want.TV},
		{"ContentTotal", got.ContentTotal, want.ContentTotal},
		{"StyleTotal", got.StyleTotal, want.StyleTotal},
		{"Total", got.Total, want.Total},
	} {
		if f.got != f.want {
			t.Errorf("%s = %.17g, Eval's %.17g", f.name, f.got, f.want)
		}
	}
}

// checkGradient fails where got differs from want by more than tol
// relative to the value, or than tol relative to the layer's largest value
// where a sum cancels to near zero.
func checkGradient(t *testing.T, layer string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("layer %s: %d gradient values, Eval's %d", layer, len(got), len(want))
	}
	var scale float64
	for _, w := range want {
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	worst, at := 0.0, -1
	for i, g := range got {
		w := float64(want[i])
		err := math.Abs(float64(g) - w)
		if !(err <= tol*math.Abs(w) || err <= tol*1e-2*scale) && (at < 0 || !(err <= worst)) {
			worst, at = err, i
		}
	}
	if at >= 0 {
		t.Errorf("layer %s: grad[%d] = %.9g, Eval's %.9g (layer max %.3g, tolerance %g)", layer, at, got[at], want[at], scale, tol)
	}
}

// TestEvalInPlaceSpecialWeights covers the gradients EvalInPlace writes
// without a product: a style weight of zero leaves a shared layer the
// content gradient alone and a style-only layer zeros, and β = 0 does so
// for every layer.
func TestEvalInPlaceSpecialWeights(t *testing.T) {
	base := newFixture()
	k := kernels(t)["reference"]
	zeroStyle := base.prob.spec
	zeroStyle.Style = slices.Clone(zeroStyle.Style)
	for i := range zeroStyle.Style {
		if zeroStyle.Style[i].Name != "b" {
			zeroStyle.Style[i].Weight = 0
		}
	}
	zeroBeta := base.prob.spec
	zeroBeta.Beta = 0
	for _, c := range []struct {
		name string
		spec losses.Spec
		zero []string // layers whose gradient must be all zero
	}{
		{"style weights a and d zero", zeroStyle, []string{"d", "unused"}},
		{"beta zero", zeroBeta, []string{"b", "d", "unused"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := base
			f.prob.spec = c.spec
			o := f.objective(t, k)
			want, wantGrads := f.eval(t, o)
			as := acts(f.names, f.gen)
			got := &losses.Costs{}
			if err := o.EvalInPlace(got, as); err != nil {
				t.Fatal(err)
			}
			checkSameCosts(t, got, want)
			for _, a := range as {
				checkGradient(t, a.Name, a.Data, wantGrads[a.Name], 0)
				zero := !slices.ContainsFunc(a.Data, func(v float32) bool { return v != 0 })
				if slices.Contains(c.zero, a.Name) != zero {
					t.Errorf("layer %s: all zero %v, want %v", a.Name, zero, slices.Contains(c.zero, a.Name))
				}
			}
		})
	}
}

// TestEvalInPlaceErrors checks that EvalInPlace rejects what Eval rejects,
// before it overwrites any activation.
func TestEvalInPlaceErrors(t *testing.T) {
	f := newFixture()
	o := f.objective(t, kernels(t)["reference"])
	cases := []struct {
		name   string
		change func(as []losses.Activation) []losses.Activation
		want   string
	}{
		{"layer missing", func(as []losses.Activation) []losses.Activation {
			return slices.DeleteFunc(as, func(a losses.Activation) bool { return a.Name == "d" })
		}, `no activations of layer "d"`},
		{"content size", func(as []losses.Activation) []losses.Activation {
			for i := range as {
				if as[i].Name == "c" {
					as[i].H, as[i].W = as[i].W, as[i].H
				}
			}
			return as
		}, `content layer "c": activations 4×7×3`},
		{"short data", func(as []losses.Activation) []losses.Activation {
			as[len(as)-1].Data = as[len(as)-1].Data[:5]
			return as
		}, `activation "a": 5 values`},
		{"repeated layer", func(as []losses.Activation) []losses.Activation {
			return append(as, as[0])
		}, `"d" given twice`},
	}
	for _, c := range cases {
		as := c.change(acts(f.names, f.gen))
		before := make([][]float32, len(as))
		for i, a := range as {
			before[i] = slices.Clone(a.Data)
		}
		err := o.EvalInPlace(o.NewCosts(), as)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
		for i, a := range as {
			if !slices.Equal(a.Data, before[i]) {
				t.Errorf("%s: layer %s changed by a rejected call", c.name, a.Name)
			}
		}
	}
}

// TestEvalInPlaceDoesNotAllocate checks EvalInPlace as
// TestEvalDoesNotAllocate checks Eval, plain and guided, with several
// blocks per layer.
func TestEvalInPlaceDoesNotAllocate(t *testing.T) {
	f := newFixture()
	masks := []map[string][]float64{maskSet(f.gen, left), maskSet(f.gen, right)}
	for name, k := range kernels(t) {
		for _, c := range []struct {
			name string
			o    func() *losses.Objective
		}{
			{"plain", func() *losses.Objective { return f.objective(t, k) }},
			{"guided", func() *losses.Objective { return guidedObjective(t, f, k, masks, nil) }},
		} {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				o := c.o()
				losses.SetBlockFloats(o, 21)
				as := acts(f.names, f.gen)
				orig := make([][]float32, len(as))
				for i, a := range as {
					orig[i] = slices.Clone(a.Data)
				}
				costs := o.NewCosts()
				step := func() {
					// Fresh activations each time, as the backbone gives.
					for i, a := range as {
						copy(a.Data, orig[i])
					}
					if err := o.EvalInPlace(costs, as); err != nil {
						t.Fatal(err)
					}
				}
				step()
				if got := testing.AllocsPerRun(5, step); got != 0 {
					t.Errorf("%v allocations per EvalInPlace, want 0", got)
				}
			})
		}
	}
}
