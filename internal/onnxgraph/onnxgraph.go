// Package onnxgraph builds and reads ONNX graphs in memory: nodes, attributes,
// initializers and value infos, on the generated protobuf types of
// github.com/advancedclimatesystems/gonnx/onnx.
//
// gonnx is used for its generated ONNX protobuf types alone (kept current with
// the ONNX spec, marshalled by google.golang.org/protobuf); nst never runs
// models through gonnx's own interpreter. Writing a protobuf codec by hand
// would be a second, unreviewed copy of onnx.proto.
package onnxgraph

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

// Opset is the ai.onnx opset of every graph nst writes. 17 has every op the
// forward and backward graphs use (ScatterElements with reduction, Resize,
// Pad and Clip with tensor inputs) and loads in ONNX Runtime 1.24.
const Opset = 17

// irVersion is the ONNX IR version written into models.
const irVersion = 8

// Node returns a node; name may be empty.
func Node(op, name string, inputs, outputs []string, attrs ...*onnx.AttributeProto) *onnx.NodeProto {
	return &onnx.NodeProto{OpType: op, Name: name, Input: inputs, Output: outputs, Attribute: attrs}
}

// Int returns an integer attribute.
func Int(name string, v int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INT, I: v}
}

// Ints returns an integer-list attribute.
func Ints(name string, v ...int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INTS, Ints: append([]int64(nil), v...)}
}

// Float returns a float attribute.
func Float(name string, v float32) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_FLOAT, F: v}
}

// String returns a string attribute.
func String(name, v string) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_STRING, S: []byte(v)}
}

// Floats32 returns a float32 initializer stored as raw little-endian bytes.
func Floats32(name string, dims []int64, data []float32) *onnx.TensorProto {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &onnx.TensorProto{Name: name, Dims: append([]int64(nil), dims...), DataType: int32(onnx.TensorProto_FLOAT), RawData: raw}
}

// Int64s returns an int64 initializer stored as raw little-endian bytes.
func Int64s(name string, dims []int64, data []int64) *onnx.TensorProto {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return &onnx.TensorProto{Name: name, Dims: append([]int64(nil), dims...), DataType: int32(onnx.TensorProto_INT64), RawData: raw}
}

// Value returns a value info of the given element type. A negative dimension
// becomes a symbolic one (dim_param), so the graph accepts any size there.
func Value(name string, elem onnx.TensorProto_DataType, dims ...int64) *onnx.ValueInfoProto {
	shape := &onnx.TensorShapeProto{}
	for i, d := range dims {
		if d < 0 {
			shape.Dim = append(shape.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: fmt.Sprintf("%s_d%d", name, i)}})
		} else {
			shape.Dim = append(shape.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d}})
		}
	}
	return &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: int32(elem), Shape: shape}}}}
}

// FloatValue is Value for float32 tensors.
func FloatValue(name string, dims ...int64) *onnx.ValueInfoProto {
	return Value(name, onnx.TensorProto_FLOAT, dims...)
}

// Model wraps a graph in a model of nst's opset and IR version.
func Model(g *onnx.GraphProto) *onnx.ModelProto {
	return &onnx.ModelProto{
		IrVersion:    irVersion,
		ProducerName: "nst",
		OpsetImport:  []*onnx.OperatorSetIdProto{{Domain: "", Version: Opset}},
		Graph:        g,
	}
}

// Marshal serializes a model deterministically: the same model gives the
// same bytes, which nst relies on for reproducible synthetic backbones.
func Marshal(m *onnx.ModelProto) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("marshal onnx model: %w", err)
	}
	return b, nil
}

// Unmarshal parses a serialized model.
func Unmarshal(b []byte) (*onnx.ModelProto, error) {
	m := &onnx.ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("parse onnx model: %w", err)
	}
	return m, nil
}

// AttrInt returns the integer attribute name of n, or def when absent.
func AttrInt(n *onnx.NodeProto, name string, def int64) int64 {
	if a := Attr(n, name); a != nil {
		return a.GetI()
	}
	return def
}

