package autodiff

import (
	"slices"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/onnxgraph"
)

var (
	ints  = onnxgraph.Ints
	int1  = onnxgraph.Int
	str   = onnxgraph.String
	float = onnxgraph.Float
)

// gradCase is one finite-difference check: a graph built on input x of
// shape in, differentiated from x to the returned seeds.
type gradCase struct {
	name  string
	in    []int64
	build func(tg *testGraph) []string
	opts  fdOptions
	// wantOps, when set, are op types the backward graph must contain
	// (the formulation chosen for speed); avoidOps must not appear.
	wantOps, avoidOps []string
}

func runGradCases(t *testing.T, cases []gradCase) {
	t.Helper()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := newTestGraph(uint64(1000+i), c.in...)
			seeds := c.build(tg)
			plan := checkGradient(t, tg, seeds, c.opts)
			ops := backwardOps(plan)
			for _, op := range c.wantOps {
				if !slices.Contains(ops, op) {
					t.Errorf("backward ops %v lack %s", ops, op)
				}
			}
			for _, op := range c.avoidOps {
				if slices.Contains(ops, op) {
					t.Errorf("backward ops %v contain %s", ops, op)
				}
			}
		})
	}
}

func TestConvGradient(t *testing.T) {
	k3 := []int64{3, 3}
	runGradCases(t, []gradCase{
		{name: "3x3 pad 1 bias", in: []int64{1, 2, 6, 6}, build: func(tg *testGraph) []string {
			return []string{tg.conv("x", 2, 3, k3, true, ints("pads", 1, 1, 1, 1))}
		}, wantOps: []string{"Conv"}, avoidOps: []string{"ConvTranspose"}},
		{name: "3x3 no pad no bias batch 2", in: []int64{2, 3, 6, 5}, build: func(tg *testGraph) []string {
			return []string{tg.conv("x", 3, 2, k3, false)}
		}, avoidOps: []string{"ConvTranspose"}},
		{name: "asymmetric pads rectangular kernel", in: []int64{1, 2, 6, 7}, build: func(tg *testGraph) []string {
			return []string{tg.conv("x", 2, 2, []int64{3, 2}, true, ints("pads", 0, 1, 2, 0))}
		}},
		{name: "pad beyond kernel", in: []int64{1, 2, 5, 5}, build: func(tg *testGraph) []string {
			return []string{tg.conv("x", 2, 3, k3, true, ints("pads", 3, 0, 1, 4))}
		}, wantOps: []string{"Slice", "Conv"}},
		{name: "1x1 pad 2", in: []int64{1, 3, 4, 4}, build: func(tg *testGraph) []string {
			return []string{tg.conv("x", 3, 2, []int64{1, 1}, true, ints("pads", 2, 2, 2, 2))}
		}},
		{name: "stride 2 odd input", in: []int64{1, 2, 7, 7}, build: func(tg *testGraph) []string {
			return []string{tg.conv("x", 2, 3, k3, true, ints("pads", 1, 1, 1, 1), ints("strides", 2, 2))}
		}, wantOps: []string{"ConvTranspose"}},
		{name: "stride 2 kernel 2 leftover row", in: []int64{1, 2, 7, 6}, build: func(tg *testGraph) []string {
			return []string{tg.conv("x", 2, 2, []int64{2, 2}, false, ints("strides", 2, 2))}
		}},
		{name: "strides 3,1 asymmetric pads", in: []int64{1, 2, 8, 6}, build: func(tg *testGraph) []string {
			return []string{tg.conv("x", 2, 2, k3, true, ints("strides", 3, 1), ints("pads", 0, 1, 2, 1))}
		}},
		{name: "dilation 2", in: []int64{1, 2, 7, 7}, build: func(tg *testGraph) []string {
			return []string{tg.conv("x", 2, 2, k3, true, ints("dilations", 2, 2), ints("pads", 2, 2, 2, 2))}
		}, avoidOps: []string{"ConvTranspose"}},
		{name: "dilation 2 stride 2", in: []int64{1, 2, 9, 8}, build: func(tg *testGraph) []string {
			return []string{tg.conv("x", 2, 2, k3, true, ints("dilations", 2, 1), ints("strides", 2, 2), ints("pads", 1, 1, 2, 0))}
		}},
		{name: "SAME_UPPER even kernel", in: []int64{1, 2, 6, 6}, build: func(tg *testGraph) []string {
			return []string{tg.conv("x", 2, 2, []int64{4, 4}, true, str("auto_pad", "SAME_UPPER"))}
		}},
		{name: "SAME_LOWER even kernel", in: []int64{1, 2, 6, 6}, build: func(tg *testGraph) []string {
			return []string{tg.conv("x", 2, 2, []int64{4, 2}, true, str("auto_pad", "SAME_LOWER"))}
		}},
		{name: "SAME_UPPER stride 2", in: []int64{1, 2, 7, 6}, build: func(tg *testGraph) []string {
			return []string{tg.conv("x", 2, 2, k3, true, str("auto_pad", "SAME_UPPER"), ints("strides", 2, 2))}
		}},
		{name: "VALID stride 2", in: []int64{1, 2, 8, 7}, build: func(tg *testGraph) []string {
			return []string{tg.conv("x", 2, 2, k3, true, str("auto_pad", "VALID"), ints("strides", 2, 2))}
		}},
		{name: "group 2", in: []int64{1, 4, 5, 5}, build: func(tg *testGraph) []string {
			return []string{tg.conv("x", 4, 6, k3, true, int1("group", 2), ints("pads", 1, 1, 1, 1))}
		}, avoidOps: []string{"ConvTranspose"}},
		{name: "depthwise", in: []int64{1, 4, 5, 5}, build: func(tg *testGraph) []string {
			return []string{tg.conv("x", 4, 4, k3, true, int1("group", 4), ints("pads", 1, 1, 1, 1))}
		}},
		{name: "depthwise multiplier 2 stride 2", in: []int64{1, 3, 6, 6}, build: func(tg *testGraph) []string {
			return []string{tg.conv("x", 3, 6, k3, false, int1("group", 3), ints("strides", 2, 2), ints("pads", 1, 1, 1, 1))}
		}},
		{name: "1-d", in: []int64{1, 2, 9}, build: func(tg *testGraph) []string {
			return []string{tg.conv("x", 2, 3, []int64{3}, true, ints("pads", 1, 0))}
		}},
		{name: "weights behind identity", in: []int64{1, 2, 5, 5}, build: func(tg *testGraph) []string {
			w := tg.op("Identity", []string{tg.weight(0.5, 3, 2, 3, 3)})
			return []string{tg.op("Conv", []string{"x", w}, ints("pads", 1, 1, 1, 1))}
		}, avoidOps: []string{"ConvTranspose"}},
		{name: "weights fed at run time", in: []int64{1, 2, 5, 5}, build: func(tg *testGraph) []string {
			w := tg.input(0.5, 3, 2, 3, 3)
			return []string{tg.op("Conv", []string{"x", w}, ints("pads", 1, 1, 1, 1))}
		}, wantOps: []string{"ConvTranspose"}},
	})
}

