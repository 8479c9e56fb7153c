package models

import (
	"errors"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/nst-project/nst/internal/onnxgraph"
	"github.com/nst-project/nst/internal/ortrt"
	"github.com/nst-project/nst/models/autodiff"
	"github.com/nst-project/nst/models/internal/trunks"
)

func TestReceptiveFieldVGG(t *testing.T) {
	// Hand-computed with the recurrence: a 3x3 pad-1 convolution widens the
	// field by 2 strides and moves its top-left by one stride; a 2x2
	// stride-2 pool widens it by one stride and doubles the stride.
	type want struct{ size, stride, top int }
	for _, tc := range []struct {
		arch   string
		layers map[string]want
	}{
		{"vgg19", map[string]want{
			"conv1_1": {3, 1, -1}, "relu1_1": {3, 1, -1}, "conv1_2": {5, 1, -2}, "pool1": {6, 2, -2},
			"conv2_1": {10, 2, -4}, "conv2_2": {14, 2, -6}, "pool2": {16, 4, -6},
			"conv3_1": {24, 4, -10}, "conv3_2": {32, 4, -14}, "conv3_3": {40, 4, -18}, "relu3_4": {48, 4, -22}, "pool3": {52, 8, -22},
			"conv4_1": {68, 8, -30}, "relu4_2": {84, 8, -38}, "conv4_4": {116, 8, -54}, "pool4": {124, 16, -54},
			"relu5_1": {156, 16, -70}, "conv5_4": {252, 16, -118}, "pool5": {268, 32, -118},
		}},
		// VGG16's published values: conv5_3 196, pool5 212.
		{"vgg16", map[string]want{
			"conv3_3": {40, 4, -18}, "pool3": {44, 8, -18}, "conv4_3": {92, 8, -42}, "pool4": {100, 16, -42},
			"conv5_3": {196, 16, -90}, "pool5": {212, 32, -90},
		}},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			b, err := Synth(tc.arch, 0)
			if err != nil {
				t.Fatal(err)
			}
			for layer, w := range tc.layers {
				got, err := b.ReceptiveField(layer)
				if err != nil {
					t.Fatalf("%s: %v", layer, err)
				}
				exp := ReceptiveField{Height: w.size, Width: w.size, StrideY: w.stride, StrideX: w.stride, Top: w.top, Left: w.top}
				if got != exp {
					t.Errorf("%s: %+v, want %+v", layer, got, exp)
				}
				// The layer's stride as naming computed it agrees.
				if l, _ := b.Lookup(layer); l.Stride != got.StrideY {
					t.Errorf("%s: stride %d, Lookup says %d", layer, got.StrideY, l.Stride)
				}
			}
		})
	}
}

