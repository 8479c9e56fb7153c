package models

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/nst-project/nst/internal/onnxgraph"
	"github.com/nst-project/nst/internal/ortrt"
)

// Narrow VGG block structures: the zoo's layout at a width tests can run.
var (
	narrowVGG19 = [][]int{{4, 4}, {6, 6}, {8, 8, 8, 8}, {8, 8, 8, 8}, {8, 8, 8, 8}}
	narrowVGG16 = [][]int{{4, 4}, {6, 6}, {8, 8, 8}, {8, 8, 8}, {8, 8, 8}}
	narrowVGG   = [][]int{{4}, {6}, {5}, {7}, {3}}
)

// narrowZoo is a zoo layout of the given blocks with a small head.
func narrowZoo(blocks [][]int) zooLayout {
	return zooLayout{blocks: blocks, dense: []int{16, 12, 10}, side: zooSide}
}

// zooBytes writes layout l with seed into memory.
func zooBytes(t *testing.T, l zooLayout, seed int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := writeZoo(&buf, l, seed); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestZooLookalikeLoadsAndRuns(t *testing.T) {
	const h, w, seed = 64, 48, 11
	cases := []struct {
		name   string
		blocks [][]int
		naming string
		relu51 string // tensor of relu5_1
	}{
		{"vgg19 blocks", narrowVGG19, NamingVGG19, "vgg0_relu12_fwd"},
		{"vgg16 blocks", narrowVGG16, NamingVGG16, "vgg0_relu10_fwd"},
		{"one convolution a block", narrowVGG, NamingVGG, "vgg0_relu4_fwd"},
	}
	layers := []string{"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"}
	img := randImage(h, w, 2)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "zoo.onnx")
			if err := os.WriteFile(path, zooBytes(t, narrowZoo(tc.blocks), seed), 0o644); err != nil {
				t.Fatal(err)
			}
			b, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(b.Naming(), NamingVGG) || b.Naming() != tc.naming {
				t.Errorf("naming %q, want %q", b.Naming(), tc.naming)
			}
			for i, name := range layers {
				l, err := b.Lookup(name)
				if err != nil {
					t.Fatal(err)
				}
				if want := tc.blocks[i][0]; l.Channels != want || l.Op != "Relu" || l.Stride != 1<<i {
					t.Errorf("%s = %+v, want a Relu with %d channels at stride %d", name, l, want, 1<<i)
				}
			}
			if l, _ := b.Lookup("relu5_1"); l.Tensor != tc.relu51 {
				t.Errorf("relu5_1 reads %q, want %q", l.Tensor, tc.relu51)
			}
			for _, head := range []string{"vgg0_dense0_fwd", "flatten_72", "vgg0_dropout0_fwd"} {
				if _, err := b.Lookup(head); err == nil {
					t.Errorf("the head's %q is a layer", head)
				}
			}

			// The convolutions carry SynthFrom's weights and zero
			// biases, so the built-in backbone of the same seed is the
			// reference.
			ref, err := SynthFrom(SynthSpec{Blocks: tc.blocks}, seed)
			if err != nil {
				t.Fatal(err)
			}
			got, err := prepare(t, b, Options{Layers: layers, Height: h, Width: w}).Forward(img)
			if err != nil {
				t.Fatal(err)
			}
			want, err := prepare(t, ref, Options{Layers: layers, Height: h, Width: w}).Forward(img)
			if err != nil {
				t.Fatal(err)
			}
			for i, a := range got {
				if a.Name != layers[i] || a.C != want[i].C || a.H != h>>i || a.W != w>>i {
					t.Fatalf("activation %d: %s %dx%dx%d, want %s %dx%dx%d", i, a.Name, a.C, a.H, a.W, layers[i], want[i].C, h>>i, w>>i)
				}
				closeTo(t, a.Name, a.Data, float64s(want[i].Data), 1e-5)
			}
		})
	}
}

