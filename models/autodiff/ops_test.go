package autodiff

import (
	"math"
	"testing"
)

// TestActivationOpsGradient checks the smooth and piecewise activations
// torchvision's trunks export at opset 17.
func TestActivationOpsGradient(t *testing.T) {
	smooth := fdOptions{eps: 1e-3}
	// HardSigmoid and HardSwish are linearised like ReLU (see frozen), so
	// they take large steps.
	wide := fdOptions{hi: 5}
	conv := func(tg *testGraph, c int64) string {
		return tg.conv("x", c, c, []int64{3, 3}, true, ints("pads", 1, 1, 1, 1))
	}
	runGradCases(t, []gradCase{
		{name: "Sigmoid", in: []int64{1, 3, 4, 4}, opts: fdOptions{eps: 1e-2, hi: 4}, build: func(tg *testGraph) []string {
			return []string{tg.op("Sigmoid", []string{"x"})}
		}},
		{name: "SiLU as Mul(x, Sigmoid(x)) after conv", in: []int64{1, 3, 5, 5}, opts: smooth, build: func(tg *testGraph) []string {
			c := conv(tg, 3)
			return []string{tg.op("Mul", []string{c, tg.op("Sigmoid", []string{c})})}
		}},
		{name: "HardSigmoid default", in: []int64{1, 3, 4, 4}, opts: wide, build: func(tg *testGraph) []string {
			return []string{tg.op("HardSigmoid", []string{"x"})}
		}},
		{name: "HardSigmoid torch", in: []int64{1, 3, 4, 4}, opts: fdOptions{hi: 6}, build: func(tg *testGraph) []string {
			return []string{tg.op("HardSigmoid", []string{"x"}, float("alpha", 1.0/6), float("beta", 0.5))}
		}},
		{name: "HardSwish", in: []int64{1, 3, 5, 5}, opts: fdOptions{hi: 6}, build: func(tg *testGraph) []string {
			return []string{tg.op("HardSwish", []string{"x"})}
		}},
		{name: "HardSwish after conv", in: []int64{1, 3, 5, 5}, opts: fdOptions{eps: 1e-3, hi: 4}, build: func(tg *testGraph) []string {
			return []string{tg.op("HardSwish", []string{tg.op("Mul", []string{conv(tg, 3), tg.floats(nil, []float32{3})})})}
		}},
		{name: "Tanh", in: []int64{1, 2, 4, 4}, opts: smooth, build: func(tg *testGraph) []string {
			return []string{tg.op("Tanh", []string{"x"})}
		}},
		{name: "Erf", in: []int64{1, 2, 4, 4}, opts: fdOptions{eps: 1e-3, hi: 2}, build: func(tg *testGraph) []string {
			return []string{tg.op("Erf", []string{"x"})}
		}},
		{name: "GELU as Erf", in: []int64{1, 3, 5, 5}, opts: smooth, build: func(tg *testGraph) []string {
			x := conv(tg, 3)
			e := tg.op("Erf", []string{tg.op("Div", []string{x, tg.floats(nil, []float32{float32(math.Sqrt2)})})})
			h := tg.op("Mul", []string{x, tg.op("Add", []string{e, tg.floats(nil, []float32{1})})})
			return []string{tg.op("Mul", []string{h, tg.floats(nil, []float32{0.5})})}
		}},
		{name: "Exp Neg", in: []int64{1, 2, 3, 3}, opts: smooth, build: func(tg *testGraph) []string {
			return []string{tg.op("Exp", []string{tg.op("Neg", []string{"x"})})}
		}},
		{name: "Sqrt Pow", in: []int64{1, 2, 3, 3}, opts: smooth, build: func(tg *testGraph) []string {
			sq := tg.op("Pow", []string{"x", tg.floats(nil, []float32{2})})
			s := tg.op("Sqrt", []string{tg.op("Add", []string{sq, tg.floats(nil, []float32{0.5})})})
			return []string{s, tg.op("Pow", []string{s, tg.floats(nil, []float32{-1.5})})}
		}},
		{name: "Cast float to float", in: []int64{1, 2, 3, 3}, build: func(tg *testGraph) []string {
			return []string{tg.op("Cast", []string{"x"}, int1("to", 1))}
		}},
	})
}

