package autodiff

import (
	"slices"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// dynamicShuffle builds ShuffleNet's channel shuffle of a conv output as
// torch.onnx.export writes it with dynamic height and width: the view's
// sizes are read with Shape and Gather, channels // groups is an integer
// Div, and Unsqueeze and Concat assemble the Reshape targets.
func dynamicShuffle(tg *testGraph, c int64) string {
	y := tg.conv("x", c, c, []int64{3, 3}, true, ints("pads", 1, 1, 1, 1))
	shape := tg.op("Shape", []string{y})
	dim := func(i int64) string {
		return tg.op("Unsqueeze", []string{tg.op("Gather", []string{shape, tg.scalarInt(i)}, int1("axis", 0)), tg.ints(0)})
	}
	n, ch, h, w := dim(0), dim(1), dim(2), dim(3)
	perGroup := tg.op("Div", []string{ch, tg.ints(2)})
	target := tg.op("Concat", []string{n, tg.ints(2), perGroup, h, w}, int1("axis", 0))
	v := tg.op("Reshape", []string{y, target})
	tr := tg.op("Transpose", []string{v}, ints("perm", 0, 2, 1, 3, 4))
	back := tg.op("Concat", []string{n, tg.ints(-1), h, w}, int1("axis", 0))
	return tg.op("Relu", []string{tg.op("Reshape", []string{tr, back})})
}

// dynamicCrop keeps the top half of the rows and pads the result back with
// a ConstantOfShape-built Expand, the way exported code like x[:, :, :H//2]
// and x.expand(...) reads the size at run time; float arithmetic on the
// size (Cast, Div, Floor, Cast back) is the form older exports use.
func dynamicCrop(tg *testGraph) string {
	shape := tg.op("Shape", []string{"x"})
	h := tg.op("Gather", []string{shape, tg.ints(2)}, int1("axis", 0))
	hf := tg.op("Cast", []string{h}, int1("to", int64(onnx.TensorProto_FLOAT)))
	half := tg.op("Cast", []string{tg.op("Floor", []string{tg.op("Div", []string{hf, tg.floats(nil, []float32{2})})})}, int1("to", int64(onnx.TensorProto_INT64)))
	top := tg.op("Slice", []string{"x", tg.ints(0), half, tg.ints(2)})
	// expand(-1, ...) sizes: -1 entries replaced by ones, as torch writes it.
	sizes := tg.op("Shape", []string{top})
	ones := tg.op("ConstantOfShape", []string{tg.op("Shape", []string{sizes})}, &onnx.AttributeProto{Name: "value", Type: onnx.AttributeProto_TENSOR, T: onnxgraph.Int64s("v", []int64{1}, []int64{1})})
	target := tg.op("Where", []string{tg.op("Equal", []string{sizes, tg.ints(-1)}), ones, sizes})
	bias := tg.op("Expand", []string{tg.weight(1, 1, 3, 1, 1), target})
	return tg.op("Add", []string{top, bias})
}

func TestFoldShapes(t *testing.T) {
	cases := []struct {
		name    string
		in      []int64
		other   []int64 // a second size the unfolded graph runs at
		build   func(tg *testGraph) string
		opts    fdOptions
		folds   bool
		dynamic bool
	}{
		{"channel shuffle", []int64{1, 4, 5, 6}, []int64{2, 4, 3, 7}, func(tg *testGraph) string { return dynamicShuffle(tg, 4) }, fdOptions{}, true, true},
		{"crop and expand", []int64{1, 3, 6, 5}, []int64{1, 3, 9, 4}, dynamicCrop, fdOptions{}, true, true},
		{"constant chain", []int64{1, 2, 4, 4}, nil, func(tg *testGraph) string {
			target := tg.op("Concat", []string{tg.ints(1), tg.op("Mul", []string{tg.ints(4), tg.ints(2)}), tg.ints(-1)}, int1("axis", 0))
			return tg.op("Reshape", []string{"x", target})
		}, fdOptions{}, true, false},
		{"nothing to fold", []int64{1, 2, 4, 4}, nil, func(tg *testGraph) string {
			return tg.op("Reshape", []string{"x", tg.ints(1, -1)})
		}, fdOptions{}, false, false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			initORT(t)
			tg := newTestGraph(uint64(4000+i), c.in...)
			seed := c.build(tg)
			before := proto.Clone(tg.g)
			// The graph as exported is not differentiable as it is when it
			// computes shapes: InferShapes needs constants.
			if _, err := InferShapes(tg.g, Shapes{"x": c.in}); c.dynamic && err == nil {
				t.Fatal("InferShapes read a shape computed at run time")
			}
			folded, dynamic, err := FoldShapes(tg.g, Shapes{"x": c.in})
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(before, tg.g) {
				t.Fatal("FoldShapes modified its input graph")
			}
			if dynamic != c.dynamic {
				t.Errorf("sizeDependent = %v, want %v", dynamic, c.dynamic)
			}
			if got := folded != tg.g; got != c.folds {
				t.Fatalf("folded = %v, want %v", got, c.folds)
			}
			var ops []string
			for _, n := range folded.GetNode() {
				ops = append(ops, n.GetOpType())
			}
			for _, op := range []string{"Shape", "Gather", "Concat", "Unsqueeze", "Cast", "Floor", "ConstantOfShape", "Where", "Equal", "Mul"} {
				if slices.Contains(ops, op) {
					t.Errorf("folded graph still computes %s: %v", op, ops)
				}
			}
			// The folded graph computes what the exported one does.
			n, _ := onnxgraph.NumElements(c.in)
			feeds := map[string]ort.Value{"x": tensor(t, c.in, tg.uniform(n, -1, 1))}
			want := newSession(t, tg.g, []string{seed}, 1).run(t, feeds)
			defer destroyAll(want)
			got := newSession(t, folded, []string{seed}, 1).run(t, feeds)
			defer destroyAll(got)
			if d := maxDiff(floatData(t, got[seed]), floatData(t, want[seed])); d > 1e-6 {
				t.Errorf("folded graph differs from the exported one by %g", d)
			}
			// The exported graph still runs at another size: the folding
			// was done on a copy.
			if c.other != nil {
				free := proto.Clone(tg.g).(*onnx.GraphProto)
				free.Input[0] = onnxgraph.FloatValue("x", -1, c.in[1], -1, -1)
				m, _ := onnxgraph.NumElements(c.other)
				r := newSession(t, free, []string{seed}, 1).run(t, map[string]ort.Value{"x": tensor(t, c.other, tg.uniform(m, -1, 1))})
				destroyAll(r)
			}
			checkGradient(t, &testGraph{g: folded, rng: tg.rng, extra: tg.extra}, []string{seed}, c.opts)
		})
	}
}

// TestFoldShapesErrors checks that a shape computation that cannot hold
// at the given size is an error naming the node, not a wrong constant.
func TestFoldShapesErrors(t *testing.T) {
	tg := newTestGraph(1, 1, 2, 4, 4)
	s := tg.op("Shape", []string{"x"})
	g := tg.op("Gather", []string{s, tg.ints(7)}, int1("axis", 0))
	tg.op("Reshape", []string{"x", g})
	_, _, err := FoldShapes(tg.g, Shapes{"x": {1, 2, 4, 4}})
	if err == nil || !strings.Contains(err.Error(), "index 7 out of range") || !strings.Contains(err.Error(), "Gather") {
		t.Fatalf("error %v, want an out-of-range index", err)
	}
}
