package models

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strconv"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// Load reads an ONNX model file and normalises it into a Backbone.
//
// External data (tensors stored beside the model, as exporters do for large
// models) is read from the model's folder only: references that are absolute,
// climb out with "..", or escape through a symbolic link are refused. Tensor
// sizes are checked against onnxgraph.MaxElements before any memory is
// allocated for them.
func Load(path string) (*Backbone, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	digest := sha256.New()
	digest.Write(raw)
	m, err := onnxgraph.Unmarshal(raw)
	if err != nil {
		return nil, fmt.Errorf("load model %q: not a readable ONNX file (truncated, or another format?): %w", path, err)
	}
	opset, err := checkModel(m)
	if err != nil {
		return nil, fmt.Errorf("load model %q: %w", path, err)
	}
	if err := resolveExternalData(m.GetGraph(), filepath.Dir(path), digest); err != nil {
		return nil, fmt.Errorf("load model %q: %w", path, err)
	}
	b, err := newBackbone(m.GetGraph(), opset)
	if err != nil {
		return nil, fmt.Errorf("load model %q: %w", path, err)
	}
	b.source = path
	b.digest = hex.EncodeToString(digest.Sum(nil))
	return b, nil
}

// checkModel rejects files that parse as protobuf but are no usable ONNX
// model, and returns the ai.onnx opset the graph was written against.
func checkModel(m *onnx.ModelProto) (int64, error) {
	g := m.GetGraph()
	if g == nil || len(g.GetNode()) == 0 {
		return 0, errors.New("not an ONNX model: it has no graph nodes (truncated, or another format?)")
	}
	if m.GetIrVersion() <= 0 {
		return 0, fmt.Errorf("not an ONNX model: IR version %d", m.GetIrVersion())
	}
	for _, o := range m.GetOpsetImport() {
		if o.GetDomain() == "" || o.GetDomain() == "ai.onnx" {
			if o.GetVersion() < 1 {
				return 0, fmt.Errorf("ai.onnx opset %d", o.GetVersion())
			}
			return o.GetVersion(), nil
		}
	}
	// IR versions before 3 predate opset imports and always meant opset 1.
	if m.GetIrVersion() < 3 {
		return 1, nil
	}
	return 0, errors.New("the model imports no ai.onnx opset")
}

// graphTensors lists the tensors whose data a graph carries: initializers
// and the values of Constant nodes.
func graphTensors(g *onnx.GraphProto) []*onnx.TensorProto {
	ts := append([]*onnx.TensorProto(nil), g.GetInitializer()...)
	for _, n := range g.GetNode() {
		if n.GetOpType() != "Constant" {
			continue
		}
		if a := onnxgraph.Attr(n, "value"); a != nil && a.GetT() != nil {
			ts = append(ts, a.GetT())
		}
	}
	return ts
}

// resolveExternalData reads every externally stored tensor of g into its
// raw_data, from files under dir, and feeds the bytes read to digest so the
// model's digest covers its weights.
func resolveExternalData(g *onnx.GraphProto, dir string, digest hash.Hash) error {
	var root *os.Root
	defer func() {
		if root != nil {
			root.Close()
		}
	}()
	for _, t := range graphTensors(g) {
		if t.GetDataLocation() != onnx.TensorProto_EXTERNAL {
			if err := checkInlineSize(t); err != nil {
				return err
			}
			continue
		}
		if root == nil {
			r, err := os.OpenRoot(dir)
			if err != nil {
				return fmt.Errorf("open the model's folder for external data: %w", err)
			}
			root = r
		}
		data, err := readExternal(root, t)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", t.GetName(), err)
		}
		digest.Write(data)
		t.RawData = data
		t.DataLocation = onnx.TensorProto_DEFAULT
		t.ExternalData = nil
	}
	return nil
}

// elemSize is the byte size of an element of the ONNX data types whose raw
// data nst may have to read; 0 for the others.
func elemSize(dt int32) int64 {
	switch onnx.TensorProto_DataType(dt) {
	case onnx.TensorProto_FLOAT, onnx.TensorProto_INT32, onnx.TensorProto_UINT32:
		return 4
	case onnx.TensorProto_DOUBLE, onnx.TensorProto_INT64, onnx.TensorProto_UINT64:
		return 8
	case onnx.TensorProto_FLOAT16, onnx.TensorProto_BFLOAT16, onnx.TensorProto_INT16, onnx.TensorProto_UINT16:
		return 2
	case onnx.TensorProto_INT8, onnx.TensorProto_UINT8, onnx.TensorProto_BOOL:
		return 1
	}
	return 0
}

// tensorBytes is the raw size a tensor's header declares, bounded by
// onnxgraph.NumElements so an absurd header fails before any allocation.
func tensorBytes(t *onnx.TensorProto) (int64, error) {
	n, err := onnxgraph.NumElements(t.GetDims())
	if err != nil {
		return 0, err
	}
	size := elemSize(t.GetDataType())
	if size == 0 {
		return 0, fmt.Errorf("element type %v is not supported in stored tensors", onnx.TensorProto_DataType(t.GetDataType()))
	}
	return n * size, nil
}

// checkInlineSize verifies that an inline tensor's header and data agree.
func checkInlineSize(t *onnx.TensorProto) error {
	n, err := onnxgraph.NumElements(t.GetDims())
	if err != nil {
		return fmt.Errorf("tensor %q: %w", t.GetName(), err)
	}
	if len(t.GetRawData()) == 0 {
		return nil // typed fields (float_data, ...) are checked where they are decoded
	}
	size := elemSize(t.GetDataType())
	if size != 0 && int64(len(t.GetRawData())) != n*size {
		return fmt.Errorf("tensor %q: shape %v needs %d bytes, the file holds %d (truncated or damaged file?)", t.GetName(), t.GetDims(), n*size, len(t.GetRawData()))
	}
	return nil
}

// readExternal reads one tensor's external data through root, which confines
// every path (symbolic links included) to the model's folder.
func readExternal(root *os.Root, t *onnx.TensorProto) ([]byte, error) {
	var location string
	var offset, length int64 = 0, -1
	for _, kv := range t.GetExternalData() {
		var err error
		switch kv.GetKey() {
		case "location":
			location = kv.GetValue()
		case "offset":
			offset, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		case "length":
			length, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		}
		if err != nil {
			return nil, fmt.Errorf("external data %s %q: %w", kv.GetKey(), kv.GetValue(), err)
		}
	}
	if location == "" {
		return nil, errors.New("external data without a location")
	}
	local := filepath.FromSlash(location)
	if !filepath.IsLocal(local) {
		return nil, fmt.Errorf("external data location %q points outside the model's folder; refused", location)
	}
	size, err := tensorBytes(t)
	if err != nil {
		return nil, err
	}
	if length >= 0 && length != size {
		return nil, fmt.Errorf("external data length %d, but shape %v needs %d bytes", length, t.GetDims(), size)
	}
	if offset < 0 {
		return nil, fmt.Errorf("external data offset %d", offset)
	}
	f, err := root.Open(local)
	if err != nil {
		return nil, fmt.Errorf("external data: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("external data: %w", err)
	}
	if offset > info.Size() || size > info.Size()-offset {
		return nil, fmt.Errorf("external data file %q holds %d bytes, the tensor needs %d at offset %d (truncated file?)", location, info.Size(), size, offset)
	}
	data := make([]byte, size)
	// ReadAt may report io.EOF alongside a complete read that ends the file.
	if n, err := f.ReadAt(data, offset); n != len(data) {
		return nil, fmt.Errorf("read external data %q: %w", location, err)
	}
	return data, nil
}