// AttrInts returns the integer-list attribute name of n, or def when absent.
func AttrInts(n *onnx.NodeProto, name string, def []int64) []int64 {
	if a := Attr(n, name); a != nil {
		return a.GetInts()
	}
	return def
}

// AttrFloat returns the float attribute name of n, or def when absent.
func AttrFloat(n *onnx.NodeProto, name string, def float32) float32 {
	if a := Attr(n, name); a != nil {
		return a.GetF()
	}
	return def
}

// AttrString returns the string attribute name of n, or def when absent.
func AttrString(n *onnx.NodeProto, name, def string) string {
	if a := Attr(n, name); a != nil {
		return string(a.GetS())
	}
	return def
}

// Attr returns the attribute name of n, or nil.
func Attr(n *onnx.NodeProto, name string) *onnx.AttributeProto {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

// Float32Data decodes a float32 initializer, from raw_data or float_data.
// External data must have been resolved into raw_data by the caller.
func Float32Data(t *onnx.TensorProto) ([]float32, error) {
	if onnx.TensorProto_DataType(t.GetDataType()) != onnx.TensorProto_FLOAT {
		return nil, fmt.Errorf("tensor %q: element type %v, want FLOAT", t.GetName(), onnx.TensorProto_DataType(t.GetDataType()))
	}
	n, err := NumElements(t.GetDims())
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.GetName(), err)
	}
	if raw := t.GetRawData(); len(raw) > 0 || len(t.GetFloatData()) == 0 {
		if int64(len(raw)) != 4*n {
			return nil, fmt.Errorf("tensor %q: %d raw bytes for %d float32 elements", t.GetName(), len(raw), n)
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return out, nil
	}
	if int64(len(t.GetFloatData())) != n {
		return nil, fmt.Errorf("tensor %q: %d floats for shape %v", t.GetName(), len(t.GetFloatData()), t.GetDims())
	}
	return append([]float32(nil), t.GetFloatData()...), nil
}

// Int64Data decodes an int64 (or int32) initializer.
func Int64Data(t *onnx.TensorProto) ([]int64, error) {
	n, err := NumElements(t.GetDims())
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.GetName(), err)
	}
	switch onnx.TensorProto_DataType(t.GetDataType()) {
	case onnx.TensorProto_INT64:
		if raw := t.GetRawData(); len(raw) > 0 || len(t.GetInt64Data()) == 0 {
			if int64(len(raw)) != 8*n {
				return nil, fmt.Errorf("tensor %q: %d raw bytes for %d int64 elements", t.GetName(), len(raw), n)
			}
			out := make([]int64, n)
			for i := range out {
				out[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
			return out, nil
		}
		return append([]int64(nil), t.GetInt64Data()...), nil
	case onnx.TensorProto_INT32:
		if raw := t.GetRawData(); len(raw) > 0 || len(t.GetInt32Data()) == 0 {
			if int64(len(raw)) != 4*n {
				return nil, fmt.Errorf("tensor %q: %d raw bytes for %d int32 elements", t.GetName(), len(raw), n)
			}
			out := make([]int64, n)
			for i := range out {
				out[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
			}
			return out, nil
		}
		out := make([]int64, 0, n)
		for _, v := range t.GetInt32Data() {
			out = append(out, int64(v))
		}
		return out, nil
	}
	return nil, fmt.Errorf("tensor %q: element type %v, want an integer type", t.GetName(), onnx.TensorProto_DataType(t.GetDataType()))
}

// maxElements bounds a tensor's element count (16 GiB of float32): a header
// declaring more is refused before anything is allocated for it.
const maxElements = 1 << 32

// NumElements multiplies dims, refusing negative dims and absurd totals.
func NumElements(dims []int64) (int64, error) {
	n := int64(1)
	for _, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in %v", dims)
		}
		if d != 0 && n > maxElements/d {
			return 0, fmt.Errorf("shape %v exceeds %d elements", dims, int64(maxElements))
		}
		n *= d
	}
	return n, nil
}