// TestTensorLayoutOpsGradient checks the ops that move, select or reduce
// elements.
func TestTensorLayoutOpsGradient(t *testing.T) {
	const int64Max, int64Min = math.MaxInt64, math.MinInt64
	slice := func(starts, ends, axes, steps []int64) func(tg *testGraph) []string {
		return func(tg *testGraph) []string {
			in := []string{"x", tg.ints(starts...), tg.ints(ends...)}
			if axes != nil {
				in = append(in, tg.ints(axes...))
			}
			if steps != nil {
				in = append(in, tg.ints(steps...))
			}
			return []string{tg.op("Slice", in)}
		}
	}
	runGradCases(t, []gradCase{
		{name: "Transpose NCHW to NHWC", in: []int64{1, 3, 4, 5}, build: func(tg *testGraph) []string {
			return []string{tg.op("Transpose", []string{"x"}, ints("perm", 0, 2, 3, 1))}
		}},
		{name: "Transpose default reverses", in: []int64{2, 3, 4}, build: func(tg *testGraph) []string {
			return []string{tg.op("Transpose", []string{"x"})}
		}},
		{name: "GlobalAveragePool", in: []int64{2, 3, 4, 5}, build: func(tg *testGraph) []string {
			return []string{tg.op("GlobalAveragePool", []string{"x"})}
		}, wantOps: []string{"Expand"}},
		{name: "ReduceMean channels keepdims", in: []int64{1, 4, 3, 3}, build: func(tg *testGraph) []string {
			return []string{tg.op("ReduceMean", []string{"x"}, ints("axes", 1))}
		}},
		{name: "ReduceMean two axes dropped", in: []int64{2, 3, 4, 5}, build: func(tg *testGraph) []string {
			return []string{tg.op("ReduceMean", []string{"x"}, ints("axes", -1, 2), int1("keepdims", 0))}
		}},
		{name: "ReduceSum axes input", in: []int64{2, 3, 4, 5}, build: func(tg *testGraph) []string {
			return []string{tg.op("ReduceSum", []string{"x", tg.ints(0, 3)}, int1("keepdims", 0))}
		}},
		{name: "ReduceSum all", in: []int64{1, 3, 2, 2}, build: func(tg *testGraph) []string {
			return []string{tg.op("ReduceSum", []string{"x"})}
		}},
		{name: "Slice spatial crop", in: []int64{1, 2, 6, 7}, build: slice([]int64{1, 2}, []int64{5, -1}, []int64{2, 3}, nil)},
		{name: "Slice channels default axes", in: []int64{1, 4, 3, 3}, build: slice([]int64{0, 1}, []int64{1, 3}, nil, nil)},
		{name: "Slice step 2 to the end", in: []int64{1, 2, 7, 6}, build: slice([]int64{1, 0}, []int64{int64Max, int64Max}, []int64{-2, -1}, []int64{2, 3})},
		{name: "Slice flip", in: []int64{1, 2, 4, 5}, build: slice([]int64{-1}, []int64{int64Min}, []int64{3}, []int64{-1})},
		{name: "Slice negative step 2", in: []int64{1, 2, 7, 5}, build: slice([]int64{5, 4}, []int64{0, -100}, []int64{2, 3}, []int64{-2, -3})},
		{name: "Slice clamps bounds", in: []int64{1, 3, 4, 4}, build: slice([]int64{-100, 2}, []int64{100, 100}, []int64{1, 2}, nil)},
		{name: "Split channels both used", in: []int64{1, 4, 3, 3}, build: func(tg *testGraph) []string {
			return tg.opN("Split", []string{"x", tg.ints(2, 2)}, 2, int1("axis", 1))
		}},
		{name: "Split equal one output used", in: []int64{1, 6, 3, 3}, build: func(tg *testGraph) []string {
			parts := tg.opN("Split", []string{"x"}, 3, int1("axis", 1))
			return []string{tg.op("Relu", []string{parts[1]})}
		}, wantOps: []string{"ConstantOfShape", "Concat"}},
		{name: "Split halves meet again", in: []int64{1, 4, 3, 3}, build: func(tg *testGraph) []string {
			parts := tg.opN("Split", []string{"x", tg.ints(1, 3)}, 2, int1("axis", -3))
			c := tg.conv(parts[1], 3, 1, []int64{3, 3}, true, ints("pads", 1, 1, 1, 1))
			return []string{tg.op("Concat", []string{parts[0], c}, int1("axis", 1))}
		}},
		{name: "Gather scalar index (GoogLeNet transform_input)", in: []int64{1, 3, 4, 4}, build: func(tg *testGraph) []string {
			var chans []string
			for c := range int64(3) {
				g := tg.op("Gather", []string{"x", tg.scalarInt(c)}, int1("axis", 1))
				u := tg.op("Unsqueeze", []string{g, tg.ints(1)})
				m := tg.op("Mul", []string{u, tg.floats(nil, []float32{0.458 + 0.01*float32(c)})})
				chans = append(chans, tg.op("Add", []string{m, tg.floats(nil, []float32{-0.03})}))
			}
			return []string{tg.op("Concat", chans, int1("axis", 1))}
		}},
		{name: "Gather consecutive indices", in: []int64{1, 5, 3, 3}, build: func(tg *testGraph) []string {
			return []string{tg.op("Gather", []string{"x", tg.ints(1, 2, 3)}, int1("axis", 1))}
		}, wantOps: []string{"Pad"}, avoidOps: []string{"MatMul"}},
		{name: "Gather repeated indices", in: []int64{1, 3, 4, 5}, build: func(tg *testGraph) []string {
			return []string{tg.op("Gather", []string{"x", tg.ints(4, 0, -1, 2)}, int1("axis", -1))}
		}, wantOps: []string{"MatMul"}},
		{name: "Gather 2-D indices middle axis", in: []int64{1, 3, 4, 2}, build: func(tg *testGraph) []string {
			idx := tg.name("i")
			tg.g.Initializer = append(tg.g.Initializer, int64Tensor(idx, []int64{2, 2}, []int64{0, 2, 2, 1}))
			return []string{tg.op("Gather", []string{"x", idx}, int1("axis", 1))}
		}},
		{name: "Squeeze Unsqueeze", in: []int64{1, 3, 1, 4}, build: func(tg *testGraph) []string {
			s := tg.op("Squeeze", []string{"x", tg.ints(2)})
			return []string{tg.op("Unsqueeze", []string{s, tg.ints(0, -1)})}
		}},
		{name: "Expand per-channel tensor", in: []int64{1, 3, 1, 1}, build: func(tg *testGraph) []string {
			return []string{tg.op("Expand", []string{"x", tg.ints(2, 1, 4, 5)})}
		}},
	})
}