func TestActivationGradient(t *testing.T) {
	away := fdOptions{lo: 0.05}
	runGradCases(t, []gradCase{
		{name: "Relu", in: []int64{1, 3, 4, 4}, opts: away, build: func(tg *testGraph) []string {
			return []string{tg.op("Relu", []string{"x"})}
		}},
		{name: "LeakyRelu", in: []int64{1, 3, 4, 4}, opts: away, build: func(tg *testGraph) []string {
			return []string{tg.op("LeakyRelu", []string{"x"}, float("alpha", 0.2))}
		}},
		{name: "LeakyRelu negative alpha", in: []int64{1, 3, 4, 4}, opts: away, build: func(tg *testGraph) []string {
			return []string{tg.op("LeakyRelu", []string{"x"}, float("alpha", -0.5))}
		}},
		{name: "Clip both bounds", in: []int64{1, 3, 4, 4}, build: func(tg *testGraph) []string {
			return []string{tg.op("Clip", []string{"x", tg.floats(nil, []float32{-0.4}), tg.floats(nil, []float32{0.5})})}
		}},
		{name: "Clip min only", in: []int64{1, 3, 4, 4}, build: func(tg *testGraph) []string {
			return []string{tg.op("Clip", []string{"x", tg.floats(nil, []float32{0.1})})}
		}},
		{name: "Clip max only", in: []int64{1, 3, 4, 4}, build: func(tg *testGraph) []string {
			return []string{tg.op("Clip", []string{"x", "", tg.floats(nil, []float32{0.3})})}
		}},
		{name: "conv relu", in: []int64{1, 2, 6, 6}, build: func(tg *testGraph) []string {
			return []string{tg.op("Relu", []string{tg.conv("x", 2, 4, []int64{3, 3}, true, ints("pads", 1, 1, 1, 1))})}
		}},
	})
}