// branchyField builds a graph that is no VGG chain, with every kind of
// window the recurrence handles and fields known by hand:
//
//	padded = Pad(image, top 2, left 1, right 1)             rows -2..-2, cols -1..-1, stride 1
//	a      = Conv 3x3 stride 2 (no padding)                 rows -2..0,  cols -1..1,  stride 2
//	r      = Relu(a)
//	b      = Conv 3x3 dilation 2, pads top 2 left 1 ...     rows -6..4,  cols -3..7,  stride 2
//	sum    = Add(b, r): the union                           rows -6..4,  cols -3..7
//	pooled = AveragePool 3x3 stride 2 pads 1                rows -8..6,  cols -5..9,  stride 4
//	same   = Conv 3x3 SAME_LOWER on r                       rows -4..2,  cols -3..3,  stride 2
//	odd    = Conv 2x2 stride 2 SAME_UPPER on r              (depends on the image size)
//	flat   = Flatten(pooled)                                (no grid)
//
// Weights are positive so that, for a positive image, every ReLU passes
// and a unit's input gradient is non-zero exactly over its field.
func branchyField() *fileBuilder {
	f := newFileBuilder(17, 8, 9)
	f.input("image", 1, 3, -1, -1)
	f.g.Initializer = append(f.g.Initializer, onnxgraph.Int64s("pads", []int64{8}, []int64{0, 0, 2, 1, 0, 0, 0, 1}))
	f.node("Pad", "pad", []string{"image", "pads"}, []string{"padded"})
	f.node("Conv", "conv_a", []string{"padded", f.positive("wa", 0.1, 4, 3, 3, 3)}, []string{"a"}, onnxgraph.Ints("strides", 2, 2))
	f.node("Relu", "relu", []string{"a"}, []string{"r"})
	f.node("Conv", "conv_b", []string{"r", f.positive("wb", 0.1, 4, 4, 3, 3)}, []string{"b"},
		onnxgraph.Ints("kernel_shape", 3, 3), onnxgraph.Ints("dilations", 2, 2), onnxgraph.Ints("pads", 2, 1, 2, 3))
	f.node("Add", "residual", []string{"b", "r"}, []string{"sum"})
	f.node("AveragePool", "avg", []string{"sum"}, []string{"pooled"},
		onnxgraph.Ints("kernel_shape", 3, 3), onnxgraph.Ints("strides", 2, 2), onnxgraph.Ints("pads", 1, 1, 1, 1))
	f.node("Conv", "conv_same", []string{"r", f.positive("ws", 0.1, 4, 4, 3, 3)}, []string{"same"},
		onnxgraph.Ints("kernel_shape", 3, 3), onnxgraph.String("auto_pad", "SAME_LOWER"))
	f.node("Conv", "conv_odd", []string{"r", f.positive("wo", 0.1, 4, 4, 2, 2)}, []string{"odd"},
		onnxgraph.Ints("strides", 2, 2), onnxgraph.String("auto_pad", "SAME_UPPER"))
	f.node("Flatten", "flatten", []string{"pooled"}, []string{"flat"})
	f.output("flat", 1, -1)
	f.output("same", 1, 4, -1, -1)
	f.output("odd", 1, 4, -1, -1)
	return f
}

func TestReceptiveFieldOfEveryWindowKind(t *testing.T) {
	b := mustLoad(t, branchyField())
	for _, tc := range []struct {
		layer string
		want  ReceptiveField
		err   string
	}{
		{layer: "padded", want: ReceptiveField{Height: 1, Width: 1, StrideY: 1, StrideX: 1, Top: -2, Left: -1}},
		{layer: "a", want: ReceptiveField{Height: 3, Width: 3, StrideY: 2, StrideX: 2, Top: -2, Left: -1}},
		{layer: "r", want: ReceptiveField{Height: 3, Width: 3, StrideY: 2, StrideX: 2, Top: -2, Left: -1}},
		{layer: "b", want: ReceptiveField{Height: 11, Width: 11, StrideY: 2, StrideX: 2, Top: -6, Left: -3}},
		{layer: "sum", want: ReceptiveField{Height: 11, Width: 11, StrideY: 2, StrideX: 2, Top: -6, Left: -3}},
		{layer: "pooled", want: ReceptiveField{Height: 15, Width: 15, StrideY: 4, StrideX: 4, Top: -8, Left: -5}},
		{layer: "same", want: ReceptiveField{Height: 7, Width: 7, StrideY: 2, StrideX: 2, Top: -4, Left: -3}},
		{layer: "odd", err: "auto_pad SAME_UPPER with stride 2"},
		{layer: "flat", err: `node "flatten" (Flatten)`},
	} {
		t.Run(tc.layer, func(t *testing.T) {
			got, err := b.ReceptiveField(tc.layer)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("%+v, want %+v", got, tc.want)
			}
		})
	}
	if _, err := b.ReceptiveField("pooledd"); !errors.Is(err, ErrUnknownLayer) {
		t.Errorf("unknown layer: error %v, want ErrUnknownLayer", err)
	}
}

