package ortrt

import (
	"os"
	"strconv"
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

// TestReleaseArena checks that ReleaseArena refuses while a session is
// open, and once none is, hands the arena's memory back to the system and
// leaves a working arena for the sessions after it.
func TestReleaseArena(t *testing.T) {
	if err := Init(""); err != nil {
		t.Fatal(err)
	}
	// p = (a+b)·b: the sum is an intermediate tensor, cut from the arena.
	g := &onnx.GraphProto{
		Name: "addmul",
		Node: []*onnx.NodeProto{
			onnxgraph.Node("Add", "", []string{"a", "b"}, []string{"s"}),
			onnxgraph.Node("Mul", "", []string{"s", "b"}, []string{"p"}),
		},
		Input:  []*onnx.ValueInfoProto{onnxgraph.FloatValue("a", -1), onnxgraph.FloatValue("b", -1)},
		Output: []*onnx.ValueInfoProto{onnxgraph.FloatValue("p", -1)},
	}
	model, err := onnxgraph.Marshal(onnxgraph.Model(g))
	if err != nil {
		t.Fatal(err)
	}
	const n = 16 << 20 // 64 MB per tensor
	a, b, p := make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range a {
		a[i], b[i] = 1, float32(i%7)
	}
	run := func() {
		t.Helper()
		s, err := NewSession(model, []string{"a", "b"}, []string{"p"}, SessionOptions{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ta, tb, tp := tensorOf(t, a), tensorOf(t, b), tensorOf(t, p)
		if err := s.Run([]ort.Value{ta, tb}, []ort.Value{tp}); err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{0, 1, 6, n - 1} {
			if want := (a[i] + b[i]) * b[i]; tp.GetData()[i] != want {
				t.Fatalf("p[%d] = %v, want %v", i, tp.GetData()[i], want)
			}
		}
		if ReleaseArena() {
			t.Fatal("ReleaseArena released the arena under an open session")
		}
	}
	run()
	before := residentKB(t)
	if !ReleaseArena() {
		t.Fatal("ReleaseArena did nothing with no session open")
	}
	after := residentKB(t)
	t.Logf("resident memory %d MB before releasing the arena, %d MB after", before>>10, after>>10)
	if before-after < 48<<10 {
		t.Errorf("releasing the arena freed %d KB, want the 64 MB intermediate's region", before-after)
	}
	run() // the new arena serves new sessions
}

// residentKB reads the process's resident memory, in KB.
func residentKB(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status:", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