func TestPoolGradient(t *testing.T) {
	maxPool := func(attrs ...*onnx.AttributeProto) func(tg *testGraph) []string {
		return func(tg *testGraph) []string { return []string{tg.op("MaxPool", []string{"x"}, attrs...)} }
	}
	avgPool := func(attrs ...*onnx.AttributeProto) func(tg *testGraph) []string {
		return func(tg *testGraph) []string { return []string{tg.op("AveragePool", []string{"x"}, attrs...)} }
	}
	k2, s2 := ints("kernel_shape", 2, 2), ints("strides", 2, 2)
	k3, p1 := ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1)
	unpool, scatter := []string{"MaxUnpool"}, []string{"ScatterElements"}
	runGradCases(t, []gradCase{
		{name: "max 2x2 stride 2", in: []int64{1, 3, 6, 6}, build: maxPool(k2, s2), wantOps: unpool},
		{name: "max 2x2 stride 2 batch 2 odd", in: []int64{2, 2, 5, 7}, build: maxPool(k2, s2), wantOps: unpool},
		{name: "max 2x2 stride 3", in: []int64{1, 2, 8, 8}, build: maxPool(k2, ints("strides", 3, 3)), wantOps: unpool},
		{name: "max 2x2 stride 2 ceil", in: []int64{1, 2, 5, 5}, build: maxPool(k2, s2, int1("ceil_mode", 1)), wantOps: unpool},
		{name: "max 3x3 stride 2 pad 1 overlapping", in: []int64{1, 2, 7, 7}, build: maxPool(k3, ints("strides", 2, 2), p1), wantOps: scatter},
		{name: "max 3x3 stride 1 pad 1", in: []int64{1, 2, 5, 5}, build: maxPool(k3, p1), wantOps: scatter},
		{name: "max 3x3 stride 2 ceil", in: []int64{1, 2, 6, 6}, build: maxPool(k3, s2, int1("ceil_mode", 1))},
		{name: "max dilation 2", in: []int64{1, 2, 7, 7}, build: maxPool(k2, ints("dilations", 2, 2))},
		{name: "max SAME_UPPER", in: []int64{1, 2, 7, 6}, build: maxPool(k3, s2, str("auto_pad", "SAME_UPPER"))},
		{name: "max SAME_LOWER", in: []int64{1, 2, 7, 6}, build: maxPool(k2, s2, str("auto_pad", "SAME_LOWER"))},
		{name: "max 1-d", in: []int64{1, 2, 9}, build: maxPool(ints("kernel_shape", 3), ints("strides", 2), ints("pads", 1, 1))},
		{name: "max existing indices", in: []int64{1, 2, 6, 6}, build: func(tg *testGraph) []string {
			return tg.opN("MaxPool", []string{"x"}, 2, k2, s2)[:1]
		}},
		{name: "avg 2x2 stride 2", in: []int64{1, 3, 6, 6}, build: avgPool(k2, s2), wantOps: []string{"Resize"}},
		{name: "avg 2x2 stride 2 leftover", in: []int64{2, 2, 5, 7}, build: avgPool(k2, s2), wantOps: []string{"Resize"}},
		{name: "avg 3x3 stride 2 pad 1 exclude pad", in: []int64{1, 2, 7, 7}, build: avgPool(k3, s2, p1)},
		{name: "avg 3x3 stride 2 pad 1 include pad", in: []int64{1, 2, 7, 7}, build: avgPool(k3, s2, p1, int1("count_include_pad", 1))},
		{name: "avg 3x3 ceil exclude pad", in: []int64{1, 2, 6, 6}, build: avgPool(k3, s2, p1, int1("ceil_mode", 1))},
		{name: "avg 3x3 ceil include pad", in: []int64{1, 2, 6, 6}, build: avgPool(k3, s2, p1, int1("ceil_mode", 1), int1("count_include_pad", 1))},
		{name: "avg 2x2 ceil", in: []int64{1, 2, 5, 5}, build: avgPool(k2, s2, int1("ceil_mode", 1))},
		{name: "avg 3x3 stride 1 pad 1", in: []int64{1, 2, 5, 5}, build: avgPool(k3, p1, int1("count_include_pad", 1))},
		{name: "avg SAME_UPPER", in: []int64{1, 2, 7, 6}, build: avgPool(k2, ints("strides", 2, 1), str("auto_pad", "SAME_UPPER"))},
		{name: "avg asymmetric pads", in: []int64{1, 2, 6, 5}, build: avgPool(k3, s2, ints("pads", 0, 2, 2, 1), int1("count_include_pad", 1))},
		{name: "conv relu maxpool", in: []int64{1, 2, 8, 8}, build: func(tg *testGraph) []string {
			r := tg.op("Relu", []string{tg.conv("x", 2, 3, []int64{3, 3}, true, ints("pads", 1, 1, 1, 1))})
			return []string{tg.op("MaxPool", []string{r}, k2, s2)}
		}},
	})
}

