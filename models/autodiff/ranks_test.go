package autodiff

import (
	"fmt"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// TestSpatialRanksGradient runs Conv, MaxPool and AveragePool in 1, 2 and
// 3 spatial dimensions ([N,C,L], [N,C,H,W], [N,C,D,H,W]) through shape
// inference (checked against ONNX Runtime), differentiation, a backward
// session and finite differences, for each formulation the rules choose.
func TestSpatialRanksGradient(t *testing.T) {
	// rep repeats per-axis values for rank r; pads repeats begin and end.
	rep := func(r int, v ...int64) []int64 {
		var out []int64
		for i := range r {
			out = append(out, v[i%len(v)])
		}
		return out
	}
	pads := func(r int, begin, end int64) []int64 {
		return append(rep(r, begin), rep(r, end)...)
	}
	shapes := map[int][]int64{1: {2, 3, 11}, 2: {1, 3, 7, 6}, 3: {1, 2, 5, 6, 5}}
	var cases []gradCase
	for _, r := range []int{1, 2, 3} {
		in := shapes[r]
		c := in[1]
		conv := func(cout int64, k []int64, attrs ...*onnx.AttributeProto) func(tg *testGraph) []string {
			return func(tg *testGraph) []string { return []string{tg.conv("x", c, cout, k, true, attrs...)} }
		}
		pool := func(op string, attrs ...*onnx.AttributeProto) func(tg *testGraph) []string {
			return func(tg *testGraph) []string { return []string{tg.op(op, []string{"x"}, attrs...)} }
		}
		k3, k2 := rep(r, 3), rep(r, 2)
		name := func(s string) string { return fmt.Sprintf("%dd %s", r, s) }
		cases = append(cases,
			gradCase{name: name("conv 3 pad 1"), in: in, build: conv(4, k3, ints("pads", pads(r, 1, 1)...)), avoidOps: []string{"ConvTranspose"}},
			gradCase{name: name("conv stride 2 asymmetric pads"), in: in, build: conv(2, k3, ints("strides", rep(r, 2)...), ints("pads", pads(r, 1, 0)...)), wantOps: []string{"ConvTranspose"}},
			gradCase{name: name("conv dilation 2"), in: in, build: conv(2, k2, ints("dilations", rep(r, 2)...), ints("pads", pads(r, 1, 1)...))},
			gradCase{name: name("depthwise conv"), in: in, build: conv(c, k3, int1("group", c), ints("pads", pads(r, 1, 1)...))},
			gradCase{name: name("conv SAME_UPPER stride 2"), in: in, build: conv(2, k2, str("auto_pad", "SAME_UPPER"), ints("strides", rep(r, 2)...))},
			gradCase{name: name("max 2 stride 2"), in: in, build: pool("MaxPool", ints("kernel_shape", k2...), ints("strides", rep(r, 2)...)), wantOps: []string{"MaxUnpool"}},
			gradCase{name: name("max 3 stride 2 pad 1"), in: in, build: pool("MaxPool", ints("kernel_shape", k3...), ints("strides", rep(r, 2)...), ints("pads", pads(r, 1, 1)...)), wantOps: []string{"ScatterElements"}},
			gradCase{name: name("max 3 stride 2 ceil"), in: in, build: pool("MaxPool", ints("kernel_shape", k3...), ints("strides", rep(r, 2)...), int1("ceil_mode", 1))},
			gradCase{name: name("avg 2 stride 2"), in: in, build: pool("AveragePool", ints("kernel_shape", k2...), ints("strides", rep(r, 2)...)), wantOps: []string{"Resize"}},
			gradCase{name: name("avg 3 stride 1 pad 1 include pad"), in: in, build: pool("AveragePool", ints("kernel_shape", k3...), ints("pads", pads(r, 1, 1)...), int1("count_include_pad", 1)), wantOps: []string{"ConvTranspose"}},
			gradCase{name: name("avg 3 stride 2 pad 1 ceil exclude pad"), in: in, build: pool("AveragePool", ints("kernel_shape", k3...), ints("strides", rep(r, 2)...), ints("pads", pads(r, 1, 1)...), int1("ceil_mode", 1))},
			gradCase{name: name("global average"), in: in, build: pool("GlobalAveragePool")},
			gradCase{name: name("conv relu maxpool"), in: in, build: func(tg *testGraph) []string {
				x := tg.op("Relu", []string{tg.conv("x", c, 3, k3, true, ints("pads", pads(r, 1, 1)...))})
				return []string{tg.op("MaxPool", []string{x}, ints("kernel_shape", k2...), ints("strides", rep(r, 2)...))}
			}},
		)
	}
	runGradCases(t, cases)
}
