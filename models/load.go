package models

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/onnxgraph"
	"github.com/nst-project/nst/internal/safefile"
)

// Load reads an ONNX model file and normalises it into a Backbone.
//
// Only what the backbone keeps is read: the graph, the small tensors, and
// the weights of the layers it names, which for a model-zoo VGG leaves the
// classifier head, most of the file, unread (see parseSkeleton). The
// digest, which must cover every byte, is computed from the file in the
// background while the caller goes on; Digest waits for it.
//
// External data (tensors stored beside the model, as exporters do for large
// models) is read from the model's folder only: references that are absolute,
// climb out with "..", or escape through a symbolic link are refused. Tensor
// sizes are checked (onnxgraph.NumElements) before any memory is
// allocated for them.
//
// The model and its external data files must be regular files
// (internal/safefile): a named pipe or a device is refused without
// blocking or reading, a model over safefile.MaxModelBytes before it is
// mapped.
func Load(path string) (*Backbone, error) {
	f, err := safefile.Open(path, safefile.MaxModelBytes)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err) // the error names the file
	}
	defer f.Close()
	b, err := load(f.OS(), path)
	if err != nil {
		return nil, fmt.Errorf("load model %q: %w", path, err)
	}
	return b, nil
}

func load(f *os.File, path string) (*Backbone, error) {
	file, unmap, err := mapFile(f)
	if err != nil {
		return nil, err
	}
	defer unmap()
	m, lazy, err := parseSkeleton(file)
	if err != nil {
		return nil, fmt.Errorf("not a readable ONNX file (truncated, or another format?): %w", err)
	}
	opset, err := checkModel(m)
	if err != nil {
		return nil, err
	}
	// The digest reads the external data again, in tensor order: keep the
	// references, which resolving the data clears.
	var external []*onnx.TensorProto
	for _, t := range graphTensors(m.GetGraph()) {
		if t.GetDataLocation() == onnx.TensorProto_EXTERNAL {
			external = append(external, &onnx.TensorProto{Name: t.GetName(), Dims: t.GetDims(), DataType: t.GetDataType(),
				DataLocation: t.GetDataLocation(), ExternalData: t.GetExternalData()})
		}
	}
	ext := &externalReader{dir: filepath.Dir(path)}
	defer ext.close()
	// Small external tensors are read now, since canonicalisation may read
	// them; the large ones, weights, once the backbone has kept them.
	if err := ext.resolve(graphTensors(m.GetGraph()), func(size int64) bool { return size < lazyBytes }); err != nil {
		return nil, err
	}
	b, err := newBackbone(m.GetGraph(), opset)
	if err != nil {
		return nil, err
	}
	if b.canon.channels != 3 && !b.canon.depth {
		return nil, fmt.Errorf("input %q has %d channels; nst feeds RGB images (3 channels)", b.canon.input, b.canon.channels)
	}
	kept := b.canon.graph.GetInitializer()
	if err := materialize(kept, lazy); err != nil {
		return nil, err
	}
	if err := ext.resolve(kept, func(int64) bool { return true }); err != nil {
		return nil, err
	}
	b.source = path
	if b.digestOf, err = digestOf(path, external, ext); err != nil {
		return nil, err
	}
	return b, nil
}

// digestOf returns the function giving the model's digest: the SHA-256 of
// the model file followed by the external data of the tensors external,
// in order, as sha256sum prints it. A file without external data is
// hashed in the background, from a handle opened now, while the caller
// goes on; one with external data is hashed now, through ext, which also
// checks that all of it can be read.
func digestOf(path string, external []*onnx.TensorProto, ext *externalReader) (func() string, error) {
	f, err := safefile.Open(path, safefile.MaxModelBytes)
	if err != nil {
		return nil, err
	}
	if len(external) > 0 {
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return nil, err
		}
		for _, t := range external {
			data, err := ext.read(t)
			if err != nil {
				return nil, fmt.Errorf("tensor %q: %w", t.GetName(), err)
			}
			h.Write(data)
		}
		sum := hex.EncodeToString(h.Sum(nil))
		return func() string { return sum }, nil
	}
	done := make(chan string, 1)
	go func() {
		defer f.Close()
		// Read through a small buffer: the file's pages stay in the page
		// cache rather than in this process's memory.
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			slog.Warn("model digest: reading the file again failed", "file", path, "err", err)
			done <- ""
			return
		}
		done <- hex.EncodeToString(h.Sum(nil))
	}()
	return func() string { return <-done }, nil
}

// readFile reads f whole.
func readFile(f *os.File) ([]byte, func(), error) {
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, nil, err
	}
	return data, func() {}, nil
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

// externalReader reads tensors' external data from the model's folder,
// opened as an os.Root on first use, which confines every path (symbolic
// links included) to that folder.
type externalReader struct {
	dir  string
	root *os.Root
}

func (r *externalReader) close() {
	if r.root != nil {
		r.root.Close()
	}
}

// read returns t's external data.
func (r *externalReader) read(t *onnx.TensorProto) ([]byte, error) {
	if r.root == nil {
		root, err := os.OpenRoot(r.dir)
		if err != nil {
			return nil, fmt.Errorf("open the model's folder for external data: %w", err)
		}
		r.root = root
	}
	return readExternal(r.root, t)
}

// resolve checks the inline tensors of ts and reads into raw_data the
// external data of those whose declared size want accepts.
func (r *externalReader) resolve(ts []*onnx.TensorProto, want func(size int64) bool) error {
	for _, t := range ts {
		if t.GetDataLocation() != onnx.TensorProto_EXTERNAL {
			if err := checkInlineSize(t); err != nil {
				return err
			}
			continue
		}
		size, err := tensorBytes(t)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", t.GetName(), err)
		}
		if !want(size) {
			continue
		}
		data, err := r.read(t)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", t.GetName(), err)
		}
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
	f, err := safefile.OpenInRoot(root, local, safefile.MaxExternalDataBytes)
	if err != nil {
		return nil, fmt.Errorf("external data: %w", err)
	}
	defer f.Close()
	if offset > f.Size() || size > f.Size()-offset {
		return nil, fmt.Errorf("external data file %q holds %d bytes, the tensor needs %d at offset %d (truncated file?)", location, f.Size(), size, offset)
	}
	data := make([]byte, size)
	// ReadAt may report io.EOF alongside a complete read that ends the file.
	if n, err := f.ReadAt(data, offset); n != len(data) {
		return nil, fmt.Errorf("read external data %q: %w", location, err)
	}
	return data, nil
}
