package autodiff

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// vggBlock builds conv-relu-conv-relu-maxpool on x and returns the ReLU
// outputs and the pool output.
func vggBlock(tg *testGraph, x string, cin, cout int64) (r1, r2, pool string) {
	p1 := ints("pads", 1, 1, 1, 1)
	r1 = tg.op("Relu", []string{tg.conv(x, cin, cout, []int64{3, 3}, true, p1)})
	r2 = tg.op("Relu", []string{tg.conv(r1, cout, cout, []int64{3, 3}, true, p1)})
	pool = tg.op("MaxPool", []string{r2}, ints("kernel_shape", 2, 2), ints("strides", 2, 2))
	return r1, r2, pool
}

func differentiate(t *testing.T, tg *testGraph, seeds ...string) (*Plan, error) {
	t.Helper()
	inputs := Shapes{"x": valueDims(tg.g.GetInput()[0])}
	for name, v := range tg.extra {
		inputs[name] = v.shape
	}
	shapes, err := InferShapes(tg.g, inputs)
	if err != nil {
		t.Fatalf("InferShapes: %v", err)
	}
	return Differentiate(tg.g, shapes, "x", seeds)
}

func TestUnsupportedOpOnPath(t *testing.T) {
	cases := []struct {
		name     string
		build    func(tg *testGraph) string // returns the seed
		node, op string
	}{
		{"sin between conv and seed", func(tg *testGraph) string {
			c := tg.conv("x", 2, 2, []int64{3, 3}, true)
			tg.g.Node = append(tg.g.Node, onnxgraph.Node("Sin", "act", []string{c}, []string{"act_out"}))
			return tg.op("Relu", []string{"act_out"})
		}, "act", "Sin"},
		{"unnamed node named by its output", func(tg *testGraph) string {
			tg.g.Node = append(tg.g.Node, onnxgraph.Node("Cos", "", []string{"x"}, []string{"cos_out"}))
			return tg.op("Relu", []string{"cos_out"})
		}, "cos_out", "Cos"},
		{"custom domain", func(tg *testGraph) string {
			n := onnxgraph.Node("Relu", "custom", []string{"x"}, []string{"custom_out"})
			n.Domain = "com.example"
			tg.g.Node = append(tg.g.Node, n)
			return "custom_out"
		}, "custom", "com.example.Relu"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := newTestGraph(1, 1, 2, 5, 5)
			seed := c.build(tg)
			tg.g.ValueInfo = append(tg.g.ValueInfo, onnxgraph.FloatValue("custom_out", 1, 2, 5, 5))
			_, err := differentiate(t, tg, seed)
			var u *UnsupportedOpError
			if !errors.As(err, &u) {
				t.Fatalf("error %v, want an UnsupportedOpError", err)
			}
			if u.Node != c.node || u.Op != c.op {
				t.Errorf("UnsupportedOpError{Node: %q, Op: %q}, want {%q, %q}", u.Node, u.Op, c.node, c.op)
			}
			for _, s := range []string{c.node, c.op, "Conv", "MaxPool", "BatchNormalization"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q does not mention %q", err, s)
				}
			}
		})
	}
}