// TestReceptiveFieldMatchesGradientSupport checks the graph walk against
// what the network does: the input pixels that move a unit's value, found
// by backpropagating from that unit alone, fill exactly its field's box
// (clipped to the image). Layer b alone is left out: its dilated taps
// skip pixels inside its field's extent, which the residual Add fills in.
func TestReceptiveFieldMatchesGradientSupport(t *testing.T) {
	b := mustLoad(t, branchyField())
	const h, w = 37, 41
	for _, layer := range []string{"r", "sum", "pooled", "same"} {
		rf, err := b.ReceptiveField(layer)
		if err != nil {
			t.Fatal(err)
		}
		net := prepare(t, b, Options{Layers: []string{layer}, Height: h, Width: w})
		img := randImage(h, w, 3)
		for i := range img {
			img[i] += 0.5 // positive everywhere, so every ReLU passes
		}
		acts, err := net.Forward(img)
		if err != nil {
			t.Fatal(err)
		}
		a := acts[0]
		for _, unit := range [][2]int{{0, 0}, {a.H / 2, a.W / 2}, {a.H - 1, a.W - 1}} {
			seed := net.GradBuffers()[0]
			clear(seed)
			seed[unit[0]*a.W+unit[1]] = 1 // channel 0
			grad, err := net.Backward()
			if err != nil {
				t.Fatal(err)
			}
			support := image.Rectangle{}
			for i, g := range grad {
				if g != 0 {
					p := i % (h * w)
					support = support.Union(image.Rect(p%w, p/w, p%w+1, p/w+1))
				}
			}
			want := rf.Box(unit[0], unit[1]).Intersect(image.Rect(0, 0, w, h))
			if support != want {
				t.Errorf("%s unit %v: gradient is non-zero over %v, field box %v", layer, unit, support, want)
			}
		}
	}
}

// TestReceptiveFieldSpatialRanks walks graphs over 1-d ([N,C,L]) and 3-d
// ([N,C,D,H,W]) inputs with fields computed by hand, and checks each
// against the input gradient of one unit, as
// TestReceptiveFieldMatchesGradientSupport does for images.
func TestReceptiveFieldSpatialRanks(t *testing.T) {
	type want struct {
		tensor string
		field  field
	}
	cases := []struct {
		name  string
		in    []int64
		build func(f *fileBuilder)
		want  []want
	}{
		{
			// Average pooling, whose gradient reaches its whole window (max
			// pooling's reaches one element). conv k3 p1: [-1,1]; pool k2
			// s2: [-1,2] jump 2; avg k3 s2 p1:
			// lo -1-2 = -3, hi 2+(3-1-1)·2 = 4, jump 4; conv k3 d2 p2:
			// lo -3-2·4 = -11, hi 4+(5-1-2)·4 = 12.
			name: "1-d", in: []int64{1, 2, 29},
			build: func(f *fileBuilder) {
				f.node("Conv", "c1", []string{"x", f.positive("w1", 0.1, 3, 2, 3)}, []string{"a"}, onnxgraph.Ints("pads", 1, 1))
				f.node("AveragePool", "p1", []string{"a"}, []string{"b"}, onnxgraph.Ints("kernel_shape", 2), onnxgraph.Ints("strides", 2))
				f.node("AveragePool", "p2", []string{"b"}, []string{"c"}, onnxgraph.Ints("kernel_shape", 3), onnxgraph.Ints("strides", 2), onnxgraph.Ints("pads", 1, 1))
				f.node("Conv", "c2", []string{"c", f.positive("w2", 0.1, 2, 3, 3)}, []string{"d"}, onnxgraph.Ints("dilations", 2), onnxgraph.Ints("pads", 2, 2))
			},
			want: []want{
				{"a", field{{-1, 1, 1}}},
				{"b", field{{-1, 2, 2}}},
				{"c", field{{-3, 4, 4}}},
				{"d", field{{-11, 12, 4}}},
			},
		},
		{
			// Per axis (depth, height, width): conv k (3,3,2) strides
			// (1,2,1) pads (1,1,0 | 1,1,1); then average pool k 2 s 2,
			// then conv k 3 pad 1.
			name: "3-d", in: []int64{1, 2, 9, 12, 11},
			build: func(f *fileBuilder) {
				f.node("Conv", "c1", []string{"x", f.positive("w1", 0.1, 3, 2, 3, 3, 2)}, []string{"a"},
					onnxgraph.Ints("strides", 1, 2, 1), onnxgraph.Ints("pads", 1, 1, 0, 1, 1, 1))
				f.node("Relu", "r", []string{"a"}, []string{"r"})
				f.node("AveragePool", "p", []string{"r"}, []string{"b"}, onnxgraph.Ints("kernel_shape", 2, 2, 2), onnxgraph.Ints("strides", 2, 2, 2))
				f.node("Conv", "c2", []string{"b", f.positive("w2", 0.1, 2, 3, 3, 3, 3)}, []string{"c"}, onnxgraph.Ints("pads", 1, 1, 1, 1, 1, 1))
			},
			want: []want{
				{"a", field{{-1, 1, 1}, {-1, 1, 2}, {0, 1, 1}}},
				{"b", field{{-1, 2, 2}, {-1, 3, 4}, {0, 2, 2}}},
				{"c", field{{-3, 4, 2}, {-5, 7, 4}, {-2, 4, 2}}},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFileBuilder(17, 8, 3)
			f.input("x", tc.in...)
			tc.build(f)
			inits := map[string]*onnx.TensorProto{}
			for _, w := range f.g.Initializer {
				inits[w.GetName()] = w
			}
			c := &canonical{graph: f.g, input: "x", inits: inits}
			for _, w := range tc.want {
				got, err := c.fieldOf(w.tensor)
				if err != nil {
					t.Fatalf("%s: %v", w.tensor, err)
				}
				if !slices.Equal(got, w.field) {
					t.Errorf("%s: field %v, want %v", w.tensor, got, w.field)
				}
				checkFieldSupport(t, f.g, tc.in, w.tensor, got)
			}
		})
	}
}