func TestElementwiseGradient(t *testing.T) {
	// pooled returns a [1,C,1,1] tensor computed from x, for broadcasting
	// between two tensors on the gradient path.
	pooled := func(tg *testGraph) string {
		return tg.op("AveragePool", []string{"x"}, ints("kernel_shape", 4, 4))
	}
	// positive returns p*p + 1, a divisor safely away from zero.
	positive := func(tg *testGraph, p string) string {
		return tg.op("Add", []string{tg.op("Mul", []string{p, p}), tg.floats(nil, []float32{1})})
	}
	smooth := fdOptions{eps: 1e-3}
	runGradCases(t, []gradCase{
		{name: "Add constant per channel", in: []int64{1, 3, 4, 4}, build: func(tg *testGraph) []string {
			return []string{tg.op("Add", []string{"x", tg.weight(1, 3, 1, 1)})}
		}},
		{name: "Sub constant minus x", in: []int64{1, 3, 4, 4}, build: func(tg *testGraph) []string {
			return []string{tg.op("Sub", []string{tg.weight(1, 4), "x"})}
		}},
		{name: "Add broadcast both ways", in: []int64{1, 3, 1, 4}, build: func(tg *testGraph) []string {
			return []string{tg.op("Add", []string{"x", tg.weight(1, 2, 1, 5, 1)})}
		}},
		{name: "Sub two tensors broadcast", in: []int64{1, 2, 4, 4}, build: func(tg *testGraph) []string {
			return []string{tg.op("Sub", []string{tg.op("Relu", []string{"x"}), pooled(tg)})}
		}},
		{name: "Mul constant scalar", in: []int64{1, 3, 4, 4}, build: func(tg *testGraph) []string {
			return []string{tg.op("Mul", []string{tg.floats(nil, []float32{-1.5}), "x"})}
		}},
		{name: "Mul constant broadcast", in: []int64{1, 3, 4, 4}, build: func(tg *testGraph) []string {
			return []string{tg.op("Mul", []string{"x", tg.weight(1, 1, 3, 1, 1)})}
		}},
		{name: "Mul two tensors broadcast", in: []int64{1, 2, 4, 4}, opts: smooth, build: func(tg *testGraph) []string {
			return []string{tg.op("Mul", []string{tg.conv("x", 2, 2, []int64{3, 3}, true, ints("pads", 1, 1, 1, 1)), pooled(tg)})}
		}},
		{name: "Mul square", in: []int64{1, 2, 3, 3}, opts: smooth, build: func(tg *testGraph) []string {
			return []string{tg.op("Mul", []string{"x", "x"})}
		}},
		{name: "Div by constant", in: []int64{1, 3, 4, 4}, build: func(tg *testGraph) []string {
			return []string{tg.op("Div", []string{"x", tg.floats([]int64{3, 1, 1}, []float32{0.5, -2, 3})})}
		}},
		{name: "Div constant by x", in: []int64{1, 3, 4, 4}, opts: fdOptions{eps: 1e-3, lo: 0.5, hi: 1.5}, build: func(tg *testGraph) []string {
			return []string{tg.op("Div", []string{tg.weight(1, 4), "x"})}
		}},
		{name: "Div two tensors broadcast", in: []int64{1, 2, 4, 4}, opts: smooth, build: func(tg *testGraph) []string {
			return []string{tg.op("Div", []string{"x", positive(tg, pooled(tg))})}
		}},
		{name: "Sum broadcast", in: []int64{1, 2, 4, 4}, build: func(tg *testGraph) []string {
			return []string{tg.op("Sum", []string{"x", pooled(tg), tg.weight(1, 4), tg.op("Relu", []string{"x"})})}
		}},
		{name: "BatchNormalization", in: []int64{2, 3, 4, 4}, build: func(tg *testGraph) []string {
			c := tg.conv("x", 3, 3, []int64{3, 3}, false, ints("pads", 1, 1, 1, 1))
			bn := tg.op("BatchNormalization", []string{c, tg.weight(2, 3), tg.weight(1, 3), tg.weight(1, 3),
				tg.floats([]int64{3}, tg.uniform(3, 0.2, 2))}, float("epsilon", 1e-3))
			return []string{tg.op("Relu", []string{bn})}
		}},
	})
}