// TestUnsupportedOpsAllListed checks that every op without a rule on a
// gradient path is reported once, with every node where it appears, in
// graph order, and that ops off the paths and after a shape are not; and
// that CheckSupported, which needs no shapes, agrees with Differentiate.
func TestUnsupportedOpsAllListed(t *testing.T) {
	tg := newTestGraph(1, 1, 2, 5, 5)
	add := func(op, name, in string) string {
		out := name + "_out"
		tg.g.Node = append(tg.g.Node, onnxgraph.Node(op, name, []string{in}, []string{out}))
		tg.g.ValueInfo = append(tg.g.ValueInfo, onnxgraph.FloatValue(out, 1, 2, 5, 5))
		return out
	}
	a := add("Sin", "sin_a", "x")
	b := add("Cos", "", a)
	c := add("Sin", "sin_b", b)
	d := add("Softsign", "soft", tg.op("Relu", []string{c}))
	e := add("Sin", "sin_c", d)
	add("Mish", "off_path", "x")
	// A shape read from the path is no gradient path.
	shape := tg.op("Shape", []string{a})
	seed := tg.op("Reshape", []string{e, shape})
	want := []UnsupportedOp{
		{Op: "Sin", Sites: []OpSite{{Node: "sin_a", Output: a}, {Node: "sin_b", Output: c}, {Node: "sin_c", Output: e}}},
		{Op: "Cos", Sites: []OpSite{{Node: b, Output: b}}},
		{Op: "Softsign", Sites: []OpSite{{Node: "soft", Output: d}}},
	}
	check := func(t *testing.T, err error) {
		var u *UnsupportedOpError
		if !errors.As(err, &u) {
			t.Fatalf("error %v, want an UnsupportedOpError", err)
		}
		if u.Node != "sin_a" || u.Op != "Sin" {
			t.Errorf("first = %q %q, want sin_a Sin", u.Node, u.Op)
		}
		if !reflect.DeepEqual(u.Ops, want) {
			t.Errorf("Ops = %+v\nwant %+v", u.Ops, want)
		}
		for _, s := range []string{"3 ops between the input and the seeds have no gradient rule", `Sin at node "sin_a" (output "sin_a_out"), node "sin_b"`, `Cos at node "` + b + `"`, "Softsign"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("message %q lacks %q", err, s)
			}
		}
		if strings.Contains(err.Error(), "Mish") || strings.Contains(err.Error(), "Shape at") {
			t.Errorf("message %q names an op off the gradient path", err)
		}
	}
	t.Run("Differentiate", func(t *testing.T) {
		shapes := Shapes{}
		for _, v := range tg.g.ValueInfo {
			shapes[v.GetName()] = valueDims(v)
		}
		shapes["x"] = []int64{1, 2, 5, 5}
		_, err := Differentiate(tg.g, shapes, "x", []string{seed})
		check(t, err)
	})
	t.Run("CheckSupported", func(t *testing.T) {
		check(t, CheckSupported(tg.g, "x", []string{seed}))
	})
	t.Run("more sites than shown", func(t *testing.T) {
		e := &UnsupportedOpError{Node: "n0", Op: "Sin", Ops: []UnsupportedOp{{Op: "Sin"}}}
		for i := range 5 {
			e.Ops[0].Sites = append(e.Ops[0].Sites, OpSite{Node: fmt.Sprintf("n%d", i), Layer: fmt.Sprintf("layer%d", i)})
		}
		msg := e.Error()
		for _, s := range []string{`node "n0" (layer "layer0")`, `node "n2" (layer "layer2")`, "and 2 more"} {
			if !strings.Contains(msg, s) {
				t.Errorf("message %q lacks %q", msg, s)
			}
		}
		if strings.Contains(msg, "n3") {
			t.Errorf("message %q lists more than %d sites", msg, maxSitesShown)
		}
	})
}

// TestNodeErrorNamesOpAndNode checks the error for a node whose rule
// cannot differentiate it: typed, naming op, node and output, wrapping
// the reason.
func TestNodeErrorNamesOpAndNode(t *testing.T) {
	tg := newTestGraph(1, 1, 2, 4, 4)
	tg.g.Node = append(tg.g.Node, onnxgraph.Node("Pad", "pad_wrap", []string{"x", tg.ints(0, 0, 1, 1, 0, 0, 1, 1)}, []string{"padded"}, str("mode", "wrap")))
	_, err := differentiate(t, tg, "padded")
	var ne *NodeError
	if !errors.As(err, &ne) {
		t.Fatalf("error %v, want a NodeError", err)
	}
	if ne.Node != "pad_wrap" || ne.Op != "Pad" || ne.Output != "padded" || ne.Err == nil {
		t.Errorf("NodeError %+v", ne)
	}
	want := `cannot differentiate Pad node "pad_wrap" (output "padded"): pad mode "wrap" is not supported`
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("message %q, want it to start %q", err, want)
	}
	ne.Layer = "pad1"
	if !strings.Contains(ne.Error(), `(layer "pad1")`) {
		t.Errorf("message %q does not name the layer", ne.Error())
	}
}

// TestUnsupportedOpsOffPath differentiates a network with a classifier head
// after the seeds and a side branch of unsupported ops: neither lies
// between input and seeds, so neither may matter.
func TestUnsupportedOpsOffPath(t *testing.T) {
	tg := newTestGraph(5, 1, 2, 8, 8)
	r11, _, p1 := vggBlock(tg, "x", 2, 3)
	r21, _, p2 := vggBlock(tg, p1, 3, 4)
	f := tg.op("Flatten", []string{p2})
	logits := tg.op("Gemm", []string{f, tg.weight(0.5, 5, 16), tg.weight(0.5, 5)}, int1("transB", 1))
	tg.op("Softmax", []string{tg.op("Sigmoid", []string{logits})})
	tg.op("Tanh", []string{"x"})
	plan := checkGradient(t, tg, []string{r11, r21}, fdOptions{})
	for _, op := range backwardOps(plan) {
		if op == "Gemm" || op == "Sigmoid" || op == "Tanh" {
			t.Errorf("backward contains %s from off the gradient path", op)
		}
	}
	if len(plan.Forward.GetNode()) != len(tg.g.GetNode()) {
		t.Errorf("forward has %d nodes, want the graph's %d", len(plan.Forward.GetNode()), len(tg.g.GetNode()))
	}
}

