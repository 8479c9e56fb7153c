package models

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/onnxgraph"
	"github.com/nst-project/nst/models/autodiff"
)

// randImage returns an RGB image with values in [0,1].
func randImage(h, w int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	img := make([]float32, 3*h*w)
	for i := range img {
		img[i] = rng.Float32()
	}
	return img
}

// float64s converts values to float64.
func float64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// prepare is Prepare with the Net closed when the test ends.
func prepare(t testing.TB, b *Backbone, o Options) *Net {
	t.Helper()
	if o.Session.Threads == 0 {
		o.Session.Threads = 2
	}
	n, err := b.Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Error(err)
		}
	})
	return n
}

// mustLoad writes f into a temporary folder and loads it.
func mustLoad(t testing.TB, f *fileBuilder) *Backbone {
	t.Helper()
	b, err := Load(f.write(t, t.TempDir(), "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// closeTo compares got with want at a relative tolerance scaled by the
// largest magnitude of want.
func closeTo(t testing.TB, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	scale := 1e-12
	for _, v := range want {
		scale = math.Max(scale, math.Abs(v))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); d > tol*scale {
			t.Fatalf("%s[%d] = %g, want %g (scale %g)", what, i, got[i], want[i], scale)
		}
	}
}

func TestNaming(t *testing.T) {
	small := func(f *fileBuilder) func(t *testing.T) *Backbone {
		return func(t *testing.T) *Backbone { return mustLoad(t, f) }
	}
	synth := func(arch string) func(t *testing.T) *Backbone {
		return func(t *testing.T) *Backbone {
			b, err := Synth(arch, 0)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	cases := []struct {
		name   string
		load   func(t *testing.T) *Backbone
		naming string
		count  int
		want   []LayerInfo // a selection, matched on every field given
		absent []string
	}{
		{
			name: "synthetic vgg19", load: synth("vgg19"), naming: NamingVGG19, count: 16 + 16 + 5,
			want: []LayerInfo{
				{Name: "conv1_1", Tensor: "conv1_1", Op: "Conv", Channels: 64, Stride: 1},
				{Name: "relu4_2", Tensor: "relu4_2", Op: "Relu", Channels: 512, Stride: 8},
				{Name: "relu5_4", Tensor: "relu5_4", Op: "Relu", Channels: 512, Stride: 16},
				{Name: "pool5", Tensor: "pool5", Op: "MaxPool", Channels: 512, Stride: 32},
			},
		},
		{
			name: "synthetic vgg16", load: synth("vgg16"), naming: NamingVGG16, count: 13 + 13 + 5,
			want:   []LayerInfo{{Name: "relu5_3", Channels: 512, Stride: 16}},
			absent: []string{"relu5_4", "conv3_4"},
		},
		{
			name: "other block counts", naming: NamingVGG, count: 8,
			load: func(t *testing.T) *Backbone {
				b, err := SynthFrom(SynthSpec{Blocks: [][]int{{2}, {3, 1}}}, 0)
				if err != nil {
					t.Fatal(err)
				}
				return b
			},
			want: []LayerInfo{{Name: "relu2_2", Channels: 1, Stride: 2}, {Name: "pool2", Stride: 4}},
		},
		{
			// 8 layers and the graph output's name.
			name: "torchvision >= 1.13 export", load: small(torchvisionNew([][]int{{4, 4}, {8}}, false)), naming: NamingVGG, count: 9,
			want: []LayerInfo{
				{Name: "conv1_1", Tensor: "/0/Conv_output_0", Node: "/0/Conv", Channels: 4, Stride: 1},
				{Name: "relu1_2", Tensor: "/3/Relu_output_0", Node: "/3/Relu", Channels: 4},
				{Name: "pool2", Tensor: "/7/MaxPool_output_0", Op: "MaxPool", Channels: 8, Stride: 4},
				{Name: "/7/MaxPool_output_0", Tensor: "/7/MaxPool_output_0", Op: "MaxPool", Channels: 8, Stride: 4, AliasOf: "pool2"},
			},
		},
		{
			name: "torchvision 1.x export", load: small(torchvisionOld([][]int{{4}, {6, 6}})), naming: NamingVGG, count: 9,
			want: []LayerInfo{{Name: "relu1_1", Tensor: "input.8"}, {Name: "conv2_2", Tensor: "input.24"}, {Name: "pool2", Tensor: "output"}, {Name: "output", Tensor: "output", AliasOf: "pool2"}},
		},
		{
			name: "model zoo vgg-7", load: small(zooStyle([][]int{{4}, {6}}, false, false)), naming: NamingVGG, count: 6,
			want:   []LayerInfo{{Name: "relu2_1", Tensor: "vgg0_relu1_fwd", Node: "vgg0_relu1_fwd"}, {Name: "pool2", Tensor: "vgg0_pool1_fwd", Stride: 4}},
			absent: []string{"vgg0_dense0_fwd", "fc6", "relu3_1"},
		},
		{
			name: "model zoo vgg-bn-7 with Reshape", load: small(zooStyle([][]int{{4}, {6}}, true, true)), naming: NamingVGG, count: 8,
			want: []LayerInfo{{Name: "bn1_1", Tensor: "vgg0_batchnorm0_fwd", Op: "BatchNormalization"}, {Name: "relu1_1", Tensor: "vgg0_relu0_fwd"}},
		},
		{
			name: "model zoo caffe2 opset 3", load: small(caffe2Style([][]int{{4}, {6}})), naming: NamingVGG, count: 8,
			want: []LayerInfo{{Name: "bn2_1", Tensor: "bn2_1_1"}, {Name: "relu2_1", Tensor: "relu2_1_1"}, {Name: "pool2", Tensor: "pool2_1"}},
		},
		{
			name: "not a VGG chain", load: small(legacyBranchy()), naming: NamingONNX,
			want: []LayerInfo{
				{Name: "padded", Op: "Pad", Channels: 3, Stride: 1},
				{Name: "a", Tensor: "a", Op: "Conv", Node: "conv_a", Channels: 4, Stride: 2},
				{Name: "clipped", Op: "Clip", Channels: 4, Stride: 2},
				{Name: "sum", Op: "Add", Channels: 4, Stride: 2},
				{Name: "pooled", Op: "AveragePool", Channels: 4, Stride: 4},
				{Name: "flat", Op: "Reshape"},
			},
			absent: []string{"clipped_alias", "b_drop", "shape", "conv1_1"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.load(t)
			if b.Naming() != tc.naming {
				t.Errorf("naming %q, want %q", b.Naming(), tc.naming)
			}
			layers := b.Layers()
			if tc.count > 0 && len(layers) != tc.count {
				t.Errorf("%d layers, want %d: %v", len(layers), tc.count, layers)
			}
			for _, w := range tc.want {
				got, err := b.Lookup(w.Name)
				if err != nil {
					t.Error(err)
					continue
				}
				if (w.Tensor != "" && got.Tensor != w.Tensor) || (w.Op != "" && got.Op != w.Op) || (w.Node != "" && got.Node != w.Node) ||
					(w.Channels != 0 && got.Channels != w.Channels) || (w.Stride != 0 && got.Stride != w.Stride) || got.AliasOf != w.AliasOf {
					t.Errorf("%s = %+v, want %+v", w.Name, got, w)
				}
				if w.Name == "flat" && (got.Stride != 0 || got.Channels != 0) {
					t.Errorf("flat = %+v, want no channels or stride after Reshape", got)
				}
			}
			for _, name := range tc.absent {
				if _, err := b.Lookup(name); err == nil {
					t.Errorf("layer %q should not exist", name)
				}
			}
		})
	}
}

func TestInspectListsLayers(t *testing.T) {
	b := mustLoad(t, torchvisionNew([][]int{{4}, {8}}, false))
	var out bytes.Buffer
	if err := b.Inspect(&out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := [][]string{
		{"model.onnx", "vgg", "opset 17", "2 convolutions"},
		{"FIELD: receptive field in input pixels, height x width"},
		{},
		{"LAYER", "CHANNELS", "STRIDE", "FIELD", "OP", "TENSOR"},
		{"conv1_1", "4", "1", "3x3", "Conv", "/0/Conv_output_0"},
		{"relu1_1", "4", "1", "3x3", "Relu"},
		{"pool1", "4", "2", "4x4", "MaxPool"},
		{"conv2_1", "8", "2", "8x8", "Conv"},
		{"relu2_1", "8", "2", "8x8", "Relu"},
		{"pool2", "8", "4", "10x10", "MaxPool", "/5/MaxPool_output_0"},
		{"/5/MaxPool_output_0", "8", "4", "10x10", "MaxPool", "/5/MaxPool_output_0"}, // the graph output
	}
	if len(lines) != len(want) {
		t.Fatalf("inspect printed %d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, fields := range want {
		if i < 3 {
			for _, f := range fields {
				if !strings.Contains(lines[i], f) {
					t.Errorf("line %d %q lacks %q", i, lines[i], f)
				}
			}
			continue
		}
		if got := strings.Fields(lines[i]); !slices.Equal(got[:len(fields)], fields) {
			t.Errorf("line %d %q: columns %q, want %q first", i, lines[i], got, fields)
		}
	}
}

func TestLookupSuggestsNearest(t *testing.T) {
	b, err := SynthFrom(SynthSpec{Blocks: [][]int{{2, 2}, {2}, {2, 2, 2}}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, suggest string }{
		{"reluu3_2", "relu3_2"},
		{"RELU1_2", "relu1_2"},
		{"conv_2_1", "conv2_1"},
		{"pool03", "pool3"},
	}
	for _, tc := range cases {
		_, err := b.Lookup(tc.name)
		if !errors.Is(err, ErrUnknownLayer) {
			t.Fatalf("Lookup(%q) error %v, want ErrUnknownLayer", tc.name, err)
		}
		if !strings.Contains(err.Error(), `did you mean "`+tc.suggest+`"`) {
			t.Errorf("Lookup(%q): %v, want a suggestion of %q", tc.name, err, tc.suggest)
		}
	}
}

func TestLookalikesRunAt97x131(t *testing.T) {
	const h, w = 97, 131
	cases := []struct {
		name   string
		file   *fileBuilder
		layers []string
		head   []string // ops of the classifier head, which the cut must drop
	}{
		{"torchvision >= 1.13, dynamic size", torchvisionNew([][]int{{4, 4}, {6}}, false), []string{"relu1_2", "relu2_1", "pool2"}, nil},
		{"torchvision >= 1.13, fixed size", torchvisionNew([][]int{{4}, {6}}, true), []string{"conv2_1"}, nil},
		{"torchvision 1.x", torchvisionOld([][]int{{4}, {6, 6}}), []string{"relu1_1", "relu2_2"}, nil},
		{"model zoo vgg-7", zooStyle([][]int{{4}, {6}}, false, false), []string{"relu1_1", "pool2"}, []string{"Flatten", "Gemm", "Softmax"}},
		{"model zoo vgg-bn-7, Reshape head", zooStyle([][]int{{4}, {6}}, true, true), []string{"bn2_1", "relu2_1"}, []string{"Reshape", "Gemm", "Softmax"}},
		{"caffe2 opset 3", caffe2Style([][]int{{4}, {6}}), []string{"relu2_1"}, []string{"Reshape", "Gemm", "Softmax"}},
		{"legacy opset 7 branches", legacyBranchy(), []string{"clipped", "pooled"}, []string{"Reshape"}},
	}
	img := randImage(h, w, 3)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := mustLoad(t, tc.file)
			tensors := make([]string, len(tc.layers))
			for i, name := range tc.layers {
				l, err := b.Lookup(name)
				if err != nil {
					t.Fatal(err)
				}
				tensors[i] = l.Tensor
			}
			cut, err := b.canon.cut(tensors, PoolingMax)
			if err != nil {
				t.Fatal(err)
			}
			nodes := cut.graph.GetNode()
			for _, n := range nodes {
				if slices.Contains(tc.head, n.GetOpType()) {
					t.Errorf("the cut for %v keeps node %q (%s)", tc.layers, label(n), n.GetOpType())
				}
			}
			// Nothing deeper than the deepest requested layer survives.
			if last := nodes[len(nodes)-1].GetOutput()[0]; !slices.Contains(tensors, last) {
				t.Errorf("the cut for %v ends with %q", tc.layers, last)
			}
			net := prepare(t, b, Options{Layers: tc.layers, Height: h, Width: w})
			acts, err := net.Forward(img)
			if err != nil {
				t.Fatal(err)
			}
			want := interpret(t, tc.file.model(), float64s(img), h, w)
			for i, a := range acts {
				ref, ok := want[tensors[i]]
				if !ok {
					t.Fatalf("reference lacks %q", tensors[i])
				}
				if a.Name != tc.layers[i] || a.C != ref.c || a.H != ref.h || a.W != ref.w {
					t.Fatalf("activation %d: %s %dx%dx%d, want %s %dx%dx%d", i, a.Name, a.C, a.H, a.W, tc.layers[i], ref.c, ref.h, ref.w)
				}
				closeTo(t, a.Name, a.Data, ref.d, 1e-5)
			}
		})
	}
}

func TestPoolingSwap(t *testing.T) {
	b, err := SynthFrom(SynthSpec{Blocks: [][]int{{3}}}, 5)
	if err != nil {
		t.Fatal(err)
	}
	const h, w = 9, 11 // odd sizes: the last row and column fall outside every window
	img := randImage(h, w, 4)
	outputs := map[string][]float32{}
	for _, pooling := range []string{PoolingMax, PoolingAvg} {
		t.Run(pooling, func(t *testing.T) {
			net := prepare(t, b, Options{Layers: []string{"relu1_1", "pool1"}, Pooling: pooling, Height: h, Width: w})
			acts, err := net.Forward(img)
			if err != nil {
				t.Fatal(err)
			}
			relu := fmap{acts[0].C, acts[0].H, acts[0].W, make([]float64, len(acts[0].Data))}
			for i, v := range acts[0].Data {
				relu.d[i] = float64(v)
			}
			want := refPool(relu, []int64{2, 2}, []int64{2, 2}, []int64{0, 0, 0, 0}, pooling == PoolingAvg)
			if acts[1].H != 4 || acts[1].W != 5 {
				t.Fatalf("pool1 is %dx%d, want 4x5", acts[1].H, acts[1].W)
			}
			closeTo(t, "pool1", acts[1].Data, want.d, 1e-6)
			outputs[pooling] = slices.Clone(acts[1].Data)
		})
	}
	if slices.Equal(outputs[PoolingMax], outputs[PoolingAvg]) {
		t.Error("average and max pooling gave the same output")
	}
	if _, err := b.Prepare(Options{Layers: []string{"pool1"}, Pooling: "min", Height: h, Width: w}); err == nil || !strings.Contains(err.Error(), `pooling "min"`) {
		t.Errorf("pooling min: error %v", err)
	}
}

// caffePreprocess is what caffe-converted VGG files expect: BGR, 0-255
// values, ImageNet mean subtracted, no division.
var caffePreprocess = Preprocess{Mean: [3]float32{123.68, 116.779, 103.939}, Std: [3]float32{1, 1, 1}, Scale: 255, BGR: true}

func TestPreprocess(t *testing.T) {
	pixel := []float32{0, 0.5, 1, 0.25, 0.75, 0.1} // 3 channels of a 1x2 image
	cases := []struct {
		name      string
		p         Preprocess
		wantInput []float64 // model channels in model order
		wantMul   [3]float64
	}{
		{"zero is identity", Preprocess{}, []float64{0, 0.5, 1, 0.25, 0.75, 0.1}, [3]float64{1, 1, 1}},
		{"imagenet", ImageNetPreprocess,
			[]float64{(0 - 0.485) / 0.229, (0.5 - 0.485) / 0.229, (1 - 0.456) / 0.224, (0.25 - 0.456) / 0.224, (0.75 - 0.406) / 0.225, (0.1 - 0.406) / 0.225},
			[3]float64{1 / 0.229, 1 / 0.224, 1 / 0.225}},
		{"caffe bgr", caffePreprocess,
			[]float64{0.75*255 - 103.939, 0.1*255 - 103.939, 1*255 - 116.779, 0.25*255 - 116.779, 0*255 - 123.68, 0.5*255 - 123.68},
			[3]float64{255, 255, 255}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := tc.p.compile()
			if err != nil {
				t.Fatal(err)
			}
			in := make([]float32, 6)
			a.apply(in, pixel)
			closeTo(t, "input", in, tc.wantInput, 1e-6)
			// The gradient of the input's sum w.r.t. each image channel is
			// the channel's multiplier, whichever model channel it feeds.
			dimg := make([]float32, 6)
			a.backprop(dimg, []float32{1, 1, 1, 1, 1, 1})
			want := []float64{tc.wantMul[0], tc.wantMul[0], tc.wantMul[1], tc.wantMul[1], tc.wantMul[2], tc.wantMul[2]}
			closeTo(t, "gradient", dimg, want, 1e-6)
		})
	}
	for _, bad := range []Preprocess{{Std: [3]float32{1, 0, 1}, Scale: 1}, {Std: [3]float32{1, 1, 1}}, {Mean: [3]float32{float32(math.NaN())}, Std: [3]float32{1, 1, 1}, Scale: 1}} {
		if _, err := bad.compile(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestPreprocessEndToEnd checks that a Net with caffe preprocessing equals
// one without preprocessing fed the preprocessed image, and that its image
// gradient is the latter's input gradient through the chain rule.
func TestPreprocessEndToEnd(t *testing.T) {
	b, err := SynthFrom(SynthSpec{Blocks: [][]int{{4}, {4}}}, 9)
	if err != nil {
		t.Fatal(err)
	}
	const h, w = 12, 10
	img := randImage(h, w, 8)
	caffe := prepare(t, b, Options{Layers: []string{"relu2_1"}, Height: h, Width: w, Preprocess: caffePreprocess})
	plain := prepare(t, b, Options{Layers: []string{"relu2_1"}, Height: h, Width: w})
	pre := make([]float32, len(img))
	a, _ := caffePreprocess.compile()
	a.apply(pre, img)

	got, err := caffe.Forward(img)
	if err != nil {
		t.Fatal(err)
	}
	gotAct := slices.Clone(got[0].Data)
	want, err := plain.Forward(pre)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gotAct, want[0].Data) {
		t.Fatal("caffe-preprocessed activations differ from those of the preprocessed image")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range caffe.GradBuffers()[0] {
		g := rng.Float32() - 0.5
		caffe.GradBuffers()[0][i], plain.GradBuffers()[0][i] = g, g
	}
	dimg, err := caffe.Backward()
	if err != nil {
		t.Fatal(err)
	}
	dinput, err := plain.Backward()
	if err != nil {
		t.Fatal(err)
	}
	plane := h * w
	wantGrad := make([]float64, len(dimg))
	for c := range 3 {
		for i := range plane {
			wantGrad[c*plane+i] = 255 * float64(dinput[(2-c)*plane+i]) // BGR: image channel c feeds model channel 2-c
		}
	}
	closeTo(t, "image gradient", dimg, wantGrad, 1e-6)
}

func TestSynthIsDeterministic(t *testing.T) {
	write := func(seed int64) []byte {
		var buf bytes.Buffer
		if err := WriteSynth(&buf, "vgg16", seed); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	first, again, other := write(11), write(11), write(12)
	if !bytes.Equal(first, again) {
		t.Error("the same seed gave different files")
	}
	if bytes.Equal(first, other) {
		t.Error("different seeds gave the same file")
	}
	path := filepath.Join(t.TempDir(), "vgg16.onnx")
	if err := os.WriteFile(path, first, 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	built, err := Synth("vgg16", 11)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Digest() != built.Digest() || len(built.Digest()) != 64 {
		t.Errorf("digest of the written file %s, of the built-in backbone %s", loaded.Digest(), built.Digest())
	}
	if loaded.Naming() != NamingVGG16 || built.Describe() != "built-in random-weight VGG16 (seed 11)" {
		t.Errorf("naming %q, description %q", loaded.Naming(), built.Describe())
	}
	if _, err := Synth("vgg13", 0); err == nil {
		t.Error("Synth accepted vgg13")
	}
}

func TestSynthWeightsAreHeNormal(t *testing.T) {
	b, err := Synth("vgg19", 3)
	if err != nil {
		t.Fatal(err)
	}
	convs := 0
	for _, n := range b.canon.graph.GetNode() {
		if n.GetOpType() != "Conv" {
			continue
		}
		convs++
		w, err := onnxgraph.Float32Data(b.canon.inits[n.GetInput()[1]])
		if err != nil {
			t.Fatal(err)
		}
		fanIn := float64(b.canon.inits[n.GetInput()[1]].GetDims()[1] * 9)
		want := math.Sqrt(2 / fanIn)
		var sum, sq float64
		for _, v := range w {
			sum += float64(v)
			sq += float64(v) * float64(v)
		}
		count := float64(len(w))
		mean := sum / count
		std := math.Sqrt(sq/count - mean*mean)
		// Four standard errors of the sample mean and standard deviation.
		if math.Abs(mean) > 4*want/math.Sqrt(count) || math.Abs(std/want-1) > 4/math.Sqrt(2*count) {
			t.Errorf("%s: mean %g, std %g, want 0 and %g", label(n), mean, std, want)
		}
		bias, err := onnxgraph.Float32Data(b.canon.inits[n.GetInput()[2]])
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(bias, func(v float32) bool { return v != 0 }) {
			t.Errorf("%s: non-zero bias", label(n))
		}
	}
	if convs != 16 {
		t.Errorf("%d convolutions, want 16", convs)
	}
}

// TestGradientMatchesFiniteDifferences checks Backward on the whole
// synthetic VGG19 at 64x64 with five layers at once. The reference is the
// directional derivative of J = sum over layers of <seed, activation> by
// central differences of a float64 evaluation of the same network (so
// neither float32 rounding nor ReLU kinks, at a step of 1e-6, blur it),
// along random directions.
func TestGradientMatchesFiniteDifferences(t *testing.T) {
	if testing.Short() {
		t.Skip("whole VGG19")
	}
	b, err := Synth("vgg19", 1)
	if err != nil {
		t.Fatal(err)
	}
	const h, w = 64, 64
	layers := []string{"relu1_1", "relu2_1", "relu3_1", "relu4_2", "relu5_1"}
	tensors := make([]string, len(layers))
	for i, name := range layers {
		l, err := b.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		tensors[i] = l.Tensor
	}
	img := randImage(h, w, 5)
	for _, tc := range []struct {
		pooling    string
		directions int
	}{{PoolingAvg, 2}, {PoolingMax, 1}} {
		t.Run(tc.pooling, func(t *testing.T) {
			net := prepare(t, b, Options{Layers: layers, Pooling: tc.pooling, Height: h, Width: w, Preprocess: ImageNetPreprocess})
			rng := rand.New(rand.NewPCG(21, 22))
			// Seeds are scaled so that every layer contributes alike.
			for _, g := range net.GradBuffers() {
				for i := range g {
					g[i] = float32(rng.NormFloat64() / math.Sqrt(float64(len(g))))
				}
			}
			acts, err := net.Forward(img)
			if err != nil {
				t.Fatal(err)
			}
			grad, err := net.Backward()
			if err != nil {
				t.Fatal(err)
			}

			cut, err := b.canon.cut(tensors, tc.pooling)
			if err != nil {
				t.Fatal(err)
			}
			model := &onnx.ModelProto{Graph: cut.graph}
			p := ImageNetPreprocess
			evaluate := func(x []float64) map[string]fmap {
				in := make([]float64, len(x))
				for i, v := range x {
					c := i / (h * w)
					in[i] = (v*float64(p.Scale) - float64(p.Mean[c])) / float64(p.Std[c])
				}
				return interpret(t, model, in, h, w)
			}
			cost := func(x []float64) float64 {
				vals := evaluate(x)
				j := 0.0
				for l, name := range tensors {
					for i, v := range vals[name].d {
						j += v * float64(net.GradBuffers()[l][i])
					}
				}
				return j
			}
			// The float32 runtime computes the network the reference does.
			ref := evaluate(float64s(img))
			for l, a := range acts {
				closeTo(t, a.Name, a.Data, ref[tensors[l]].d, 1e-4)
			}

			const eps = 1e-6
			x := make([]float64, len(img))
			for dir := range tc.directions {
				d := make([]float64, len(img))
				norm := 0.0
				for i := range d {
					d[i] = rng.NormFloat64()
					norm += d[i] * d[i]
				}
				analytic := 0.0
				for i := range d {
					d[i] /= math.Sqrt(norm)
					analytic += float64(grad[i]) * d[i]
				}
				for i := range x {
					x[i] = float64(img[i]) + eps*d[i]
				}
				plus := cost(x)
				for i := range x {
					x[i] = float64(img[i]) - eps*d[i]
				}
				minus := cost(x)
				numeric := (plus - minus) / (2 * eps)
				rel := math.Abs(numeric-analytic) / math.Max(math.Abs(numeric), math.Abs(analytic))
				t.Logf("direction %d: finite differences %.8g, backward %.8g, relative error %.2g", dir, numeric, analytic, rel)
				if rel > 1e-3 {
					t.Errorf("direction %d: relative error %.2g exceeds 1e-3", dir, rel)
				}
			}
		})
	}
}

func TestForwardBackwardDoNotAllocate(t *testing.T) {
	b, err := SynthFrom(SynthSpec{Blocks: [][]int{{4}, {4}}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	net := prepare(t, b, Options{Layers: []string{"relu1_1", "pool2"}, Pooling: PoolingMax, Height: 16, Width: 16, Preprocess: ImageNetPreprocess})
	img := randImage(16, 16, 1)
	allocs := func(f func() error) float64 {
		return testing.AllocsPerRun(20, func() {
			if err := f(); err != nil {
				t.Fatal(err)
			}
		})
	}
	forward := allocs(func() error { _, err := net.Forward(img); return err })
	backward := allocs(func() error { _, err := net.Backward(); return err })
	if forward != 0 || backward != 0 {
		t.Errorf("allocations per call: Forward %v, Backward %v; want 0", forward, backward)
	}
}

func TestUnsupportedOpNamesNodeAndOp(t *testing.T) {
	f := torchvisionNew([][]int{{4, 4, 4}}, false)
	// A Sin between relu1_1 and conv1_2, a Cos and another Sin between
	// relu1_2 and conv1_3.
	chain := func(after, before string, ops ...string) {
		prev := after
		for i, op := range ops {
			name := fmt.Sprintf("/odd%s/%s_%d", after, op, i)
			f.g.Node = append(f.g.Node, onnxgraph.Node(op, name, []string{prev}, []string{name + "_output_0"}))
			prev = name + "_output_0"
		}
		for _, n := range f.g.Node {
			if n.GetName() == before {
				n.Input[0] = prev
			}
		}
	}
	chain("/1/Relu_output_0", "/2/Conv", "Sin")
	chain("/3/Relu_output_0", "/4/Conv", "Cos", "Sin")
	b := mustLoad(t, f)
	if b.Naming() != NamingONNX {
		t.Fatalf("naming %q: a Sin is no VGG", b.Naming())
	}
	_, err := b.Prepare(Options{Layers: []string{"/5/Relu_output_0"}, Height: 20, Width: 20})
	var unsupported *autodiff.UnsupportedOpError
	if !errors.As(err, &unsupported) || unsupported.Node != "/odd/1/Relu_output_0/Sin_0" || unsupported.Op != "Sin" {
		t.Fatalf("error %v, want an UnsupportedOpError for /odd/1/Relu_output_0/Sin_0 first", err)
	}
	// Every op once, every node, each with its layer.
	var got []string
	for _, op := range unsupported.Ops {
		for _, s := range op.Sites {
			got = append(got, op.Op+"@"+s.Node+"@"+s.Layer)
		}
	}
	want := []string{
		"Sin@/odd/1/Relu_output_0/Sin_0@/odd/1/Relu_output_0/Sin_0_output_0",
		"Sin@/odd/3/Relu_output_0/Sin_1@/odd/3/Relu_output_0/Sin_1_output_0",
		"Cos@/odd/3/Relu_output_0/Cos_0@/odd/3/Relu_output_0/Cos_0_output_0",
	}
	if !slices.Equal(got, want) {
		t.Errorf("unsupported sites %v, want %v", got, want)
	}
	for _, s := range []string{"2 ops between the input and the seeds have no gradient rule", "Sin at node", "Cos at node", `(layer "/odd/3/Relu_output_0/Cos_0_output_0")`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	// Layers before the Sin do not need it.
	prepare(t, b, Options{Layers: []string{"/1/Relu_output_0"}, Height: 20, Width: 20})
}

// TestNodeErrorNamesLayer checks the error for an op that has a rule the
// generator cannot apply as configured: it names the op, the node and the
// layer.
func TestNodeErrorNamesLayer(t *testing.T) {
	f := torchvisionNew([][]int{{4}}, false)
	f.g.Initializer = append(f.g.Initializer, onnxgraph.Int64s("wrap_pads", []int64{8}, []int64{0, 0, 1, 1, 0, 0, 1, 1}))
	f.g.Node = append(f.g.Node, onnxgraph.Node("Pad", "/wrap/Pad", []string{"/1/Relu_output_0", "wrap_pads"}, []string{"wrapped"}, onnxgraph.String("mode", "wrap")))
	f.output("wrapped", 1, 4, -1, -1)
	b := mustLoad(t, f)
	_, err := b.Prepare(Options{Layers: []string{"wrapped"}, Height: 12, Width: 12})
	var ne *autodiff.NodeError
	if !errors.As(err, &ne) || ne.Op != "Pad" || ne.Node != "/wrap/Pad" || ne.Layer != "wrapped" {
		t.Fatalf("error %v, want a NodeError for Pad /wrap/Pad at layer wrapped", err)
	}
	if !strings.Contains(err.Error(), `cannot differentiate Pad node "/wrap/Pad" (layer "wrapped"): pad mode "wrap"`) {
		t.Errorf("message %q", err)
	}
}

// TestGraphOutputsAreLayers checks that every graph output of a file is a
// layer name: the output of a VGG-style chain (an alias of the structural
// name), and an output passed through an Identity, which normalisation
// removes; and that a Net runs on them.
func TestGraphOutputsAreLayers(t *testing.T) {
	f := torchvisionNew([][]int{{4}, {6}}, false)
	f.g.Output = nil
	f.node("Identity", "/out/Identity", []string{"/1/Relu_output_0"}, []string{"early"})
	f.output("early", 1, 4, -1, -1)
	f.output("/5/MaxPool_output_0", 1, 6, -1, -1)
	b := mustLoad(t, f)
	if b.Naming() != NamingVGG {
		t.Fatalf("naming %q", b.Naming())
	}
	for name, want := range map[string]LayerInfo{
		"early":               {Name: "early", Tensor: "/1/Relu_output_0", Op: "Relu", Channels: 4, Stride: 1, AliasOf: "relu1_1"},
		"/5/MaxPool_output_0": {Name: "/5/MaxPool_output_0", Tensor: "/5/MaxPool_output_0", Op: "MaxPool", Channels: 6, Stride: 4, AliasOf: "pool2"},
	} {
		got, err := b.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != want.Name || got.Tensor != want.Tensor || got.Op != want.Op || got.Channels != want.Channels || got.Stride != want.Stride || got.AliasOf != want.AliasOf {
			t.Errorf("Lookup(%q) = %+v, want %+v", name, got, want)
		}
	}
	// An alias follows the layer it repeats.
	var names []string
	for _, l := range b.Layers() {
		names = append(names, l.Name)
	}
	if i := slices.Index(names, "early"); i < 1 || names[i-1] != "relu1_1" {
		t.Errorf("layers %v: want early right after relu1_1", names)
	}
	net := prepare(t, b, Options{Layers: []string{"early", "relu2_1", "/5/MaxPool_output_0"}, Height: 16, Width: 16})
	acts, err := net.Forward(randImage(16, 16, 1))
	if err != nil {
		t.Fatal(err)
	}
	if acts[0].Name != "early" || acts[0].C != 4 || acts[2].H != 4 {
		t.Errorf("activations %s %dx%dx%d, %s %dx%dx%d", acts[0].Name, acts[0].C, acts[0].H, acts[0].W, acts[2].Name, acts[2].C, acts[2].H, acts[2].W)
	}
	if _, err := net.Backward(); err != nil {
		t.Fatal(err)
	}
}

func TestHostileFiles(t *testing.T) {
	good := torchvisionNew([][]int{{4}}, false)
	data, err := onnxgraph.Marshal(good.model())
	if err != nil {
		t.Fatal(err)
	}
	// external moves the first conv's weights to a file at location.
	external := func(location string, dims []int64, length string) func(t *testing.T, dir string) string {
		return func(t *testing.T, dir string) string {
			m, err := onnxgraph.Unmarshal(data)
			if err != nil {
				t.Fatal(err)
			}
			w := m.GetGraph().GetInitializer()[1]
			if w.GetName() != "0.weight" {
				t.Fatalf("initializer %q", w.GetName())
			}
			if err := os.WriteFile(filepath.Join(dir, "weights.bin"), append([]byte("head"), w.GetRawData()...), 0o644); err != nil {
				t.Fatal(err)
			}
			w.RawData = nil
			w.DataLocation = onnx.TensorProto_EXTERNAL
			w.ExternalData = []*onnx.StringStringEntryProto{{Key: "location", Value: location}, {Key: "offset", Value: "4"}}
			if length != "" {
				w.ExternalData = append(w.ExternalData, &onnx.StringStringEntryProto{Key: "length", Value: length})
			}
			if dims != nil {
				w.Dims = dims
			}
			out, err := onnxgraph.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "model.onnx")
			if err := os.WriteFile(p, out, 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	raw := func(b []byte) func(t *testing.T, dir string) string {
		return func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "model.onnx")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	cases := []struct {
		name    string
		write   func(t *testing.T, dir string) string
		wantErr string // "" for success
	}{
		{"external data beside the model", external("weights.bin", nil, "432"), ""},
		{"external data in a parent folder", external("../weights.bin", nil, ""), "outside the model's folder"},
		{"external data at an absolute path", external("/etc/passwd", nil, ""), "outside the model's folder"},
		{"external data through a symlink out", func(t *testing.T, dir string) string {
			p := external("link/weights.bin", nil, "")(t, dir)
			outside := t.TempDir()
			if err := os.Rename(filepath.Join(dir, "weights.bin"), filepath.Join(outside, "weights.bin")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
				t.Fatal(err)
			}
			return p
		}, "escapes"},
		{"external data with absurd dims", external("weights.bin", []int64{1 << 20, 1 << 20, 1 << 10, 1}, ""), "exceeds"},
		{"external data shorter than its tensor", external("weights.bin", []int64{8, 3, 3, 3}, ""), "truncated"},
		{"external data length disagreeing with dims", external("weights.bin", nil, "400"), "length 400"},
		{"inline tensor with absurd dims", func(t *testing.T, dir string) string {
			m, err := onnxgraph.Unmarshal(data)
			if err != nil {
				t.Fatal(err)
			}
			m.GetGraph().GetInitializer()[1].Dims = []int64{1 << 40, 1 << 40}
			out, err := onnxgraph.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			return raw(out)(t, dir)
		}, "exceeds"},
		{"external data a named pipe", func(t *testing.T, dir string) string {
			p := external("pipe.bin", nil, "")(t, dir)
			if err := syscall.Mkfifo(filepath.Join(dir, "pipe.bin"), 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}, `"pipe.bin" is a named pipe, not a regular file`},
		{"model a named pipe", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "model.onnx")
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}, "is a named pipe, not a regular file"},
		{"truncated file", raw(data[:len(data)/2]), "model.onnx"},
		{"not an ONNX file", raw([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")), "model.onnx"},
		{"empty file", raw(nil), "model.onnx"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.write(t, t.TempDir())
			// Bounded by a timer: a named pipe opened for reading blocks.
			var b *Backbone
			var err error
			done := make(chan struct{})
			go func() { b, err = Load(p); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Load still reading after 5 s")
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				inline := mustLoad(t, good)
				w1, _ := onnxgraph.Float32Data(b.canon.inits["0.weight"])
				w2, _ := onnxgraph.Float32Data(inline.canon.inits["0.weight"])
				if !slices.Equal(w1, w2) {
					t.Error("external weights differ from the inline ones")
				}
				return
			}
			if err == nil {
				t.Fatalf("Load accepted it (%s)", b.Describe())
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), p) {
				t.Errorf("error %q, want it to name %q and the file", err, tc.wantErr)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.onnx")); err == nil || !strings.Contains(err.Error(), "missing.onnx") {
		t.Errorf("missing file: %v", err)
	}
}

func TestForwardOnlyMatchesFullNet(t *testing.T) {
	b, err := SynthFrom(SynthSpec{Blocks: [][]int{{4}, {6}}}, 3)
	if err != nil {
		t.Fatal(err)
	}
	const h, w = 13, 10
	img := randImage(h, w, 8)
	o := Options{Layers: []string{"relu1_1", "relu2_1"}, Pooling: PoolingAvg, Height: h, Width: w}
	full := prepare(t, b, o)
	o.ForwardOnly = true
	fwd := prepare(t, b, o)
	want, err := full.Forward(img)
	if err != nil {
		t.Fatal(err)
	}
	got, err := fwd.Forward(img)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].C != want[i].C || got[i].H != want[i].H || got[i].W != want[i].W || !slices.Equal(got[i].Data, want[i].Data) {
			t.Fatalf("layer %s: forward-only activations differ from the full net's", want[i].Name)
		}
	}
	if fwd.GradBuffers() != nil {
		t.Errorf("forward-only net has gradient buffers")
	}
	if _, err := fwd.Backward(); err == nil || !strings.Contains(err.Error(), "forward-only") {
		t.Errorf("Backward on a forward-only net: %v", err)
	}
}