func TestZooLookalikeLayout(t *testing.T) {
	cases := []struct {
		name     string
		blocks   [][]int
		flattens []string
	}{
		// MXNet's numbering does not depend on the widths: these are the
		// names in the zoo's vgg19-7 and vgg16-7.
		{"vgg19 blocks", narrowVGG19, []string{"flatten_72", "flatten_77", "flatten_82"}},
		{"vgg16 blocks", narrowVGG16, []string{"flatten_60", "flatten_65", "flatten_70"}},
		{"one convolution a block", narrowVGG, []string{"flatten_28", "flatten_33", "flatten_38"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := narrowZoo(tc.blocks)
			data := zooBytes(t, l, 1)
			p, err := l.plan()
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(data)) != p.size() {
				t.Errorf("wrote %d bytes, the plan says %d", len(data), p.size())
			}
			m, err := onnxgraph.Unmarshal(data)
			if err != nil {
				t.Fatal(err)
			}
			// The streamed encoding is the canonical one.
			again, err := onnxgraph.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, data) {
				t.Error("marshalling the parsed file gives other bytes")
			}
			checkZooModel(t, m, l, tc.flattens)
		})
	}
}

// checkZooModel compares a parsed look-alike with the zoo's layout.
func checkZooModel(t *testing.T, m *onnx.ModelProto, l zooLayout, flattens []string) {
	t.Helper()
	g := m.GetGraph()
	if m.GetIrVersion() != 3 || len(m.GetOpsetImport()) != 1 || m.GetOpsetImport()[0].GetVersion() != 7 || g.GetName() != "mxnet_converted_model" {
		t.Errorf("IR %d, opsets %v, graph %q; want IR 3, opset 7, mxnet_converted_model", m.GetIrVersion(), m.GetOpsetImport(), g.GetName())
	}
	var ops, names []string
	for _, n := range g.GetNode() {
		ops = append(ops, n.GetOpType())
		names = append(names, n.GetName())
		if n.GetName() != n.GetOutput()[0] {
			t.Errorf("node %q writes %q", n.GetName(), n.GetOutput()[0])
		}
	}
	convs := 0
	for _, b := range l.blocks {
		convs += len(b)
	}
	wantHead := []string{"Flatten", "Gemm", "Relu", "Dropout", "Flatten", "Gemm", "Relu", "Dropout", "Flatten", "Gemm"}
	if head := ops[len(ops)-len(wantHead):]; !slices.Equal(head, wantHead) || len(ops) != 2*convs+len(l.blocks)+len(wantHead) {
		t.Errorf("ops %v, want %d Conv+Relu, %d MaxPool and the head %v", ops, convs, len(l.blocks), wantHead)
	}
	for _, want := range append([]string{"vgg0_conv0_fwd", "vgg0_relu0_fwd", "vgg0_pool0_fwd", fmt.Sprintf("vgg0_pool%d_fwd", len(l.blocks)-1),
		"vgg0_dense0_fwd", "vgg0_dense0_relu_fwd", "vgg0_dropout0_fwd", "vgg0_dense1_relu_fwd", "vgg0_dropout1_fwd", "vgg0_dense2_fwd"}, flattens...) {
		if !slices.Contains(names, want) {
			t.Errorf("no node %q among %v", want, names)
		}
	}
	for i, f := range flattens {
		if gemm := slices.Index(names, fmt.Sprintf("vgg0_dense%d_fwd", i)); gemm < 1 || names[gemm-1] != f || g.GetNode()[gemm].GetInput()[0] != f {
			t.Errorf("vgg0_dense%d_fwd does not read %s", i, f)
		}
	}

	inits := g.GetInitializer()
	if len(inits) != 2*(convs+len(l.dense)) {
		t.Fatalf("%d initializers, want %d", len(inits), 2*(convs+len(l.dense)))
	}
	inputs := g.GetInput()
	if len(inputs) != len(inits)+1 || inputs[0].GetName() != "data" || !slices.Equal(staticDims(inputs[0].GetType().GetTensorType()), []int64{1, 3, 224, 224}) {
		t.Fatalf("inputs %v, want data 1x3x224x224 and every weight", inputs)
	}
	for i, init := range inits {
		n, _ := onnxgraph.NumElements(init.GetDims())
		if inputs[i+1].GetName() != init.GetName() || len(init.GetRawData()) != 0 || int64(len(init.GetFloatData())) != n {
			t.Errorf("initializer %d %q (%d floats, %d raw bytes), input %q: want it listed in order, %d floats in float_data",
				i, init.GetName(), len(init.GetFloatData()), len(init.GetRawData()), inputs[i+1].GetName(), n)
		}
	}
	side := int64(l.side >> len(l.blocks))
	last := l.blocks[len(l.blocks)-1]
	wantDims := map[string][]int64{
		"vgg0_conv0_weight":  {int64(l.blocks[0][0]), 3, 3, 3},
		"vgg0_dense0_weight": {int64(l.dense[0]), int64(last[len(last)-1]) * side * side},
		"vgg0_dense1_weight": {int64(l.dense[1]), int64(l.dense[0])},
		"vgg0_dense2_bias":   {int64(l.dense[2])},
	}
	for _, init := range inits {
		if want, ok := wantDims[init.GetName()]; ok && !slices.Equal(init.GetDims(), want) {
			t.Errorf("%s has dims %v, want %v", init.GetName(), init.GetDims(), want)
		}
	}
	out := g.GetOutput()
	if len(out) != 1 || out[0].GetName() != "vgg0_dense2_fwd" || !slices.Equal(staticDims(out[0].GetType().GetTensorType()), []int64{1, int64(l.dense[2])}) {
		t.Errorf("outputs %v, want vgg0_dense2_fwd 1x%d", out, l.dense[2])
	}
}