func TestTensorOpGradient(t *testing.T) {
	runGradCases(t, []gradCase{
		{name: "Concat channels", in: []int64{1, 2, 4, 4}, build: func(tg *testGraph) []string {
			c := tg.conv("x", 2, 3, []int64{3, 3}, true, ints("pads", 1, 1, 1, 1))
			return []string{tg.op("Concat", []string{c, tg.weight(1, 1, 1, 4, 4), "x", tg.op("Relu", []string{"x"})}, int1("axis", 1))}
		}},
		{name: "Concat negative axis same tensor twice", in: []int64{1, 2, 3, 4}, build: func(tg *testGraph) []string {
			return []string{tg.op("Concat", []string{"x", "x"}, int1("axis", -1))}
		}},
		{name: "Pad constant", in: []int64{1, 2, 4, 5}, build: func(tg *testGraph) []string {
			return []string{tg.op("Pad", []string{"x", tg.ints(0, 0, 1, 2, 0, 0, 2, 1), tg.floats(nil, []float32{0.5})})}
		}},
		{name: "Pad constant with crops", in: []int64{1, 2, 4, 5}, build: func(tg *testGraph) []string {
			return []string{tg.op("Pad", []string{"x", tg.ints(0, 1, -1, 2, 0, 0, 1, -2)})}
		}},
		{name: "Pad reflect", in: []int64{1, 2, 4, 5}, build: func(tg *testGraph) []string {
			return []string{tg.op("Pad", []string{"x", tg.ints(0, 0, 3, 1, 0, 0, 2, 4)}, str("mode", "reflect"))}
		}},
		{name: "Pad edge", in: []int64{1, 2, 4, 5}, build: func(tg *testGraph) []string {
			return []string{tg.op("Pad", []string{"x", tg.ints(0, 1, 2, 0, 0, 0, 3, 2)}, str("mode", "edge"))}
		}},
		{name: "Identity and Dropout", in: []int64{1, 2, 4, 4}, build: func(tg *testGraph) []string {
			d := tg.opN("Dropout", []string{tg.op("Identity", []string{"x"}), tg.floats(nil, []float32{0.5}), tg.boolean(false)}, 2)
			return []string{tg.op("Relu", []string{d[0]})}
		}},
		{name: "Flatten", in: []int64{1, 2, 3, 4}, build: func(tg *testGraph) []string {
			return []string{tg.op("Flatten", []string{tg.op("Flatten", []string{"x"}, int1("axis", 2))})}
		}},
		{name: "Reshape", in: []int64{2, 2, 3, 4}, build: func(tg *testGraph) []string {
			return []string{tg.op("Reshape", []string{"x", tg.ints(0, -1, 2)})}
		}},
	})
}

func TestChainGradient(t *testing.T) {
	k3, p1 := []int64{3, 3}, ints("pads", 1, 1, 1, 1)
	pool := []*onnx.AttributeProto{ints("kernel_shape", 2, 2), ints("strides", 2, 2)}
	runGradCases(t, []gradCase{
		{name: "VGG-like seeds at several depths", in: []int64{1, 3, 12, 12}, build: func(tg *testGraph) []string {
			r11 := tg.op("Relu", []string{tg.conv("x", 3, 4, k3, true, p1)})
			r12 := tg.op("Relu", []string{tg.conv(r11, 4, 4, k3, true, p1)})
			p1o := tg.op("MaxPool", []string{r12}, pool...)
			r21 := tg.op("Relu", []string{tg.conv(p1o, 4, 6, k3, true, p1)})
			r22 := tg.op("Relu", []string{tg.conv(r21, 6, 6, k3, true, p1)})
			p2 := tg.op("AveragePool", []string{r22}, pool...)
			r31 := tg.op("Relu", []string{tg.conv(p2, 6, 8, k3, true, p1)})
			return []string{r11, r21, r22, r31}
		}},
		{name: "fan-out", in: []int64{1, 2, 6, 6}, build: func(tg *testGraph) []string {
			a := tg.op("Relu", []string{tg.conv("x", 2, 3, k3, true, p1)})
			b := tg.conv(a, 3, 3, []int64{1, 1}, true)
			c := tg.conv(a, 3, 3, k3, false, p1)
			return []string{tg.op("Add", []string{b, tg.op("Mul", []string{c, tg.floats(nil, []float32{0.5})})})}
		}},
		{name: "input is a seed", in: []int64{1, 2, 5, 5}, build: func(tg *testGraph) []string {
			return []string{tg.op("Relu", []string{tg.conv("x", 2, 2, k3, true, p1)}), "x"}
		}},
		{name: "residual", in: []int64{1, 2, 6, 6}, build: func(tg *testGraph) []string {
			r := tg.op("Relu", []string{tg.conv("x", 2, 2, k3, true, p1)})
			return []string{tg.op("Add", []string{tg.conv(r, 2, 2, k3, true, p1), "x"})}
		}},
	})
}