// checkFieldSupport backpropagates from the first and last unit of
// channel 0 of tensor and checks that the input positions with a non-zero
// gradient (in channel 0, of positive inputs through positive weights)
// fill exactly the field's box clipped to the input. The input sizes must
// be such that no floor-mode window drops trailing positions the box of a
// unit near the end would claim (the box then overstates what it sees).
func checkFieldSupport(t *testing.T, g *onnx.GraphProto, in []int64, tensor string, f field) {
	t.Helper()
	if err := ortrt.Init(""); err != nil {
		t.Fatal(err)
	}
	shapes, err := autodiff.InferShapes(g, autodiff.Shapes{"x": in})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := autodiff.Differentiate(g, shapes, "x", []string{tensor})
	if err != nil {
		t.Fatal(err)
	}
	session := func(g *onnx.GraphProto, inputs, outputs []string) *ortrt.Session {
		g = proto.Clone(g).(*onnx.GraphProto)
		g.Output = nil
		for _, o := range outputs {
			g.Output = append(g.Output, onnxgraph.FloatValue(o, shapes[o]...))
		}
		for _, in := range plan.Backward.GetInput() {
			for i, o := range g.Output {
				if o.GetName() == in.GetName() {
					g.Output[i] = in
				}
			}
		}
		data, err := onnxgraph.Marshal(onnxgraph.Model(g))
		if err != nil {
			t.Fatal(err)
		}
		s, err := ortrt.NewSession(data, inputs, outputs, ortrt.SessionOptions{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	fwdOuts := append([]string{tensor}, plan.Saved...)
	fwd := session(plan.Forward, []string{"x"}, fwdOuts)
	bwd := session(plan.Backward, append(slices.Clone(plan.SeedInputs), plan.Saved...), []string{plan.InputGrad})
	n, _ := onnxgraph.NumElements(in)
	img := make([]float32, n)
	for i := range img {
		img[i] = 0.5 + float32(i%7)/10
	}
	x, err := ort.NewTensor(ort.NewShape(in...), img)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Destroy()
	outs := make([]ort.Value, len(fwdOuts))
	if err := fwd.Run([]ort.Value{x}, outs); err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, o := range outs {
			o.Destroy()
		}
	}()
	y := shapes[tensor]
	units, _ := onnxgraph.NumElements(y[2:])
	for _, unit := range []int64{0, units - 1} {
		seed := make([]float32, func() int64 { m, _ := onnxgraph.NumElements(y); return m }())
		seed[unit] = 1
		s, err := ort.NewTensor(ort.NewShape(y...), seed)
		if err != nil {
			t.Fatal(err)
		}
		res := make([]ort.Value, 1)
		if err := bwd.Run(append([]ort.Value{s}, outs[1:]...), res); err != nil {
			t.Fatal(err)
		}
		grad := res[0].(*ort.Tensor[float32]).GetData()
		// Position of the unit along each spatial axis, and the box.
		r := len(y) - 2
		pos := make([]int, r)
		rest := int(unit)
		for a := r - 1; a >= 0; a-- {
			pos[a] = rest % int(y[2+a])
			rest /= int(y[2+a])
		}
		lo, hi := make([]int, r), make([]int, r)
		for a := range r {
			lo[a] = max(f[a].lo+pos[a]*f[a].jump, 0)
			hi[a] = min(f[a].hi+pos[a]*f[a].jump, int(in[2+a])-1)
		}
		spatial, _ := onnxgraph.NumElements(in[2:])
		for p := range int(spatial) { // channel 0 of image 0
			inside := true
			rest := p
			for a := r - 1; a >= 0; a-- {
				c := rest % int(in[2+a])
				rest /= int(in[2+a])
				inside = inside && c >= lo[a] && c <= hi[a]
			}
			if (grad[p] != 0) != inside {
				t.Errorf("%s unit %d: input position %d has gradient %g, inside the field's box = %v", tensor, unit, p, grad[p], inside)
				break
			}
		}
		s.Destroy()
		res[0].Destroy()
	}
}

// TestReceptiveFieldThroughLayoutOps checks fields through the layout ops
// of torchvision's newer trunks: ConvNeXt's NHWC detour (Transpose,
// LayerNormalization over channels, Linear as MatMul), GoogLeNet's input
// transform (Gather of a channel, Unsqueeze), and the errors where a
// unit sees the whole image (squeeze-excitation's global pooling) or
// positions move (a channel shuffle's Reshape).
func TestReceptiveFieldThroughLayoutOps(t *testing.T) {
	cases := []struct {
		arch, layer string
		want        ReceptiveField
		err         string
	}{
		// 4x4 stride-4 stem.
		{arch: "convnext_tiny", layer: "stem", want: ReceptiveField{Height: 4, Width: 4, StrideY: 4, StrideX: 4}},
		// One block: a 7x7 depthwise conv, padding 3, at stride 4.
		{arch: "convnext_tiny", layer: "stage1", want: ReceptiveField{Height: 28, Width: 28, StrideY: 4, StrideX: 4, Top: -12, Left: -12}},
		// LayerNorm2d, 2x2 stride-2 conv, one block at stride 8.
		{arch: "convnext_tiny", layer: "stage2", want: ReceptiveField{Height: 80, Width: 80, StrideY: 8, StrideX: 8, Top: -36, Left: -36}},
		{arch: "googlenet", layer: "conv1", want: ReceptiveField{Height: 7, Width: 7, StrideY: 2, StrideX: 2, Top: -3, Left: -3}},
		{arch: "efficientnet_b0", layer: "stage1", err: "GlobalAveragePool"},
		{arch: "shufflenet_v2_x1_0", layer: "stage2", err: "(Reshape)"},
	}
	for _, tc := range cases {
		t.Run(tc.arch+"/"+tc.layer, func(t *testing.T) {
			m, _, err := trunks.Build(tc.arch, trunks.Options{Seed: 1, Width: 0.125, Depth: 1})
			if err != nil {
				t.Fatal(err)
			}
			if tc.arch == "googlenet" {
				// The pretrained model's input transform, then conv1.
				b := trunks.New("input", 1, 1, 3, -1, -1)
				x := b.TransformInput("input")
				b.Output("conv1", b.Relu(b.Conv(x, trunks.ConvSpec{In: 3, Out: 4, KH: 7, KW: 7, Stride: 2, PadH: 3, PadW: 3, Bias: true})), 4)
				m = b.Model()
			}
			data, err := onnxgraph.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(t.TempDir(), "m.onnx")
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			bb, err := Load(p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := bb.ReceptiveField(tc.layer)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one naming %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("%+v, want %+v", got, tc.want)
			}
			if tc.arch == "convnext_tiny" {
				checkNetFieldSupport(t, bb, tc.layer, got, 40)
			}
		})
	}
}

// checkNetFieldSupport backpropagates from the first, a middle and the last
// unit of channel 0 of layer through a Net at side×side and checks that
// the pixels with a non-zero gradient fill the field's box clipped to the
// image (for a side no window's rounding drops pixels at).
func checkNetFieldSupport(t *testing.T, b *Backbone, layer string, rf ReceptiveField, side int) {
	t.Helper()
	net := prepare(t, b, Options{Layers: []string{layer}, Height: side, Width: side})
	acts, err := net.Forward(randImage(side, side, 3))
	if err != nil {
		t.Fatal(err)
	}
	a := acts[0]
	for _, unit := range [][2]int{{0, 0}, {a.H / 2, a.W / 2}, {a.H - 1, a.W - 1}} {
		seed := net.GradBuffers()[0]
		clear(seed)
		seed[unit[0]*a.W+unit[1]] = 1
		grad, err := net.Backward()
		if err != nil {
			t.Fatal(err)
		}
		support := image.Rectangle{}
		for i, g := range grad {
			if g != 0 {
				p := i % (side * side)
				support = support.Union(image.Rect(p%side, p/side, p%side+1, p/side+1))
			}
		}
		if want := rf.Box(unit[0], unit[1]).Intersect(image.Rect(0, 0, side, side)); support != want {
			t.Errorf("%s unit %v: gradient is non-zero over %v, field box %v", layer, unit, support, want)
		}
	}
}

// TestFieldAxes checks the receptive fields FieldAxes gives in the input's
// own axes and units, by hand with the recurrence: frames for the
// built-in audio backbones (1×K kernels of pad K/2: K frames from −K/2)
// and for a stack of 1×11 convolutions, depth×height×width voxels for the
// built-in volume backbone (3×3×3 pad 1 convolutions widen the field by 2
// strides; 2×2×2 stride-2 poolings by one, doubling the stride), and
// height×width pixels for VGG19, as ReceptiveField gives them.
func TestFieldAxes(t *testing.T) {
	type want struct{ size, stride, start int }
	audio := func(widths ...int) func(t *testing.T) *Backbone {
		return func(t *testing.T) *Backbone {
			b, err := SynthAudio(AudioSpec{Bins: 5, Filters: 4, Widths: widths}, 0)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	// c1 = Conv 1×11 pad 5: 11 frames from −5; c2 = Conv 1×11 pad 5:
	// 21 from −10; p = AveragePool 1×2 stride 2: 22 from −10, stride 2;
	// c3 = Conv 1×11 pad 5: 22+10·2 = 42 from −10−5·2 = −20.
	stack := func(t *testing.T) *Backbone {
		f := newFileBuilder(17, 8, 5)
		f.input("x", 1, 3, 1, -1)
		conv := func(name, in string, cin int64) string {
			return f.node("Conv", name, []string{in, f.positive(name+".w", 0.1, 2, cin, 1, 11)}, []string{name},
				onnxgraph.Ints("kernel_shape", 1, 11), onnxgraph.Ints("pads", 0, 5, 0, 5))
		}
		p := f.node("AveragePool", "p", []string{conv("c2", conv("c1", "x", 3), 2)}, []string{"p"},
			onnxgraph.Ints("kernel_shape", 1, 2), onnxgraph.Ints("strides", 1, 2))
		conv("c3", p, 2)
		for _, o := range []string{"c1", "c2", "p", "c3"} {
			f.output(o, 1, 2, 1, -1)
		}
		b := mustLoad(t, f)
		b.sequence = true // as SynthAudio marks its backbones
		return b
	}
	volume := func(t *testing.T) *Backbone {
		b, err := SynthVolume(VolumeSpec{Channels: 1, Filters: []int{2, 2, 2}}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	vgg := func(t *testing.T) *Backbone {
		b, err := Synth("vgg19", 0)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name   string
		open   func(t *testing.T) *Backbone
		axes   []string
		layers map[string]want
		// rf is ReceptiveField's 2-D answer for layer rfLayer, or rfErr
		// its error.
		rfLayer string
		rf      ReceptiveField
		rfErr   string
	}{
		{
			name: "builtin:audio", open: audio(AudioWidth), axes: []string{"frames"},
			layers:  map[string]want{"conv1_1": {11, 1, -5}, "relu1_1": {11, 1, -5}},
			rfLayer: "relu1_1", rf: ReceptiveField{Height: 1, Width: 11, StrideY: 1, StrideX: 1, Top: 0, Left: -5},
		},
		{
			name: "builtin:audio-multi", open: audio(AudioMultiWidths...), axes: []string{"frames"},
			layers:  map[string]want{"relu_w3": {3, 1, -1}, "relu_w7": {7, 1, -3}, "relu_w11": {11, 1, -5}, "conv_w19": {19, 1, -9}},
			rfLayer: "relu_w19", rf: ReceptiveField{Height: 1, Width: 19, StrideY: 1, StrideX: 1, Top: 0, Left: -9},
		},
		{
			name: "1-d stack of k=11 convolutions", open: stack, axes: []string{"frames"},
			layers:  map[string]want{"c1": {11, 1, -5}, "c2": {21, 1, -10}, "p": {22, 2, -10}, "c3": {42, 2, -20}},
			rfLayer: "c3", rf: ReceptiveField{Height: 1, Width: 42, StrideY: 1, StrideX: 2, Top: 0, Left: -20},
		},
		{
			name: "builtin:volume", open: volume, axes: []string{"depth", "height", "width"},
			layers: map[string]want{
				"conv1_1": {3, 1, -1}, "relu1_1": {3, 1, -1}, "pool1": {4, 2, -1},
				"conv2_1": {8, 2, -3}, "pool2": {10, 4, -3}, "relu3_1": {18, 4, -7},
			},
			rfLayer: "relu3_1", rfErr: "the input has 3 spatial axes (depth, height, width), not height and width",
		},
		{
			name: "vgg19", open: vgg, axes: []string{"height", "width"},
			layers:  map[string]want{"relu1_1": {3, 1, -1}, "pool2": {16, 4, -6}, "relu4_2": {84, 8, -38}},
			rfLayer: "relu4_2", rf: ReceptiveField{Height: 84, Width: 84, StrideY: 8, StrideX: 8, Top: -38, Left: -38},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.open(t)
			for layer, w := range tc.layers {
				got, err := b.FieldAxes(layer)
				if err != nil {
					t.Fatalf("%s: %v", layer, err)
				}
				var exp []FieldAxis
				for _, a := range tc.axes {
					exp = append(exp, FieldAxis{Axis: a, Size: w.size, Stride: w.stride, Start: w.start})
				}
				if !slices.Equal(got, exp) {
					t.Errorf("%s: %+v, want %+v", layer, got, exp)
				}
			}
			rf, err := b.ReceptiveField(tc.rfLayer)
			switch {
			case tc.rfErr != "" && (err == nil || !strings.Contains(err.Error(), tc.rfErr)):
				t.Errorf("ReceptiveField(%s) = %+v, %v; want an error with %q", tc.rfLayer, rf, err, tc.rfErr)
			case tc.rfErr == "" && (err != nil || rf != tc.rf):
				t.Errorf("ReceptiveField(%s) = %+v, %v; want %+v", tc.rfLayer, rf, err, tc.rf)
			}
		})
	}
}
