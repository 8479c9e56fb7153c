package models

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// describeNodes renders nodes and the values of the initializers they read
// compactly: "Clip(x,y_min,y_max)->y [] y_min=[0] y_max=[6]".
func describeNodes(nodes []*onnx.NodeProto, inits map[string]*onnx.TensorProto) string {
	var parts []string
	for _, n := range nodes {
		var attrs []string
		for _, a := range n.GetAttribute() {
			switch a.GetType() {
			case onnx.AttributeProto_INT:
				attrs = append(attrs, fmt.Sprintf("%s=%d", a.GetName(), a.GetI()))
			case onnx.AttributeProto_INTS:
				attrs = append(attrs, fmt.Sprintf("%s=%v", a.GetName(), a.GetInts()))
			case onnx.AttributeProto_FLOAT:
				attrs = append(attrs, fmt.Sprintf("%s=%g", a.GetName(), a.GetF()))
			default:
				attrs = append(attrs, a.GetName())
			}
		}
		s := fmt.Sprintf("%s(%s)->%s %v", n.GetOpType(), strings.Join(n.GetInput(), ","), strings.Join(n.GetOutput(), ","), attrs)
		for _, in := range n.GetInput() {
			t, ok := inits[in]
			if !ok {
				continue
			}
			if onnx.TensorProto_DataType(t.GetDataType()) == onnx.TensorProto_FLOAT {
				v, _ := onnxgraph.Float32Data(t)
				s += fmt.Sprintf(" %s=%v", in, v)
			} else {
				v, _ := onnxgraph.Int64Data(t)
				s += fmt.Sprintf(" %s=%v", in, v)
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func TestConvertLegacyForms(t *testing.T) {
	a := onnxgraph.Ints
	cases := []struct {
		name    string
		opset   int64
		node    *onnx.NodeProto
		want    string
		wantErr string
	}{
		{"Clip attributes", 6, onnxgraph.Node("Clip", "c", []string{"x"}, []string{"y"}, onnxgraph.Float("min", 0), onnxgraph.Float("max", 6)),
			"Clip(x,y_min,y_max)->y [] y_min=[0] y_max=[6]", ""},
		{"Clip with max only", 6, onnxgraph.Node("Clip", "c", []string{"x"}, []string{"y"}, onnxgraph.Float("max", 1)),
			"Clip(x,,y_max)->y [] y_max=[1]", ""},
		{"Clip opset 11 untouched", 11, onnxgraph.Node("Clip", "c", []string{"x", "lo"}, []string{"y"}), "Clip(x,lo)->y []", ""},
		{"Pad attributes", 2, onnxgraph.Node("Pad", "p", []string{"x"}, []string{"y"}, onnxgraph.String("mode", "edge"), a("pads", 0, 0, 1, 2, 0, 0, 3, 4), onnxgraph.Float("value", 0.5)),
			"Pad(x,y_pads,y_value)->y [mode] y_pads=[0 0 1 2 0 0 3 4] y_value=[0.5]", ""},
		{"Pad opset 1 paddings", 1, onnxgraph.Node("Pad", "p", []string{"x"}, []string{"y"}, a("paddings", 0, 0, 1, 1, 0, 0, 1, 1)),
			"Pad(x,y_pads,y_value)->y [] y_pads=[0 0 1 1 0 0 1 1] y_value=[0]", ""},
		{"Reshape shape attribute", 4, onnxgraph.Node("Reshape", "r", []string{"x"}, []string{"y"}, a("shape", 1, -1)),
			"Reshape(x,y_shape)->y [] y_shape=[1 -1]", ""},
		{"BatchNormalization opset 5", 5, onnxgraph.Node("BatchNormalization", "b", []string{"x", "s", "b", "m", "v"}, []string{"y", "", "", "sm", "sv"},
			a("consumed_inputs", 0, 0, 0, 1, 1), onnxgraph.Int("is_test", 1), onnxgraph.Int("spatial", 1), onnxgraph.Float("epsilon", 0.001)),
			"BatchNormalization(x,s,b,m,v)->y [epsilon=0.001]", ""},
		{"BatchNormalization per activation", 7, onnxgraph.Node("BatchNormalization", "b", []string{"x", "s", "b", "m", "v"}, []string{"y"}, onnxgraph.Int("spatial", 0)),
			"", "spatial=0"},
		{"BatchNormalization training", 15, onnxgraph.Node("BatchNormalization", "b", []string{"x", "s", "b", "m", "v"}, []string{"y"}, onnxgraph.Int("training_mode", 1)),
			"", "training mode"},
		{"Relu consumed_inputs", 1, onnxgraph.Node("Relu", "r", []string{"x"}, []string{"y"}, a("consumed_inputs", 1)), "Relu(x)->y []", ""},
		{"Gemm broadcast", 6, onnxgraph.Node("Gemm", "g", []string{"x", "w", "c"}, []string{"y"}, onnxgraph.Int("broadcast", 1), onnxgraph.Int("transB", 1)),
			"Gemm(x,w,c)->y [transB=1]", ""},
		{"Add suffix broadcast", 6, onnxgraph.Node("Add", "s", []string{"x", "b"}, []string{"y"}, onnxgraph.Int("broadcast", 1)), "Add(x,b)->y []", ""},
		{"Add axis broadcast", 6, onnxgraph.Node("Add", "s", []string{"x", "b"}, []string{"y"}, onnxgraph.Int("broadcast", 1), onnxgraph.Int("axis", 1)), "", "axis 1"},
		{"Concat default axis", 3, onnxgraph.Node("Concat", "c", []string{"x", "z"}, []string{"y"}), "Concat(x,z)->y [axis=1]", ""},
		{"Softmax opset 11", 11, onnxgraph.Node("Softmax", "sm", []string{"x"}, []string{"y"}, onnxgraph.Int("axis", 2)),
			"Flatten(x)->y_2d [axis=2]; Softmax(y_2d)->y_2d_out [axis=1]; Shape(x)->y_shape []; Reshape(y_2d_out,y_shape)->y []", ""},
		{"Softmax opset 13 untouched", 13, onnxgraph.Node("Softmax", "sm", []string{"x"}, []string{"y"}), "Softmax(x)->y []", ""},
		{"Unsqueeze axes attribute", 11, onnxgraph.Node("Unsqueeze", "u", []string{"x"}, []string{"y"}, a("axes", 2, 3)), "Unsqueeze(x,y_axes)->y [] y_axes=[2 3]", ""},
		{"Split attribute", 11, onnxgraph.Node("Split", "s", []string{"x"}, []string{"y", "z"}, onnxgraph.Int("axis", 1), a("split", 2, 3)),
			"Split(x,y_split)->y,z [axis=1] y_split=[2 3]", ""},
		{"ReduceMean axes input", 18, onnxgraph.Node("ReduceMean", "m", []string{"x", "axes"}, []string{"y"}, onnxgraph.Int("keepdims", 1)), "ReduceMean(x)->y [keepdims=1 axes=[2 3]]", ""},
		{"Resize opset 10", 10, onnxgraph.Node("Resize", "r", []string{"x", "scales"}, []string{"y"}, onnxgraph.String("mode", "nearest")), "Resize(x,,scales)->y [mode]", ""},
		{"Cast to a type name", 5, onnxgraph.Node("Cast", "c", []string{"x"}, []string{"y"}, onnxgraph.String("to", "FLOAT")), "Cast(x)->y [to=1]", ""},
		{"Upsample", 9, onnxgraph.Node("Upsample", "u", []string{"x", "scales"}, []string{"y"}), "", "Upsample"},
		{"custom domain", 17, &onnx.NodeProto{OpType: "Gelu", Domain: "com.microsoft", Input: []string{"x"}, Output: []string{"y"}}, "", "com.microsoft"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &canonicalizer{
				opset:    tc.opset,
				inits:    map[string]*onnx.TensorProto{"axes": onnxgraph.Int64s("axes", []int64{2}, []int64{2, 3})},
				alias:    map[string]string{},
				consumed: map[string]bool{"y": true},
				used:     map[string]bool{"x": true, "y": true},
			}
			before := describeNodes([]*onnx.NodeProto{tc.node}, nil)
			nodes, err := c.convert(tc.node)
			if after := describeNodes([]*onnx.NodeProto{tc.node}, nil); after != before {
				t.Errorf("convert modified its input: %s became %s", before, after)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := describeNodes(nodes, c.inits); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestCanonicalizeStructure(t *testing.T) {
	f := newFileBuilder(13, 7, 1)
	f.input("x", 1, 3, 32, 32)
	f.weights("w", 0.1, 2, 3, 3, 3)
	// Out of order, an Identity chain on a weight, a Constant, a Dropout.
	f.node("Relu", "relu", []string{"conv_alias"}, []string{"r"})
	f.node("Identity", "id1", []string{"w"}, []string{"w1"})
	f.node("Identity", "id2", []string{"w1"}, []string{"w2"})
	f.node("Conv", "conv", []string{"x", "w2", "bias"}, []string{"conv"}, onnxgraph.Ints("kernel_shape", 3, 3))
	f.g.Node = append(f.g.Node, onnxgraph.Node("Constant", "k", nil, []string{"bias"}, &onnx.AttributeProto{Name: "value_floats", Type: onnx.AttributeProto_FLOATS, Floats: []float32{1, 2}}))
	f.node("Dropout", "drop", []string{"conv"}, []string{"conv_alias", "mask"}, onnxgraph.Float("ratio", 0.1))
	c, err := canonicalize(f.model().GetGraph(), 13)
	if err != nil {
		t.Fatal(err)
	}
	got := describeNodes(c.graph.GetNode(), c.inits)
	want := "Conv(x,w,bias)->conv [kernel_shape=[3 3]] bias=[1 2]; Relu(conv)->r []"
	if !strings.HasPrefix(got, "Conv(x,w,bias)->conv") || !strings.HasSuffix(got, "Relu(conv)->r []") || !strings.Contains(got, "bias=[1 2]") {
		t.Errorf("canonical graph %s, want %s", got, want)
	}
	in := c.graph.GetInput()[0].GetType().GetTensorType().GetShape().GetDim()
	if len(in) != 4 || in[2].GetDimParam() == "" || in[3].GetDimParam() == "" || in[1].GetDimValue() != 3 {
		t.Errorf("input shape %v: want H and W free", in)
	}
	if len(c.graph.GetOutput()) != 0 || len(c.graph.GetValueInfo()) != 0 {
		t.Errorf("outputs %v, value infos %v: want none", c.graph.GetOutput(), c.graph.GetValueInfo())
	}
	var names []string
	for _, t := range c.graph.GetInitializer() {
		names = append(names, t.GetName())
	}
	if !slices.Equal(names, []string{"w", "bias"}) {
		t.Errorf("initializers %v, want [w bias]", names)
	}

	bad := []struct {
		name    string
		mutate  func(f *fileBuilder)
		wantErr string
	}{
		{"undefined input", func(f *fileBuilder) { f.node("Relu", "r", []string{"nowhere"}, []string{"y"}) }, `reads "nowhere"`},
		{"two image inputs", func(f *fileBuilder) { f.input("y", 1, 3, 8, 8) }, "2 inputs"},
		{"cycle", func(f *fileBuilder) {
			f.node("Add", "a", []string{"x", "b"}, []string{"a"})
			f.node("Relu", "b", []string{"a"}, []string{"b"})
		}, "cycle"},
		{"two producers", func(f *fileBuilder) {
			f.node("Relu", "r1", []string{"x"}, []string{"y"})
			f.node("Relu", "r2", []string{"x"}, []string{"y"})
		}, "produced by both"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			f := newFileBuilder(13, 7, 1)
			f.input("x", 1, 3, -1, -1)
			tc.mutate(f)
			_, err := canonicalize(f.model().GetGraph(), 13)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}
