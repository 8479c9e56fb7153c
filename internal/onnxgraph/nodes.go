package onnxgraph

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/nst-project/nst/internal/hugemem"
)

// CloneSharingInitializers returns a deep copy of g whose initializers are
// g's own: the same *onnx.TensorProto values, not copies. Graph rewrites
// change nodes, inputs and outputs, not the weights, which are most of a
// graph's bytes. Neither graph may modify a shared initializer afterwards.
func CloneSharingInitializers(g *onnx.GraphProto) *onnx.GraphProto {
	out := &onnx.GraphProto{}
	src, dst := g.ProtoReflect(), out.ProtoReflect()
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Name() == "initializer":
			list := dst.Mutable(fd).List()
			for i := range v.List().Len() {
				list.Append(v.List().Get(i))
			}
		case fd.IsList() && fd.Message() != nil:
			list := dst.Mutable(fd).List()
			for i := range v.List().Len() {
				list.Append(protoreflect.ValueOfMessage(proto.Clone(v.List().Get(i).Message().Interface()).ProtoReflect()))
			}
		case fd.IsList():
			list := dst.Mutable(fd).List()
			for i := range v.List().Len() {
				list.Append(v.List().Get(i))
			}
		case fd.Message() != nil:
			dst.Set(fd, protoreflect.ValueOfMessage(proto.Clone(v.Message().Interface()).ProtoReflect()))
		case fd.Kind() == protoreflect.BytesKind:
			dst.Set(fd, protoreflect.ValueOfBytes(append([]byte(nil), v.Bytes()...)))
		default:
			dst.Set(fd, v)
		}
		return true
	})
	return out
}

// FlippedFloats32 returns a FLOAT initializer named name with t's values
// reversed within every consecutive block of k values, rearranged block by
// block: block j of the result is block order[j] of t, reversed, or zeros
// where order[j] is negative. With k the product of a convolution kernel's
// spatial dimensions, reversing a block flips the kernel in every spatial
// axis. It works on the raw bytes, without decoding t into float32 values
// and encoding the result again, which for VGG19's weights was most of the
// cost of building a backward graph. The result's bytes are cut from slab.
func FlippedFloats32(slab *hugemem.Slab, name string, dims []int64, t *onnx.TensorProto, k int, order []int) (*onnx.TensorProto, error) {
	if onnx.TensorProto_DataType(t.GetDataType()) != onnx.TensorProto_FLOAT {
		return nil, fmt.Errorf("tensor %q is %v, want FLOAT", t.GetName(), onnx.TensorProto_DataType(t.GetDataType()))
	}
	if k <= 0 {
		return nil, fmt.Errorf("block size %d, want positive", k)
	}
	n := len(order) * k
	blocks := 0
	for _, src := range order {
		blocks = max(blocks, src+1)
	}
	want, err := NumElements(dims)
	if err != nil {
		return nil, err
	}
	if int64(n) != want {
		return nil, fmt.Errorf("%d blocks of %d values do not fill shape %v", len(order), k, dims)
	}
	raw := t.GetRawData()
	if len(raw) == 0 {
		if len(t.GetFloatData()) == 0 && n > 0 {
			return nil, fmt.Errorf("tensor %q holds no values", t.GetName())
		}
		raw = make([]byte, 4*len(t.GetFloatData()))
		for i, v := range t.GetFloatData() {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
	}
	if len(raw) < 4*blocks*k || len(raw)%(4*k) != 0 {
		return nil, fmt.Errorf("tensor %q holds %d bytes, not the %d blocks of %d values the order reads", t.GetName(), len(raw), blocks, k)
	}
	out := slab.Bytes(4 * n)
	for j, src := range order {
		if src < 0 {
			continue
		}
		from := raw[4*src*k : 4*(src+1)*k]
		to := out[4*j*k : 4*(j+1)*k]
		for i := range k {
			binary.LittleEndian.PutUint32(to[4*(k-1-i):], binary.LittleEndian.Uint32(from[4*i:]))
		}
	}
	return &onnx.TensorProto{Name: name, Dims: append([]int64(nil), dims...), DataType: int32(onnx.TensorProto_FLOAT), RawData: out}, nil
}

// MarshalAppend appends the deterministic serialization of m (the bytes
// Marshal returns) to dst. With Size(m) bytes of room in dst it allocates
// nothing, so a caller can serialize a large model into memory it manages.
func MarshalAppend(dst []byte, m *onnx.ModelProto) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(dst, m)
	if err != nil {
		return nil, fmt.Errorf("marshal onnx model: %w", err)
	}
	return b, nil
}

// Size is the length of m's serialization.
func Size(m *onnx.ModelProto) int {
	return proto.MarshalOptions{Deterministic: true}.Size(m)
}