// TestZooLookalikeRunsWhole runs a small look-alike as the file stands,
// classifier head included, in ONNX Runtime: the layout is a valid opset-7
// model, and its scores are the head applied to the built-in backbone's
// pool5.
func TestZooLookalikeRunsWhole(t *testing.T) {
	const seed = 3
	l := narrowZoo(narrowVGG19)
	data := zooBytes(t, l, seed)
	if err := ortrt.Init(""); err != nil {
		t.Fatal(err)
	}
	s, err := ortrt.NewSession(data, []string{"data"}, []string{"vgg0_dense2_fwd"}, ortrt.SessionOptions{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	img := randImage(zooSide, zooSide, 5)
	in, err := ort.NewTensor(ort.NewShape(1, 3, zooSide, zooSide), img)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	out, err := ort.NewEmptyTensor[float32](ort.NewShape(1, int64(l.dense[2])))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Destroy()
	if err := s.Run([]ort.Value{in}, []ort.Value{out}); err != nil {
		t.Fatal(err)
	}

	ref, err := SynthFrom(SynthSpec{Blocks: l.blocks}, seed)
	if err != nil {
		t.Fatal(err)
	}
	pool5, err := prepare(t, ref, Options{Layers: []string{"pool5"}, Height: zooSide, Width: zooSide}).Forward(img)
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnxgraph.Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	x := float64s(pool5[0].Data)
	for d := range l.dense {
		x = dense(t, m, fmt.Sprintf("vgg0_dense%d", d), x, d < len(l.dense)-1)
	}
	closeTo(t, "scores", out.GetData(), x, 1e-4)
}

// dense applies the fully connected layer name of m to x, then ReLU when
// relu is set.
func dense(t *testing.T, m *onnx.ModelProto, name string, x []float64, relu bool) []float64 {
	t.Helper()
	var w, b []float32
	for _, init := range m.GetGraph().GetInitializer() {
		var err error
		switch init.GetName() {
		case name + "_weight":
			w, err = onnxgraph.Float32Data(init)
		case name + "_bias":
			b, err = onnxgraph.Float32Data(init)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(b) == 0 || len(w) != len(b)*len(x) {
		t.Fatalf("%s: %d weights and %d biases for %d inputs", name, len(w), len(b), len(x))
	}
	y := make([]float64, len(b))
	for o := range y {
		y[o] = float64(b[o])
		for i, v := range x {
			y[o] += float64(w[o*len(x)+i]) * v
		}
		if relu {
			y[o] = max(y[o], 0)
		}
	}
	return y
}

func TestZooLookalikeFullSize(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		arch   string
		params int64 // of the zoo's file
		zooMiB float64
	}{
		{"vgg19", 143_667_240, 548},
		{"vgg16", 138_357_544, 528},
	}
	for _, tc := range cases {
		t.Run(tc.arch, func(t *testing.T) {
			l, err := zooLayoutOf(tc.arch)
			if err != nil {
				t.Fatal(err)
			}
			p, err := l.plan()
			if err != nil {
				t.Fatal(err)
			}
			size := p.size()
			t.Logf("%s look-alike: %d bytes", tc.arch, size)
			if got := float64(size) / mib; got < tc.zooMiB*0.99 || got > tc.zooMiB*1.01 {
				t.Errorf("%s look-alike: %d bytes (%.1f MiB), want within 1%% of the zoo's %.0f MiB", tc.arch, size, got, tc.zooMiB)
			}
			// Everything but the weights is small.
			if overhead := size - 4*tc.params; overhead < 0 || overhead > 64<<10 {
				t.Errorf("%s look-alike: %d bytes for %d parameters: %d bytes besides the weights", tc.arch, size, tc.params, overhead)
			}
			var fc6 zooTensor
			for _, tensor := range p.tensors {
				if tensor.name == "vgg0_dense0_weight" {
					fc6 = tensor.zooTensor
				}
			}
			if !slices.Equal(fc6.dims, []int64{4096, 25088}) || fc6.fanIn != 25088 {
				t.Errorf("fc6 %+v, want 4096x25088 with fan-in 25088", fc6)
			}
		})
	}
}

func TestZooLookalikeDeterministic(t *testing.T) {
	l := narrowZoo(narrowVGG)
	cases := []struct {
		a, b int64
		same bool
	}{
		{0, 0, true},
		{7, 7, true},
		{0, 1, false},
		{-1, 1, false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("seeds %d and %d", tc.a, tc.b), func(t *testing.T) {
			if same := bytes.Equal(zooBytes(t, l, tc.a), zooBytes(t, l, tc.b)); same != tc.same {
				t.Errorf("identical bytes: %v, want %v", same, tc.same)
			}
		})
	}
}

func TestZooLookalikeErrors(t *testing.T) {
	cases := []struct {
		name   string
		arch   string // written with WriteZooLookalike when set, else layout with writeZoo
		layout zooLayout
		w      io.Writer // a buffer when nil
		errSub string
	}{
		{name: "unknown arch", arch: "vgg11", errSub: `"vgg11": want vgg19 or vgg16`},
		{name: "no blocks", layout: zooLayout{dense: []int{4}, side: 8}, errSub: "no convolution blocks"},
		{name: "empty block", layout: zooLayout{blocks: [][]int{{2}, {}}, dense: []int{4}, side: 8}, errSub: "block 2 has no convolution"},
		{name: "zero channels", layout: zooLayout{blocks: [][]int{{2, 0}}, dense: []int{4}, side: 8}, errSub: "convolution 2 has 0 channels"},
		{name: "no head", layout: zooLayout{blocks: [][]int{{2}}, side: 8}, errSub: "no fully connected layers"},
		{name: "zero outputs", layout: zooLayout{blocks: [][]int{{2}}, dense: []int{4, 0}, side: 8}, errSub: "layer 2 has 0 outputs"},
		{name: "input too small", layout: zooLayout{blocks: [][]int{{2}, {2}}, dense: []int{4}, side: 3}, errSub: "no pixels left after 2 poolings"},
		{name: "failing writer", layout: narrowZoo(narrowVGG), w: failingWriter{}, errSub: "write zoo look-alike: disk full"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.w
			if w == nil {
				w = &bytes.Buffer{}
			}
			var err error
			if tc.arch != "" {
				err = WriteZooLookalike(w, tc.arch, 0)
			} else {
				err = writeZoo(w, tc.layout, 0)
			}
			if err == nil || !strings.Contains(err.Error(), tc.errSub) {
				t.Errorf("error %v, want one containing %q", err, tc.errSub)
			}
		})
	}
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }
