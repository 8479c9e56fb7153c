package autodiff

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// TestInferShapesMatchesORT compares InferShapes with the shapes ONNX
// Runtime produces, for the geometry variants of every supported op and for
// common classifier-head ops.
func TestInferShapesMatchesORT(t *testing.T) {
	initORT(t)
	pool := func(op string, attrs ...*onnx.AttributeProto) func(tg *testGraph) {
		return func(tg *testGraph) {
			if op == "MaxPool" {
				tg.opN(op, []string{"x"}, 2, attrs...)
				return
			}
			tg.op(op, []string{"x"}, attrs...)
		}
	}
	conv := func(cout int64, k []int64, attrs ...*onnx.AttributeProto) func(tg *testGraph) {
		return func(tg *testGraph) {
			cin := valueDims(tg.g.GetInput()[0])[1]
			tg.conv("x", cin, cout, k, true, attrs...)
		}
	}
	k2, k3 := ints("kernel_shape", 2, 2), ints("kernel_shape", 3, 3)
	s2, s3 := ints("strides", 2, 2), ints("strides", 3, 3)
	ceil := int1("ceil_mode", 1)
	cases := []struct {
		name  string
		in    []int64
		build func(tg *testGraph)
	}{
		{"conv pads strides dilations", []int64{1, 2, 11, 10}, conv(3, []int64{3, 2}, ints("pads", 1, 0, 2, 3), ints("strides", 2, 3), ints("dilations", 2, 1))},
		{"conv SAME_UPPER stride 2 odd", []int64{1, 2, 7, 8}, conv(3, []int64{4, 3}, str("auto_pad", "SAME_UPPER"), s2)},
		{"conv SAME_LOWER stride 3", []int64{1, 2, 7, 8}, conv(3, []int64{2, 3}, str("auto_pad", "SAME_LOWER"), s3)},
		{"conv SAME_UPPER stride beyond kernel", []int64{1, 2, 6, 7}, conv(3, []int64{2, 2}, str("auto_pad", "SAME_UPPER"), s3)},
		{"conv VALID", []int64{1, 2, 7, 8}, conv(3, []int64{3, 3}, str("auto_pad", "VALID"), s2, ints("dilations", 2, 1))},
		{"conv group 1-d", []int64{2, 4, 9}, conv(6, []int64{3}, int1("group", 2), ints("strides", 2))},
		{"max ceil asymmetric pads", []int64{1, 2, 6, 7}, pool("MaxPool", k3, s2, ceil, ints("pads", 0, 2, 2, 0))},
		{"max ceil start in end pad", []int64{1, 2, 5, 5}, pool("MaxPool", k2, s2, ceil, ints("pads", 1, 0, 1, 1))},
		{"max ceil stride 3 pads", []int64{1, 1, 8, 9}, pool("MaxPool", k3, s3, ceil, ints("pads", 2, 1, 0, 2))},
		{"max dilation ceil", []int64{1, 2, 8, 9}, pool("MaxPool", k2, s2, ceil, ints("dilations", 2, 3))},
		{"max SAME_UPPER stride 3", []int64{1, 2, 7, 8}, pool("MaxPool", k2, s3, str("auto_pad", "SAME_UPPER"))},
		{"max SAME_LOWER", []int64{1, 2, 7, 8}, pool("MaxPool", k3, s2, str("auto_pad", "SAME_LOWER"))},
		{"max VALID ceil", []int64{1, 2, 7, 8}, pool("MaxPool", k2, s2, str("auto_pad", "VALID"), ceil)},
		{"avg ceil include pad", []int64{1, 2, 6, 7}, pool("AveragePool", k3, s2, ceil, ints("pads", 1, 1, 1, 1), int1("count_include_pad", 1))},
		{"avg SAME_LOWER 1-d", []int64{1, 2, 9}, pool("AveragePool", ints("kernel_shape", 4), ints("strides", 2), str("auto_pad", "SAME_LOWER"))},
		{"head", []int64{2, 3, 4, 4}, func(tg *testGraph) {
			g := tg.op("GlobalAveragePool", []string{"x"})
			f := tg.op("Flatten", []string{g})
			h := tg.op("Gemm", []string{f, tg.weight(1, 5, 3), tg.weight(1, 5)}, int1("transB", 1))
			tg.op("Softmax", []string{tg.op("Relu", []string{h})}, int1("axis", 1))
			tg.op("LogSoftmax", []string{tg.op("MatMul", []string{f, tg.weight(1, 3, 4)})})
		}},
		{"matmul batch broadcast", []int64{2, 1, 3, 4}, func(tg *testGraph) {
			tg.op("MatMul", []string{"x", tg.weight(1, 5, 4, 2)})
			tg.op("MatMul", []string{tg.weight(1, 4), tg.op("Transpose", []string{"x"}, ints("perm", 0, 1, 3, 2))})
		}},
		{"squeeze unsqueeze transpose shape", []int64{1, 3, 1, 4}, func(tg *testGraph) {
			s := tg.op("Squeeze", []string{"x", tg.ints(0, -2)})
			u := tg.op("Unsqueeze", []string{s, tg.ints(-1, 1)})
			tg.op("Shape", []string{tg.op("Transpose", []string{u})})
			tg.op("Squeeze", []string{"x"})
		}},
		{"tensor ops", []int64{1, 2, 4, 5}, func(tg *testGraph) {
			c := tg.op("Concat", []string{"x", tg.op("Relu", []string{"x"}), tg.weight(1, 1, 3, 4, 5)}, int1("axis", -3))
			p := tg.op("Pad", []string{c, tg.ints(0, 0, 1, -1, 0, 1, 2, 3)})
			r := tg.op("Reshape", []string{p, tg.ints(0, 2, -1)})
			tg.op("Flatten", []string{r}, int1("axis", 0))
			tg.op("Sum", []string{"x", tg.weight(1, 5), tg.weight(1, 2, 1, 1)})
			tg.op("Div", []string{tg.weight(1, 3, 1, 1, 1), "x"})
			tg.opN("Dropout", []string{"x"}, 2)
			tg.op("Clip", []string{tg.op("LeakyRelu", []string{"x"}), tg.floats(nil, []float32{0})})
			tg.op("BatchNormalization", []string{"x", tg.weight(1, 2), tg.weight(1, 2), tg.weight(1, 2), tg.floats([]int64{2}, []float32{1, 2})})
		}},
		{"trunk ops", []int64{2, 6, 5, 7}, func(tg *testGraph) {
			tg.op("HardSwish", []string{tg.op("HardSigmoid", []string{"x"})})
			t := tg.op("Transpose", []string{"x"}, ints("perm", 0, 2, 3, 1))
			tg.opN("LayerNormalization", []string{t, tg.weight(1, 6), tg.weight(1, 6)}, 3)
			tg.opN("LayerNormalization", []string{"x", tg.weight(1, 5, 7)}, 1, int1("axis", -2))
			tg.opN("Split", []string{"x", tg.ints(1, 5)}, 2, int1("axis", 1))
			tg.opN("Split", []string{"x"}, 3, int1("axis", -3))
			tg.op("Slice", []string{"x", tg.ints(-1, 1), tg.ints(-1000, 100), tg.ints(3, 2), tg.ints(-2, 3)})
			tg.op("Slice", []string{"x", tg.ints(1), tg.ints(4)})
			tg.op("Gather", []string{"x", tg.scalarInt(2)}, int1("axis", 1))
			idx := tg.name("i")
			tg.g.Initializer = append(tg.g.Initializer, int64Tensor(idx, []int64{2, 3}, []int64{0, 1, 1, 4, -1, 2}))
			tg.op("Gather", []string{"x", idx}, int1("axis", -1))
			tg.op("Expand", []string{tg.op("ReduceMean", []string{"x"}, ints("axes", 2, 3)), tg.ints(3, 1, 1, 1, 1)})
			tg.op("ReduceSum", []string{"x", tg.ints(1, -1)}, int1("keepdims", 0))
			tg.op("ReduceSum", []string{"x"})
			tg.op("ReduceMax", []string{"x"}, ints("axes", 0), int1("keepdims", 0))
			tg.op("ConstantOfShape", []string{tg.ints(2, 3)})
			tg.op("Where", []string{tg.op("Greater", []string{"x", tg.weight(1, 7)}), "x", tg.weight(1, 5, 1)})
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := newTestGraph(uint64(2000+i), c.in...)
			c.build(tg)
			shapes, err := InferShapes(tg.g, Shapes{"x": c.in})
			if err != nil {
				t.Fatalf("InferShapes: %v", err)
			}
			n, _ := onnxgraph.NumElements(c.in)
			feeds := map[string]ort.Value{"x": tensor(t, c.in, tg.uniform(n, -1, 1))}
			checkShapes(t, tg.g, shapes, feeds)
			for _, init := range tg.g.GetInitializer() {
				if !slices.Equal(shapes[init.GetName()], init.GetDims()) {
					t.Errorf("initializer %q: shape %v, want %v", init.GetName(), shapes[init.GetName()], init.GetDims())
				}
			}
		})
	}
}

