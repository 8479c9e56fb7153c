package models

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// TestLoadLeavesUnusedWeightsInTheFile loads files whose large weights are
// stored as raw_data (the built-in layout) and as packed float_data (the
// zoo's), and checks that the large tensors were left out of the parse,
// that those the backbone keeps hold exactly the file's values, and that
// the classifier head's never left the file.
func TestLoadLeavesUnusedWeightsInTheFile(t *testing.T) {
	// Blocks wide enough for some convolution weights to reach lazyBytes.
	blocks := [][]int{{4}, {8}, {64, 32}, {8}, {8}}
	var builtin bytes.Buffer
	if err := WriteSynthFrom(&builtin, SynthSpec{Blocks: blocks}, 5); err != nil {
		t.Fatal(err)
	}
	zoo := zooBytes(t, zooLayout{blocks: blocks, dense: []int{64, 12, 10}, side: zooSide}, 5)
	for _, tc := range []struct {
		name     string
		file     []byte
		lazy     []string // tensors the skeleton leaves out
		unloaded []string // of those, the ones the backbone does not keep
	}{
		{"raw_data", builtin.Bytes(), []string{"conv3_2.weight"}, nil},
		{"float_data", zoo, []string{"vgg0_conv3_weight", "vgg0_dense0_weight"}, []string{"vgg0_dense0_weight"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, lazy, err := parseSkeleton(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for tensor, data := range lazy {
				names = append(names, tensor.GetName())
				if len(data) < lazyBytes || len(tensor.GetRawData())+len(tensor.GetFloatData()) != 0 {
					t.Errorf("%s: %d bytes left out, %d raw and %d floats parsed", tensor.GetName(), len(data), len(tensor.GetRawData()), len(tensor.GetFloatData()))
				}
			}
			slices.Sort(names)
			if !slices.Equal(names, tc.lazy) {
				t.Errorf("left out %v, want %v", names, tc.lazy)
			}

			path := filepath.Join(t.TempDir(), "model.onnx")
			if err := os.WriteFile(path, tc.file, 0o644); err != nil {
				t.Fatal(err)
			}
			b, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			whole, err := onnxgraph.Unmarshal(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]*onnx.TensorProto{}
			for _, w := range whole.GetGraph().GetInitializer() {
				want[w.GetName()] = w
			}
			kept := map[string]bool{}
			for _, got := range b.canon.graph.GetInitializer() {
				kept[got.GetName()] = true
				w, ok := want[got.GetName()]
				if !ok {
					continue // made by canonicalisation
				}
				g, err := onnxgraph.Float32Data(got)
				if err != nil {
					t.Fatal(err)
				}
				f, err := onnxgraph.Float32Data(w)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(g, f) {
					t.Errorf("%s: the loaded values differ from the file's", got.GetName())
				}
			}
			for _, name := range tc.lazy {
				if want := !slices.Contains(tc.unloaded, name); kept[name] != want {
					t.Errorf("%s kept %v, want %v", name, kept[name], want)
				}
			}
			if got, want := b.Digest(), sha256Hex(tc.file); got != want {
				t.Errorf("digest %s, want the file's %s", got, want)
			}
		})
	}
}

// TestStripTensor checks which encodings of a tensor's data the skeleton
// leaves in the file: only a FLOAT tensor's single raw_data or packed
// float_data field of at least lazyBytes.
func TestStripTensor(t *testing.T) {
	big := make([]byte, lazyBytes)
	for i := 0; i < len(big); i += 4 {
		binary.LittleEndian.PutUint32(big[i:], math.Float32bits(float32(i)))
	}
	header := func(dataType onnx.TensorProto_DataType) []byte {
		b := protowire.AppendTag(nil, 1, protowire.VarintType) // dims
		b = protowire.AppendVarint(b, uint64(len(big)/4))
		b = protowire.AppendTag(b, tensorDataType, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(dataType))
		b = protowire.AppendTag(b, 8, protowire.BytesType) // name
		return protowire.AppendString(b, "w")
	}
	bytesField := func(b []byte, num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
	}
	unpacked := header(onnx.TensorProto_FLOAT)
	for i := 0; i < len(big); i += 4 {
		unpacked = protowire.AppendTag(unpacked, tensorFloatData, protowire.Fixed32Type)
		unpacked = protowire.AppendFixed32(unpacked, binary.LittleEndian.Uint32(big[i:]))
	}
	external := bytesField(header(onnx.TensorProto_FLOAT), tensorRawData, big)
	external = protowire.AppendVarint(protowire.AppendTag(external, tensorDataLocation, protowire.VarintType), 1)
	for _, tc := range []struct {
		name  string
		msg   []byte
		strip bool
	}{
		{"raw_data", bytesField(header(onnx.TensorProto_FLOAT), tensorRawData, big), true},
		{"packed float_data", bytesField(header(onnx.TensorProto_FLOAT), tensorFloatData, big), true},
		{"data before the header", append(bytesField(nil, tensorRawData, big), header(onnx.TensorProto_FLOAT)...), true},
		{"small raw_data", bytesField(header(onnx.TensorProto_FLOAT), tensorRawData, big[:lazyBytes-4]), false},
		{"INT32 raw_data", bytesField(header(onnx.TensorProto_INT32), tensorRawData, big), false},
		{"unpacked float_data", unpacked, false},
		{"float_data in two packed runs", bytesField(bytesField(header(onnx.TensorProto_FLOAT), tensorFloatData, big[:8]), tensorFloatData, big[8:]), false},
		{"raw_data and float_data", bytesField(bytesField(header(onnx.TensorProto_FLOAT), tensorFloatData, big[:8]), tensorRawData, big), false},
		{"external data location", external, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, data, err := stripTensor(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.strip {
				if data != nil || !bytes.Equal(out, tc.msg) {
					t.Errorf("stripped %d bytes; want the tensor left whole", len(data))
				}
				return
			}
			if !bytes.Equal(data, big) {
				t.Errorf("left out %d bytes, want the %d data bytes", len(data), len(big))
			}
			if want := header(onnx.TensorProto_FLOAT); !bytes.Equal(out, want) {
				t.Errorf("stripped tensor %x, want its header %x", out, want)
			}
		})
	}
}

// TestLoadRefusesDamagedLeftOutData: a weight left in the file whose size
// disagrees with its shape is refused when the backbone keeps it.
func TestLoadRefusesDamagedLeftOutData(t *testing.T) {
	m, err := synthModel(SynthSpec{Blocks: [][]int{{4}, {8}, {64, 32}, {8}, {8}}}, 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range m.GetGraph().GetInitializer() {
		if w.GetName() == "conv3_2.weight" {
			w.RawData = w.RawData[:len(w.RawData)-4*9]
		}
	}
	data, err := onnxgraph.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), `tensor "conv3_2.weight"`) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("Load = %v, want the damaged tensor named", err)
	}
}

// sha256Hex is the digest sha256sum prints for data.
func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
