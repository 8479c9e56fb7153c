package models

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/fuzzguard"
	"github.com/nst-project/nst/internal/onnxgraph"
)

// fuzzAllocSlack is what Load may allocate beyond a fixed multiple of the
// file's size: parsing and canonicalising copy the file a few times, but a
// header declaring a huge tensor must be refused before anything of that
// size is allocated.
const fuzzAllocSlack = 64 << 20

// FuzzLoadModel feeds arbitrary bytes to Load as a model file. Load must
// never panic, must refuse what it cannot use with an error, and must not
// allocate more than a small multiple of the file's size, whatever sizes the
// file declares. A model it accepts must answer for every layer it lists.
// Seeds: testdata/fuzz/FuzzLoadModel plus the models built below.
func FuzzLoadModel(f *testing.F) {
	for _, seed := range fuzzModelSeeds(f) {
		f.Add(seed)
	}
	path := filepath.Join(f.TempDir(), "model.onnx")
	f.Fuzz(func(t *testing.T, data []byte) {
		// A hang or a runaway allocation is a finding too: see fuzzguard.
		fuzzguard.Run(t, fuzzguard.For(len(data)), func() {
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b, err := Load(path)
			runtime.ReadMemStats(&after)
			if grew := after.TotalAlloc - before.TotalAlloc; grew > uint64(32*len(data)+fuzzAllocSlack) {
				t.Fatalf("Load of a %d-byte file allocated %d bytes", len(data), grew)
			}
			if err != nil {
				if b != nil {
					t.Fatalf("Load returned a backbone and the error %v", err)
				}
				return
			}
			if len(b.Layers()) == 0 {
				t.Fatal("Load accepted a model with no nameable layer")
			}
			for _, l := range b.Layers() {
				if _, err := b.Lookup(l.Name); err != nil {
					t.Fatalf("layer %q is listed but Lookup says %v", l.Name, err)
				}
			}
			if err := b.Inspect(io.Discard); err != nil {
				t.Fatalf("Inspect of an accepted model: %v", err)
			}
			if b.Digest() == "" || b.Describe() == "" {
				t.Fatal("accepted model without digest or description")
			}
		})
	})
}

// fuzzModelSeeds are valid models (the tiny VGG, a VGG with max pooling and
// two convolutions a block) and mutations of them that reach Load's checks:
// absurd dims, external data, an op outside the supported set.
func fuzzModelSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	var seeds [][]byte
	for _, spec := range []SynthSpec{{Blocks: [][]int{{2}}}, {Blocks: [][]int{{2, 2}, {3}}}} {
		var buf bytes.Buffer
		if err := WriteSynthFrom(&buf, spec, 1); err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, buf.Bytes())
	}
	mutate := func(change func(m *onnx.ModelProto)) {
		m, err := onnxgraph.Unmarshal(seeds[0])
		if err != nil {
			tb.Fatal(err)
		}
		change(m)
		out, err := onnxgraph.Marshal(m)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, out)
	}
	weight := func(m *onnx.ModelProto) *onnx.TensorProto {
		for _, t := range m.GetGraph().GetInitializer() {
			if len(t.GetDims()) == 4 {
				return t
			}
		}
		tb.Fatal("synthetic model without a conv weight")
		return nil
	}
	mutate(func(m *onnx.ModelProto) { weight(m).Dims = []int64{1 << 40, 1 << 40} })
	mutate(func(m *onnx.ModelProto) {
		w := weight(m)
		w.RawData = nil
		w.DataLocation = onnx.TensorProto_EXTERNAL
		w.ExternalData = []*onnx.StringStringEntryProto{{Key: "location", Value: "model.onnx"}, {Key: "offset", Value: "0"}}
	})
	mutate(func(m *onnx.ModelProto) {
		w := weight(m)
		w.RawData = nil
		w.DataLocation = onnx.TensorProto_EXTERNAL
		w.ExternalData = []*onnx.StringStringEntryProto{{Key: "location", Value: "../../etc/passwd"}}
	})
	mutate(func(m *onnx.ModelProto) {
		for _, n := range m.GetGraph().GetNode() {
			if n.GetOpType() == "Relu" {
				n.OpType = "Sin"
				return
			}
		}
	})
	return seeds
}