func TestInferShapesErrors(t *testing.T) {
	unknown := func() *testGraph {
		tg := newTestGraph(1, 1, 2, 3, 3)
		tg.op("Relu", []string{tg.op("Hardmax", []string{"x"})})
		return tg
	}
	cases := []struct {
		name   string
		graph  func() *testGraph
		inputs Shapes
		want   string // error substring; "" for success
	}{
		{"missing input shape", func() *testGraph { tg := newTestGraph(1, 1, 2, 3, 3); tg.op("Relu", []string{"x"}); return tg }, Shapes{}, `no shape given for graph input "x"`},
		{"unknown dimension", func() *testGraph { tg := newTestGraph(1, 1, 2, 3, 3); tg.op("Relu", []string{"x"}); return tg }, Shapes{"x": {1, -1, 3, 3}}, "all dimensions must be known"},
		{"unknown op undeclared", unknown, Shapes{"x": {1, 2, 3, 3}}, `no shape rule for op Hardmax, and the graph declares no static shape for "t1"`},
		{"unknown op declared", func() *testGraph {
			tg := unknown()
			tg.g.ValueInfo = append(tg.g.ValueInfo, onnxgraph.FloatValue("t1", 1, 2, 3, 3))
			return tg
		}, Shapes{"x": {1, 2, 3, 3}}, ""},
		{"broadcast mismatch", func() *testGraph {
			tg := newTestGraph(1, 1, 2, 3, 3)
			tg.op("Add", []string{"x", tg.weight(1, 4)})
			return tg
		}, Shapes{"x": {1, 2, 3, 3}}, "do not broadcast"},
		{"conv channel mismatch", func() *testGraph {
			tg := newTestGraph(1, 1, 2, 3, 3)
			tg.conv("x", 3, 2, []int64{1, 1}, false)
			return tg
		}, Shapes{"x": {1, 2, 3, 3}}, "do not fit"},
		{"kernel larger than input", func() *testGraph {
			tg := newTestGraph(1, 1, 2, 3, 3)
			tg.op("MaxPool", []string{"x"}, ints("kernel_shape", 4, 4))
			return tg
		}, Shapes{"x": {1, 2, 3, 3}}, "smaller than the kernel"},
		{"reshape computed shape", func() *testGraph {
			tg := newTestGraph(1, 1, 2, 3, 3)
			tg.op("Reshape", []string{"x", tg.op("Shape", []string{"x"})})
			return tg
		}, Shapes{"x": {1, 2, 3, 3}}, "not a constant"},
		{"slice step at the int64 limit", func() *testGraph {
			tg := newTestGraph(1, 1, 2, 3, 3)
			tg.op("Slice", []string{"x", tg.ints(0), tg.ints(3), tg.ints(2), tg.ints(math.MinInt64)})
			return tg
		}, Shapes{"x": {1, 2, 3, 3}}, "step -9223372036854775808"},
		{"split larger than the axis", func() *testGraph {
			tg := newTestGraph(1, 1, 2, 3, 3)
			tg.opN("Split", []string{"x", tg.ints(math.MaxInt64, 2-math.MaxInt64)}, 2, int1("axis", 1))
			return tg
		}, Shapes{"x": {1, 2, 3, 3}}, "does not fit dimension 2"},
		{"expand to a negative size", func() *testGraph {
			tg := newTestGraph(1, 1, 2, 3, 3)
			tg.op("Expand", []string{"x", tg.ints(1, -1, 3, 3)})
			return tg
		}, Shapes{"x": {1, 2, 3, 3}}, "negative dimension"},
		{"cycle", func() *testGraph {
			tg := newTestGraph(1, 1, 2, 3, 3)
			tg.g.Node = append(tg.g.Node, onnxgraph.Node("Add", "a", []string{"x", "b_out"}, []string{"a_out"}), onnxgraph.Node("Relu", "b", []string{"a_out"}, []string{"b_out"}))
			return tg
		}, Shapes{"x": {1, 2, 3, 3}}, "cycle"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := c.graph()
			shapes, err := InferShapes(tg.g, c.inputs)
			if c.want == "" {
				if err != nil {
					t.Fatalf("InferShapes: %v", err)
				}
				last := tg.g.Node[len(tg.g.Node)-1].Output[0]
				if !slices.Equal(shapes[last], []int64{1, 2, 3, 3}) {
					t.Errorf("shape after the declared op: %v", shapes[last])
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("InferShapes error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestInferShapesSortsNodes(t *testing.T) {
	tg := newTestGraph(1, 1, 2, 4, 4)
	r := tg.op("Relu", []string{"x"})
	p := tg.op("MaxPool", []string{r}, ints("kernel_shape", 2, 2), ints("strides", 2, 2))
	slices.Reverse(tg.g.Node)
	shapes, err := InferShapes(tg.g, Shapes{"x": {1, 2, 4, 4}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shapes[p], []int64{1, 2, 2, 2}) {
		t.Fatalf("pooled shape %v, want [1 2 2 2]", shapes[p])
	}
}
