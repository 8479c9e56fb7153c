package models

import (
	"errors"
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/nst-project/nst/internal/hugemem"
	"github.com/nst-project/nst/internal/onnxgraph"
)

// A model file is parsed without the data of its large float initializers
// (a skeleton), which stays in the file until the backbone knows which
// tensors it keeps: a zoo file's classifier head, most of its bytes, is
// never copied out (docs/performance.md, "Loading a model file").

// lazyBytes is the payload size from which a float initializer's data is
// left in the file. Smaller tensors (biases, shape constants) are parsed
// at once, so that everything canonicalisation reads is there.
const lazyBytes = 64 << 10

// Field numbers of the ONNX protobuf messages the skeleton parser walks.
const (
	modelGraph         protowire.Number = 7  // ModelProto.graph
	graphInitializer   protowire.Number = 5  // GraphProto.initializer
	tensorDataType     protowire.Number = 2  // TensorProto.data_type
	tensorFloatData    protowire.Number = 4  // TensorProto.float_data
	tensorRawData      protowire.Number = 9  // TensorProto.raw_data
	tensorExternal     protowire.Number = 13 // TensorProto.external_data
	tensorDataLocation protowire.Number = 14 // TensorProto.data_location
)

// parseSkeleton unmarshals an ONNX model file without the data of its
// large float initializers. It returns the model and, by the initializer's
// pointer, each left-out payload: a slice of file holding the tensor's
// values as little-endian float32, which is what both raw_data and packed
// float_data hold.
func parseSkeleton(file []byte) (*onnx.ModelProto, map[*onnx.TensorProto][]byte, error) {
	var payloads [][]byte // by initializer index; nil where nothing was left out
	stripped, err := rewriteFields(file, func(num protowire.Number, value []byte) ([]byte, bool, error) {
		if num != modelGraph {
			return nil, false, nil
		}
		g, err := rewriteFields(value, func(num protowire.Number, value []byte) ([]byte, bool, error) {
			if num != graphInitializer {
				return nil, false, nil
			}
			t, payload, err := stripTensor(value)
			payloads = append(payloads, payload)
			return t, payload != nil, err
		})
		return g, true, err
	})
	if err != nil {
		return nil, nil, err
	}
	m, err := onnxgraph.Unmarshal(stripped)
	if err != nil {
		return nil, nil, err
	}
	lazy := map[*onnx.TensorProto][]byte{}
	inits := m.GetGraph().GetInitializer()
	if len(inits) != len(payloads) {
		// More than one graph field: protobuf merges them, which the
		// indices above do not follow. No exporter writes that.
		return nil, nil, errors.New("the model has its graph in several pieces; re-save it with onnx")
	}
	for i, p := range payloads {
		if p != nil {
			lazy[inits[i]] = p
		}
	}
	return m, lazy, nil
}

// stripTensor returns a TensorProto's bytes without its data, and the data,
// when the tensor is a float tensor stored inline in a single raw_data or
// packed float_data field of at least lazyBytes; otherwise msg unchanged
// and a nil payload.
func stripTensor(msg []byte) ([]byte, []byte, error) {
	var dataType uint64
	var external bool
	var data []byte
	var dataFields int
	err := walkFields(msg, func(num protowire.Number, typ protowire.Type, value []byte, varint uint64) {
		switch {
		case num == tensorDataType && typ == protowire.VarintType:
			dataType = varint
		case num == tensorDataLocation && typ == protowire.VarintType:
			external = external || varint != 0
		case num == tensorExternal:
			external = true
		case num == tensorRawData || num == tensorFloatData:
			// float_data may also come unpacked (one field per value) or
			// split into several packed runs: those stay inline.
			dataFields++
			if typ == protowire.BytesType {
				data = value
			}
		}
	})
	if err != nil {
		return nil, nil, err
	}
	if dataType != uint64(onnx.TensorProto_FLOAT) || external || dataFields != 1 || len(data) < lazyBytes {
		return msg, nil, nil
	}
	out, err := rewriteFields(msg, func(num protowire.Number, _ []byte) ([]byte, bool, error) {
		return nil, num == tensorRawData || num == tensorFloatData, nil
	})
	return out, data, err
}

// rewriteFields copies a protobuf message field by field. For each
// length-delimited field, edit may replace its value (replace true, with
// nil dropping the field); every other field is copied as it is.
func rewriteFields(msg []byte, edit func(num protowire.Number, value []byte) (repl []byte, replace bool, err error)) ([]byte, error) {
	out := make([]byte, 0, min(len(msg), 1<<20))
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return nil, fmt.Errorf("parse onnx model: %w", protowire.ParseError(n))
		}
		m := protowire.ConsumeFieldValue(num, typ, msg[n:])
		if m < 0 {
			return nil, fmt.Errorf("parse onnx model: %w", protowire.ParseError(m))
		}
		field := msg[:n+m]
		msg = msg[n+m:]
		if typ == protowire.BytesType {
			value, _ := protowire.ConsumeBytes(field[n:])
			repl, replace, err := edit(num, value)
			if err != nil {
				return nil, err
			}
			if replace {
				if repl != nil {
					out = protowire.AppendTag(out, num, protowire.BytesType)
					out = protowire.AppendBytes(out, repl)
				}
				continue
			}
		}
		out = append(out, field...)
	}
	return out, nil
}

// walkFields calls visit for each field of a protobuf message with its
// value: the bytes of a length-delimited field, the number of a varint.
func walkFields(msg []byte, visit func(num protowire.Number, typ protowire.Type, value []byte, varint uint64)) error {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return fmt.Errorf("parse onnx model: %w", protowire.ParseError(n))
		}
		msg = msg[n:]
		m := protowire.ConsumeFieldValue(num, typ, msg)
		if m < 0 {
			return fmt.Errorf("parse onnx model: %w", protowire.ParseError(m))
		}
		switch typ {
		case protowire.BytesType:
			value, _ := protowire.ConsumeBytes(msg)
			visit(num, typ, value, 0)
		case protowire.VarintType:
			v, _ := protowire.ConsumeVarint(msg)
			visit(num, typ, nil, v)
		default:
			visit(num, typ, nil, 0)
		}
		msg = msg[m:]
	}
	return nil
}

// materialize copies the left-out data of the tensors in ts out of the
// file, checking it against each tensor's shape.
func materialize(ts []*onnx.TensorProto, lazy map[*onnx.TensorProto][]byte) error {
	var weights hugemem.Slab // the backbone keeps them all, together
	for _, t := range ts {
		data, ok := lazy[t]
		if !ok {
			continue
		}
		size, err := tensorBytes(t)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", t.GetName(), err)
		}
		if int64(len(data)) != size {
			return fmt.Errorf("tensor %q: shape %v needs %d bytes, the file holds %d (truncated or damaged file?)", t.GetName(), t.GetDims(), size, len(data))
		}
		t.RawData = weights.Bytes(len(data))
		copy(t.RawData, data)
		delete(lazy, t)
	}
	return nil
}
