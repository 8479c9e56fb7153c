package onnxgraph

import (
	"bytes"
	"slices"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

func TestCloneSharingInitializers(t *testing.T) {
	w := Floats32("w", []int64{2, 2}, []float32{1, 2, 3, 4})
	g := &onnx.GraphProto{
		Name:        "g",
		DocString:   "doc",
		Node:        []*onnx.NodeProto{Node("MatMul", "mm", []string{"x", "w"}, []string{"y"}, Int("k", 1))},
		Initializer: []*onnx.TensorProto{w},
		Input:       []*onnx.ValueInfoProto{FloatValue("x", 2, 2)},
		Output:      []*onnx.ValueInfoProto{FloatValue("y", 2, 2)},
	}
	want := proto.Clone(g)
	c := CloneSharingInitializers(g)
	if !proto.Equal(c, g) {
		t.Fatalf("clone differs from the graph:\n%v\n%v", c, g)
	}
	if c.GetInitializer()[0] != w {
		t.Error("initializer copied, want it shared")
	}
	// Changing the clone's nodes, inputs and name leaves the graph alone.
	c.Node[0].Input[0] = "z"
	c.Node[0].Attribute[0].I = 2
	c.Node = append(c.Node, Node("Relu", "", []string{"y"}, []string{"r"}))
	c.Input[0].Name = "z"
	c.Name = "changed"
	c.Initializer = append(c.Initializer, Floats32("b", nil, []float32{0}))
	if !proto.Equal(g, want) {
		t.Errorf("changing the clone changed the graph:\n%v", g)
	}
}

func TestFlippedFloats32(t *testing.T) {
	// Three blocks of k=4 values.
	src := Floats32("w", []int64{3, 4}, []float32{0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23})
	typed := &onnx.TensorProto{Name: "w", Dims: []int64{3, 4}, DataType: int32(onnx.TensorProto_FLOAT), FloatData: []float32{0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23}}
	for _, c := range []struct {
		name  string
		t     *onnx.TensorProto
		dims  []int64
		order []int
		want  []float32
		err   bool
	}{
		{"reverse in place", src, []int64{3, 4}, []int{0, 1, 2}, []float32{3, 2, 1, 0, 13, 12, 11, 10, 23, 22, 21, 20}, false},
		{"permuted", src, []int64{3, 4}, []int{2, 0, 1}, []float32{23, 22, 21, 20, 3, 2, 1, 0, 13, 12, 11, 10}, false},
		{"zero padded", src, []int64{4, 4}, []int{1, -1, 0, -1}, []float32{13, 12, 11, 10, 0, 0, 0, 0, 3, 2, 1, 0, 0, 0, 0, 0}, false},
		{"typed float_data", typed, []int64{3, 4}, []int{0, 1, 2}, []float32{3, 2, 1, 0, 13, 12, 11, 10, 23, 22, 21, 20}, false},
		{"block out of range", src, []int64{3, 4}, []int{0, 1, 3}, nil, true},
		{"dims disagree", src, []int64{2, 4}, []int{0, 1, 2}, nil, true},
		{"not float", Int64s("i", []int64{4}, []int64{1, 2, 3, 4}), []int64{1, 4}, []int{0}, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := FlippedFloats32(nil, "f", c.dims, c.t, 4, c.order)
			if c.err {
				if err == nil {
					t.Fatalf("no error, got %v", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := Float32Data(out)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.want) || !slices.Equal(out.GetDims(), c.dims) || out.GetName() != "f" {
				t.Errorf("got %s %v %v, want %v %v", out.GetName(), out.GetDims(), got, c.dims, c.want)
			}
		})
	}
}

func TestMarshalAppendMatchesMarshal(t *testing.T) {
	m := Model(&onnx.GraphProto{Name: "g", Initializer: []*onnx.TensorProto{Floats32("w", []int64{3}, []float32{1, 2, 3})}})
	want, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if Size(m) != len(want) {
		t.Errorf("Size %d, Marshal wrote %d bytes", Size(m), len(want))
	}
	buf := make([]byte, 0, Size(m))
	got, err := MarshalAppend(buf, m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) || &got[0] != &buf[:1][0] {
		t.Errorf("MarshalAppend wrote other bytes or reallocated")
	}
}