func TestDifferentiateErrors(t *testing.T) {
	cases := []struct {
		name  string
		build func(tg *testGraph) []string
		want  string
	}{
		{"no seeds", func(tg *testGraph) []string { tg.op("Relu", []string{"x"}); return nil }, "no seeds"},
		{"duplicate seed", func(tg *testGraph) []string { r := tg.op("Relu", []string{"x"}); return []string{r, r} }, "listed twice"},
		{"unknown seed", func(tg *testGraph) []string { tg.op("Relu", []string{"x"}); return []string{"nope"} }, "no tensor"},
		{"seed independent of input", func(tg *testGraph) []string {
			tg.op("Relu", []string{"x"})
			return []string{tg.op("Relu", []string{tg.weight(1, 3)})}
		}, "does not depend on input"},
		{"seed is pooling indices", func(tg *testGraph) []string {
			return tg.opN("MaxPool", []string{"x"}, 2, ints("kernel_shape", 2, 2))[1:]
		}, "carries no gradient"},
		{"weights depend on input", func(tg *testGraph) []string {
			w := tg.op("Reshape", []string{tg.op("Relu", []string{"x"}), tg.ints(2, 2, 2, 4)})
			return []string{tg.op("Conv", []string{"x", w})}
		}, "weights or bias depend on the input"},
		{"batchnorm training", func(tg *testGraph) []string {
			return []string{tg.op("BatchNormalization", []string{"x", tg.weight(1, 2), tg.weight(1, 2), tg.weight(1, 2), tg.floats([]int64{2}, []float32{1, 1})}, int1("training_mode", 1))}
		}, "training_mode=1"},
		{"dropout training", func(tg *testGraph) []string {
			return tg.opN("Dropout", []string{"x", tg.floats(nil, []float32{0.5}), tg.boolean(true)}, 1)
		}, "only inference-mode Dropout"},
		{"pad wrap", func(tg *testGraph) []string {
			return []string{tg.op("Pad", []string{"x", tg.ints(0, 0, 1, 1, 0, 0, 1, 1)}, str("mode", "wrap"))}
		}, `pad mode "wrap" is not supported`},
		{"clip bound from input", func(tg *testGraph) []string {
			m := tg.op("ReduceMax", []string{"x"}, int1("keepdims", 0))
			tg.g.ValueInfo = append(tg.g.ValueInfo, onnxgraph.FloatValue(m))
			return []string{tg.op("Clip", []string{"x", "", m})}
		}, "ReduceMax"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := newTestGraph(1, 1, 2, 4, 4)
			seeds := c.build(tg)
			_, err := differentiate(t, tg, seeds...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	t.Run("input not a graph input", func(t *testing.T) {
		tg := newTestGraph(1, 1, 2, 4, 4)
		w := tg.weight(1, 4)
		r := tg.op("Relu", []string{"x"})
		shapes, err := InferShapes(tg.g, Shapes{"x": {1, 2, 4, 4}})
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range []string{w, r, "nope"} {
			if _, err := Differentiate(tg.g, shapes, in, []string{r}); err == nil || !strings.Contains(err.Error(), "is not a (non-initializer) input") {
				t.Errorf("input %q: error %v", in, err)
			}
		}
	})
	t.Run("missing shapes", func(t *testing.T) {
		tg := newTestGraph(1, 1, 2, 4, 4)
		r := tg.op("Relu", []string{"x"})
		if _, err := Differentiate(tg.g, nil, "x", []string{r}); err == nil || !strings.Contains(err.Error(), "InferShapes") {
			t.Errorf("error %v, want one pointing at InferShapes", err)
		}
	})
}

// TestPlanSavesOnce checks what crosses from forward to backward: each
// ReLU output once even when it is also a seed, pooling indices typed
// INT64, no constants, and the input through an Identity, never the input
// itself; and that the caller's graph is left untouched.
func TestPlanSavesOnce(t *testing.T) {
	tg := newTestGraph(3, 1, 2, 8, 8)
	r11, r12, p1 := vggBlock(tg, "x", 2, 3)
	r21, _, _ := vggBlock(tg, p1, 3, 4)
	sq := tg.op("Mul", []string{"x", "x"})
	before := proto.Clone(tg.g)
	plan, err := differentiate(t, tg, r11, r12, r21, sq)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(before, tg.g) {
		t.Fatal("Differentiate modified its input graph")
	}
	// Only the first pool lies on a gradient path and needs indices.
	var withIndices []string
	for _, n := range plan.Forward.GetNode() {
		if n.GetOpType() == "MaxPool" && len(n.GetOutput()) == 2 && n.GetOutput()[1] != "" {
			withIndices = append(withIndices, n.GetOutput()[0])
		}
	}
	if !slices.Equal(withIndices, []string{p1}) {
		t.Fatalf("forward MaxPools with indices: %v, want [%s]", withIndices, p1)
	}
	types := map[string]onnx.TensorProto_DataType{}
	for _, in := range plan.Backward.GetInput() {
		types[in.GetName()] = onnx.TensorProto_DataType(in.GetType().GetTensorType().GetElemType())
	}
	var relus, indices, inputs int
	for _, s := range plan.Saved {
		switch {
		case s == r11 || s == r12 || s == r21:
			relus++
		case types[s] == onnx.TensorProto_INT64:
			indices++
		case strings.HasPrefix(s, "x_saved"):
			inputs++
		}
	}
	// The second block's second ReLU and pool lie after the last seed.
	if relus != 3 || indices != 1 || inputs != 1 || len(plan.Saved) != 5 {
		t.Errorf("saved %v: want the 3 ReLU outputs on the path, 1 indices and the input once", plan.Saved)
	}
	if slices.Contains(plan.Saved, "x") {
		t.Error("saved holds the graph input itself")
	}
}

// TestUnsortedGraph differentiates a graph whose nodes are listed in
// reverse order.
func TestUnsortedGraph(t *testing.T) {
	tg := newTestGraph(9, 1, 2, 6, 6)
	r1, r2, _ := vggBlock(tg, "x", 2, 2)
	slices.Reverse(tg.g.Node)
	checkGradient(t, tg, []string{r1, r2}, fdOptions{})
}

// TestReluMaxPoolMasking checks the ReLU mask applied at pooled size: used
// when the pool is the ReLU output's only reader, and then neither the
// full-size ReLU output nor its mask is saved; not used when the ReLU
// output is also a seed or read elsewhere.
func TestReluMaxPoolMasking(t *testing.T) {
	k3s2p1 := []*onnx.AttributeProto{ints("kernel_shape", 3, 3), ints("strides", 2, 2), ints("pads", 1, 1, 1, 1)}
	k2s2 := []*onnx.AttributeProto{ints("kernel_shape", 2, 2), ints("strides", 2, 2)}
	cases := []struct {
		name      string
		pool      []*onnx.AttributeProto
		reluSeed  bool
		sideRead  bool
		wantSaved bool // whether the ReLU output is saved
	}{
		{"non-overlapping", k2s2, false, false, false},
		{"overlapping", k3s2p1, false, false, false},
		{"relu also a seed", k2s2, true, false, true},
		{"relu read elsewhere", k3s2p1, false, true, true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := newTestGraph(uint64(300+i), 1, 2, 8, 8)
			r := tg.op("Relu", []string{tg.conv("x", 2, 3, []int64{3, 3}, true, ints("pads", 1, 1, 1, 1))})
			p := tg.op("MaxPool", []string{r}, c.pool...)
			seeds := []string{tg.op("Relu", []string{tg.conv(p, 3, 2, []int64{3, 3}, true, ints("pads", 1, 1, 1, 1))})}
			if c.reluSeed {
				seeds = append(seeds, r)
			}
			if c.sideRead {
				seeds = append(seeds, tg.op("Mul", []string{r, tg.floats(nil, []float32{-0.5})}))
			}
			plan := checkGradient(t, tg, seeds, fdOptions{})
			// A ReLU output that is no seed is saved as its mask.
			saved := slices.ContainsFunc(plan.Saved, func(s string) bool { return s == r || s == r+"_mask" })
			if got := saved; got != c.wantSaved {
				t.Errorf("ReLU output or mask saved = %v, want %v (saved %v)", got, c.wantSaved, plan.Saved)
			}
			if got := slices.Contains(plan.Saved, p); got == c.wantSaved {
				t.Errorf("pool output saved = %v, want %v (saved %v)", got, !c.wantSaved, plan.Saved)
			}
		})
	}
}
