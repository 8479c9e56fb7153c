package ortrt

import (
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/nst-project/nst/internal/onnxgraph"
)

func TestSessionRunsGemmIntoReusedOutputs(t *testing.T) {
	if err := Init(""); err != nil {
		t.Fatal(err)
	}
	g := &onnx.GraphProto{
		Name:   "gram",
		Node:   []*onnx.NodeProto{onnxgraph.Node("Gemm", "", []string{"a", "a"}, []string{"g"}, onnxgraph.Int("transB", 1))},
		Input:  []*onnx.ValueInfoProto{onnxgraph.FloatValue("a", -1, -1)},
		Output: []*onnx.ValueInfoProto{onnxgraph.FloatValue("g", -1, -1)},
	}
	b, err := onnxgraph.Marshal(onnxgraph.Model(g))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(b, []string{"a"}, []string{"g"}, SessionOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, _ := ort.NewTensor(ort.NewShape(2, 3), []float32{1, 2, 3, 4, 5, 6})
	defer a.Destroy()
	out, _ := ort.NewEmptyTensor[float32](ort.NewShape(2, 2))
	defer out.Destroy()
	for range 2 {
		if err := s.Run([]ort.Value{a}, []ort.Value{out}); err != nil {
			t.Fatal(err)
		}
	}
	want := []float32{14, 32, 32, 77}
	for i, v := range out.GetData() {
		if v != want[i] {
			t.Fatalf("gram = %v, want %v", out.GetData(), want)
		}
	}
	if Version() == "" || LibraryPath() == "" {
		t.Fatalf("version %q, path %q", Version(), LibraryPath())
	}
}

func TestMissingLibraryNamesTheFix(t *testing.T) {
	_, err := findLibrary("/nonexistent/libonnxruntime.so")
	if err == nil || !strings.Contains(err.Error(), installHint) {
		t.Fatalf("error %v does not name %s", err, installHint)
	}
}
