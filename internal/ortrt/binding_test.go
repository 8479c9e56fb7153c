package ortrt

import (
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// addMulSession opens a session computing s = a+b and p = a*b.
func addMulSession(t *testing.T) *Session {
	t.Helper()
	if err := Init(""); err != nil {
		t.Fatal(err)
	}
	g := &onnx.GraphProto{
		Name: "addmul",
		Node: []*onnx.NodeProto{
			onnxgraph.Node("Add", "", []string{"a", "b"}, []string{"s"}),
			onnxgraph.Node("Mul", "", []string{"a", "b"}, []string{"p"}),
		},
		Input:  []*onnx.ValueInfoProto{onnxgraph.FloatValue("a", -1), onnxgraph.FloatValue("b", -1)},
		Output: []*onnx.ValueInfoProto{onnxgraph.FloatValue("s", -1), onnxgraph.FloatValue("p", -1)},
	}
	b, err := onnxgraph.Marshal(onnxgraph.Model(g))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(b, []string{"a", "b"}, []string{"s", "p"}, SessionOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func tensorOf(t *testing.T, data []float32) *ort.Tensor[float32] {
	t.Helper()
	v, err := ort.NewTensor(ort.NewShape(int64(len(data))), data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Destroy() })
	return v
}

// TestBindingRunsWithoutAllocating checks that a bound run reads the
// current contents of the input tensors, writes the bound outputs in
// place, and allocates nothing.
func TestBindingRunsWithoutAllocating(t *testing.T) {
	s := addMulSession(t)
	a, b := []float32{1, 2, 3}, []float32{4, 5, 6}
	sum, prod := tensorOf(t, make([]float32, 3)), tensorOf(t, make([]float32, 3))
	bind, err := s.Bind([]ort.Value{tensorOf(t, a), tensorOf(t, b)}, []ort.Value{sum, prod})
	if err != nil {
		t.Fatal(err)
	}
	defer bind.Close()
	for _, step := range []struct {
		a0        float32
		sum, prod []float32
	}{
		{1, []float32{5, 7, 9}, []float32{4, 10, 18}},
		{-2, []float32{2, 7, 9}, []float32{-8, 10, 18}},
	} {
		a[0] = step.a0
		if err := bind.Run(); err != nil {
			t.Fatal(err)
		}
		for i := range step.sum {
			if sum.GetData()[i] != step.sum[i] || prod.GetData()[i] != step.prod[i] {
				t.Fatalf("a[0]=%v: sum %v, product %v; want %v, %v", step.a0, sum.GetData(), prod.GetData(), step.sum, step.prod)
			}
		}
	}
	if n := testing.AllocsPerRun(20, func() {
		if err := bind.Run(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("a bound run allocates %v times, want 0", n)
	}
	if err := bind.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bind.Run(); err == nil {
		t.Error("a closed binding ran")
	}
}

// TestBindNamedComputesTheNamedOutputs checks a binding of one output, in
// another order than the session's, and the errors of bad bindings.
func TestBindNamedComputesTheNamedOutputs(t *testing.T) {
	s := addMulSession(t)
	in := []ort.Value{tensorOf(t, []float32{2, 3}), tensorOf(t, []float32{5, 7})}
	prod := tensorOf(t, make([]float32, 2))
	bind, err := s.BindNamed(in, []string{"p"}, []ort.Value{prod})
	if err != nil {
		t.Fatal(err)
	}
	defer bind.Close()
	if err := bind.Run(); err != nil {
		t.Fatal(err)
	}
	if got := prod.GetData(); got[0] != 10 || got[1] != 21 {
		t.Errorf("product %v, want [10 21]", got)
	}
	for _, c := range []struct {
		name    string
		inputs  []ort.Value
		names   []string
		outputs []ort.Value
		want    string
	}{
		{"unknown output", in, []string{"q"}, []ort.Value{prod}, "not an output"},
		{"missing input", in[:1], []string{"p"}, []ort.Value{prod}, "1 inputs"},
		{"names and outputs differ", in, []string{"p", "s"}, []ort.Value{prod}, "2 output names"},
	} {
		if _, err := s.BindNamed(c.inputs, c.names, c.outputs); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
}