// TestMatMulLayerNormGradient checks the ops of ConvNeXt's block: Linear
// layers on NHWC tensors (MatMul with a constant weight, then Add) and
// LayerNormalization over the channels.
func TestMatMulLayerNormGradient(t *testing.T) {
	smooth := fdOptions{eps: 1e-3}
	nhwc := func(tg *testGraph) string {
		return tg.op("Transpose", []string{"x"}, ints("perm", 0, 2, 3, 1))
	}
	runGradCases(t, []gradCase{
		{name: "MatMul constant weight on NHWC", in: []int64{1, 3, 4, 5}, build: func(tg *testGraph) []string {
			h := tg.op("MatMul", []string{nhwc(tg), tg.weight(0.5, 3, 6)})
			return []string{tg.op("Add", []string{h, tg.weight(0.5, 6)})}
		}},
		{name: "MatMul constant first operand", in: []int64{1, 2, 4, 3}, build: func(tg *testGraph) []string {
			return []string{tg.op("MatMul", []string{tg.weight(0.5, 5, 4), "x"})}
		}},
		{name: "MatMul two tensors broadcast batch", in: []int64{2, 1, 3, 4}, opts: smooth, build: func(tg *testGraph) []string {
			b := tg.op("Transpose", []string{tg.op("Relu", []string{"x"})}, ints("perm", 1, 0, 3, 2))
			return []string{tg.op("MatMul", []string{"x", b})}
		}},
		{name: "LayerNormalization last axis", in: []int64{1, 8, 3, 4}, opts: smooth, build: func(tg *testGraph) []string {
			// Eight channels: over three, a group's variance can come near
			// zero, where the finite difference's step is too large.
			return []string{tg.op("LayerNormalization", []string{nhwc(tg), tg.weight(1, 8), tg.weight(1, 8)}, float("epsilon", 1e-6))}
		}, wantOps: []string{"ReduceMean"}},
		{name: "LayerNormalization two axes no bias", in: []int64{2, 3, 4, 5}, opts: smooth, build: func(tg *testGraph) []string {
			return []string{tg.op("LayerNormalization", []string{"x", tg.weight(1, 4, 5)}, int1("axis", 2))}
		}},
		{name: "LayerNormalization with Mean output", in: []int64{1, 4, 3, 3}, opts: smooth, build: func(tg *testGraph) []string {
			y := tg.opN("LayerNormalization", []string{"x", tg.weight(1, 4, 3, 3), tg.weight(1, 4, 3, 3)}, 2, int1("axis", 1))
			return y[:1]
		}},
		{name: "LayerNorm2d decomposed over channels", in: []int64{1, 4, 3, 3}, opts: smooth, build: func(tg *testGraph) []string {
			u := tg.op("ReduceMean", []string{"x"}, ints("axes", 1))
			d := tg.op("Sub", []string{"x", u})
			v := tg.op("ReduceMean", []string{tg.op("Pow", []string{d, tg.floats(nil, []float32{2})})}, ints("axes", 1))
			s := tg.op("Sqrt", []string{tg.op("Add", []string{v, tg.floats(nil, []float32{1e-6})})})
			n := tg.op("Div", []string{d, s})
			return []string{tg.op("Add", []string{tg.op("Mul", []string{n, tg.weight(1, 4, 1, 1)}), tg.weight(1, 4, 1, 1)})}
		}},
	})
}
