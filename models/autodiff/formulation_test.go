package autodiff

import (
	"slices"
	"strings"
	"testing"
)

// TestConvGradientBlockedChannels checks the image gradient of a first
// convolution (few input channels, a multiple of 16 output channels), which
// is computed with zero-padded output channels and sliced, against finite
// differences, and that the padding is there.
func TestConvGradientBlockedChannels(t *testing.T) {
	k3 := []int64{3, 3}
	for _, c := range []struct {
		name        string
		in, out     int64
		wantPadded  int64 // output channels of the gradient's Conv weights
		wantSlicing bool
	}{
		{"3 from 16", 3, 16, 16, true},
		{"5 from 32", 5, 32, 16, true},
		{"16 from 16 needs none", 16, 16, 16, false},
		{"3 from 8 needs none", 3, 8, 3, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg := newTestGraph(77, 1, c.in, 6, 5)
			y := tg.conv("x", c.in, c.out, k3, true, ints("pads", 1, 1, 1, 1))
			plan := checkGradient(t, tg, []string{y}, fdOptions{})
			var convs, slices int
			for _, n := range plan.Backward.GetNode() {
				switch n.GetOpType() {
				case "Conv":
					convs++
					w := n.GetInput()[1]
					for _, init := range plan.Backward.GetInitializer() {
						if init.GetName() == w && init.GetDims()[0] != c.wantPadded {
							t.Errorf("gradient weights %v, want %d output channels", init.GetDims(), c.wantPadded)
						}
					}
				case "Slice":
					slices++
				}
			}
			if convs != 1 || (slices == 1) != c.wantSlicing {
				t.Errorf("backward has %d Conv and %d Slice nodes, want 1 and slicing %v", convs, slices, c.wantSlicing)
			}
		})
	}
}

// TestReluSavesMaskUnlessSeed checks that a ReLU output the caller does
// not read is kept between the passes as a BOOL mask, a seed ReLU as
// itself, and that both gradients match finite differences.
func TestReluSavesMaskUnlessSeed(t *testing.T) {
	tg := newTestGraph(91, 1, 2, 6, 6)
	hidden := tg.op("Relu", []string{tg.conv("x", 2, 3, []int64{3, 3}, true, ints("pads", 1, 1, 1, 1))})
	seed := tg.op("Relu", []string{tg.conv(hidden, 3, 2, []int64{3, 3}, true, ints("pads", 1, 1, 1, 1))})
	plan := checkGradient(t, tg, []string{seed}, fdOptions{})
	types := map[string]int32{}
	for _, in := range plan.Backward.GetInput() {
		types[in.GetName()] = in.GetType().GetTensorType().GetElemType()
	}
	const float, boolean = 1, 9 // onnx.TensorProto_FLOAT, onnx.TensorProto_BOOL
	for _, c := range []struct {
		name string
		elem int32
	}{{hidden + "_mask", boolean}, {seed, float}} {
		if got, ok := types[c.name]; !ok || got != c.elem {
			t.Errorf("backward input %q: type %d (present %v), want %d; saved %v", c.name, got, ok, c.elem, plan.Saved)
		}
	}
	if _, ok := types[hidden]; ok {
		t.Errorf("the hidden ReLU's output is saved besides its mask: %v", plan.Saved)
	}
}

// TestDifferentiateInPlace checks plans for callers that overwrite the
// seeds with their gradients: gradients match finite differences, no seed
// is saved, a seed ReLU's mask is saved as BOOL, and a rule that reads a
// seed's value reads a copy.
func TestDifferentiateInPlace(t *testing.T) {
	pads := ints("pads", 1, 1, 1, 1)
	for _, c := range []struct {
		name  string
		build func(tg *testGraph) (seeds, masks, copies []string)
	}{
		{"VGG blocks, ReLU seeds", func(tg *testGraph) ([]string, []string, []string) {
			r11, _, p1 := vggBlock(tg, "x", 2, 3)
			r21, _, _ := vggBlock(tg, p1, 3, 4)
			return []string{r11, r21}, []string{r11 + "_mask", r21 + "_mask"}, nil
		}},
		{"a seed another seed's rule reads", func(tg *testGraph) ([]string, []string, []string) {
			a := tg.op("Relu", []string{tg.conv("x", 2, 3, []int64{3, 3}, true, pads)})
			sq := tg.op("Mul", []string{a, a})
			return []string{a, sq}, []string{a + "_mask"}, []string{a}
		}},
		{"a pooled seed", func(tg *testGraph) ([]string, []string, []string) {
			_, _, p1 := vggBlock(tg, "x", 2, 3)
			r := tg.op("Relu", []string{tg.conv(p1, 3, 2, []int64{3, 3}, true, pads)})
			return []string{p1, r}, []string{r + "_mask"}, []string{p1}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg := newTestGraph(41, 1, 2, 8, 8)
			seeds, masks, copies := c.build(tg)
			plan := checkGradient(t, tg, seeds, fdOptions{inPlace: true, lo: 0.05})
			types := map[string]int32{}
			for _, in := range plan.Backward.GetInput() {
				types[in.GetName()] = in.GetType().GetTensorType().GetElemType()
			}
			const boolean = 9 // onnx.TensorProto_BOOL
			for _, m := range masks {
				if types[m] != boolean {
					t.Errorf("mask %q: backward input type %d, want BOOL; saved %v", m, types[m], plan.Saved)
				}
			}
			for _, s := range copies {
				if !slices.ContainsFunc(plan.Saved, func(n string) bool { return strings.HasPrefix(n, s+"_saved") }) {
					t.Errorf("seed %q is read by a rule but no copy is saved: %v", s, plan.Saved)
				}
			}
		})
	}
}
