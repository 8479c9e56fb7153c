package models

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// fileBuilder writes ONNX files the way other exporters do, so tests can
// check what Load makes of them.
type fileBuilder struct {
	g     *onnx.GraphProto
	opset int64
	ir    int64
	rng   *rand.Rand
	// weightsAsInputs lists initializers among the graph inputs, as files
	// of IR version < 4 do.
	weightsAsInputs bool
}

func newFileBuilder(opset, ir int64, seed uint64) *fileBuilder {
	return &fileBuilder{g: &onnx.GraphProto{Name: "lookalike"}, opset: opset, ir: ir, rng: rand.New(rand.NewPCG(seed, 7))}
}

// weights adds a random initializer with standard deviation std.
func (f *fileBuilder) weights(name string, std float64, dims ...int64) string {
	n, _ := onnxgraph.NumElements(dims)
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(f.rng.NormFloat64() * std)
	}
	return f.tensor(name, dims, data)
}

// tensor adds an initializer with the given values.
func (f *fileBuilder) tensor(name string, dims []int64, data []float32) string {
	f.g.Initializer = append(f.g.Initializer, onnxgraph.Floats32(name, dims, data))
	return name
}

// positive adds a random initializer with values in [lo, lo+1).
func (f *fileBuilder) positive(name string, lo float64, dims ...int64) string {
	n, _ := onnxgraph.NumElements(dims)
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(lo + f.rng.Float64())
	}
	return f.tensor(name, dims, data)
}

func (f *fileBuilder) node(op, name string, in, out []string, attrs ...*onnx.AttributeProto) string {
	f.g.Node = append(f.g.Node, onnxgraph.Node(op, name, in, out, attrs...))
	return out[0]
}

// conv adds a 3x3, pad-1 convolution with He-scaled weights.
func (f *fileBuilder) conv(name, x, w, b, out string, cin, cout int) string {
	f.weights(w, math.Sqrt(2/float64(9*cin)), int64(cout), int64(cin), 3, 3)
	in := []string{x, w}
	if b != "" {
		in = append(in, b)
	}
	return f.node("Conv", name, in, []string{out}, onnxgraph.Ints("kernel_shape", 3, 3), onnxgraph.Ints("pads", 1, 1, 1, 1), onnxgraph.Ints("strides", 1, 1))
}

func (f *fileBuilder) pool(op, name, x, out string) string {
	return f.node(op, name, []string{x}, []string{out}, onnxgraph.Ints("kernel_shape", 2, 2), onnxgraph.Ints("strides", 2, 2))
}

// input declares the image input; dims may use -1 for symbolic sizes.
func (f *fileBuilder) input(name string, dims ...int64) {
	f.g.Input = append(f.g.Input, onnxgraph.FloatValue(name, dims...))
}

func (f *fileBuilder) output(name string, dims ...int64) {
	f.g.Output = append(f.g.Output, onnxgraph.FloatValue(name, dims...))
}

func (f *fileBuilder) model() *onnx.ModelProto {
	if f.weightsAsInputs {
		listed := map[string]bool{}
		for _, v := range f.g.Input {
			listed[v.GetName()] = true
		}
		for _, t := range f.g.Initializer {
			if !listed[t.GetName()] {
				f.g.Input = append(f.g.Input, onnxgraph.Value(t.GetName(), onnx.TensorProto_DataType(t.GetDataType()), t.GetDims()...))
			}
		}
	}
	return &onnx.ModelProto{
		IrVersion:    f.ir,
		ProducerName: "lookalike",
		OpsetImport:  []*onnx.OperatorSetIdProto{{Domain: "", Version: f.opset}},
		Graph:        f.g,
	}
}

// write saves the model as name in dir and returns the path.
func (f *fileBuilder) write(t testing.TB, dir, name string) string {
	t.Helper()
	data, err := onnxgraph.Marshal(f.model())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// torchvisionNew looks like torch >= 1.13 exporting vgg.features at opset
// 17: nodes named /22/Relu by module index, outputs /22/Relu_output_0,
// and identical all-zero biases merged into one initializer read through
// Identity nodes.
func torchvisionNew(blocks [][]int, fixed bool) *fileBuilder {
	f := newFileBuilder(17, 8, 1)
	if fixed {
		f.input("input", 1, 3, 224, 224)
	} else {
		f.input("input", 1, 3, -1, -1)
	}
	prev, cin, module, ids := "input", 3, 0, 100
	zeroBias := map[int]string{}
	for _, block := range blocks {
		for _, cout := range block {
			bias, ok := zeroBias[cout]
			if !ok {
				bias = f.tensor(fmt.Sprintf("%d.bias", module), []int64{int64(cout)}, make([]float32, cout))
				zeroBias[cout] = bias
			} else {
				ids++
				bias = f.node("Identity", fmt.Sprintf("Identity_%d", ids), []string{bias}, []string{fmt.Sprintf("onnx::Conv_%d", ids)})
			}
			prev = f.conv(fmt.Sprintf("/%d/Conv", module), prev, fmt.Sprintf("%d.weight", module), bias, fmt.Sprintf("/%d/Conv_output_0", module), cin, cout)
			module++
			prev = f.node("Relu", fmt.Sprintf("/%d/Relu", module), []string{prev}, []string{fmt.Sprintf("/%d/Relu_output_0", module)})
			module++
			cin = cout
		}
		prev = f.node("MaxPool", fmt.Sprintf("/%d/MaxPool", module), []string{prev}, []string{fmt.Sprintf("/%d/MaxPool_output_0", module)},
			onnxgraph.Int("ceil_mode", 0), onnxgraph.Ints("kernel_shape", 2, 2), onnxgraph.Ints("pads", 0, 0, 0, 0), onnxgraph.Ints("strides", 2, 2))
		module++
	}
	f.output(prev, 1, int64(cin), -1, -1)
	// Exporters record intermediate shapes for the export size; Load must
	// not let them pin the size.
	f.g.ValueInfo = append(f.g.ValueInfo, onnxgraph.FloatValue("/1/Relu_output_0", 1, int64(blocks[0][0]), 224, 224))
	return f
}

// torchvisionOld looks like torch 1.x before 1.13 at opset 11: a fixed
// input named input.1, nodes Conv_0, Relu_1, tensors input.4 and
// onnx::Conv_37.
func torchvisionOld(blocks [][]int) *fileBuilder {
	f := newFileBuilder(11, 6, 2)
	f.input("input.1", 1, 3, 224, 224)
	prev, cin, node, tensor, param := "input.1", 3, 0, 4, 37
	next := func() string {
		name := fmt.Sprintf("input.%d", tensor)
		tensor += 4
		return name
	}
	for _, block := range blocks {
		for _, cout := range block {
			w, b := fmt.Sprintf("onnx::Conv_%d", param), fmt.Sprintf("onnx::Conv_%d", param+1)
			param += 2
			f.weights(b, 0.1, int64(cout))
			prev = f.conv(fmt.Sprintf("Conv_%d", node), prev, w, b, next(), cin, cout)
			node++
			prev = f.node("Relu", fmt.Sprintf("Relu_%d", node), []string{prev}, []string{next()})
			node++
			cin = cout
		}
		prev = f.node("MaxPool", fmt.Sprintf("MaxPool_%d", node), []string{prev}, []string{next()}, onnxgraph.Ints("kernel_shape", 2, 2), onnxgraph.Ints("pads", 0, 0, 0, 0), onnxgraph.Ints("strides", 2, 2))
		node++
	}
	f.g.Node[len(f.g.Node)-1].Output[0] = "output"
	f.output("output", 1, int64(cin), 224>>len(blocks), 224>>len(blocks))
	return f
}

// zooStyle looks like the ONNX model zoo's vgg16-7/vgg19-7 (MXNet export,
// opset 7), laid out by the same code as WriteZooLookalike with a small
// classifier head: input data 1x3x224x224, weights also listed as inputs,
// names vgg0_conv0_fwd, and a head of Flatten + Gemm + Relu +
// Dropout(ratio) per hidden layer and Flatten + Gemm for the scores. The
// biases are random here, so that tests see them used. With reshape, a
// Reshape to [1, -1] replaces the first Flatten, as other exporters write
// it. With batchNorm, BatchNormalization with the opset-7 spatial
// attribute follows each convolution, as in vgg19-bn-7.
func zooStyle(blocks [][]int, reshape, batchNorm bool) *fileBuilder {
	f := newFileBuilder(7, 3, 3)
	f.weightsAsInputs = true
	g, tensors, err := zooLayout{blocks: blocks, dense: []int{8, 8, 5}, side: 224}.graph()
	if err != nil {
		panic(err) // the callers' layouts are fixed
	}
	f.g = g
	for _, t := range tensors {
		if t.fanIn > 0 {
			f.weights(t.name, heStd(t.fanIn), t.dims...)
		} else {
			f.weights(t.name, 0.1, t.dims...)
		}
	}
	if batchNorm {
		insertBatchNorm(f)
	}
	if reshape {
		first := slices.IndexFunc(g.Node, func(n *onnx.NodeProto) bool { return n.GetOpType() == "Flatten" })
		shape := "reshape_attr_tensor118"
		f.g.Initializer = append(f.g.Initializer, onnxgraph.Int64s(shape, []int64{2}, []int64{1, -1}))
		n := g.Node[first]
		*n = *onnxgraph.Node("Reshape", "reshape0", []string{n.GetInput()[0], shape}, n.GetOutput())
	}
	return f
}

// insertBatchNorm puts a BatchNormalization, named as MXNet names it,
// after every convolution of a zoo layout.
func insertBatchNorm(f *fileBuilder) {
	var nodes []*onnx.NodeProto
	renamed := map[string]string{}
	for _, n := range f.g.Node {
		for i, in := range n.GetInput() {
			if to, ok := renamed[in]; ok {
				n.Input[i] = to
			}
		}
		nodes = append(nodes, n)
		if n.GetOpType() != "Conv" {
			continue
		}
		name := fmt.Sprintf("vgg0_batchnorm%d", len(renamed))
		c := f.g.Initializer[slices.IndexFunc(f.g.Initializer, func(t *onnx.TensorProto) bool { return t.GetName() == n.GetInput()[1] })].GetDims()[0]
		in := []string{n.GetOutput()[0], f.positive(name+"_gamma", 0.5, c), f.weights(name+"_beta", 0.1, c), f.weights(name+"_running_mean", 0.1, c), f.positive(name+"_running_var", 0.5, c)}
		nodes = append(nodes, onnxgraph.Node("BatchNormalization", name+"_fwd", in, []string{name + "_fwd"},
			onnxgraph.Float("epsilon", 1e-5), onnxgraph.Float("momentum", 0.9), onnxgraph.Int("spatial", 1)))
		renamed[n.GetOutput()[0]] = name + "_fwd"
	}
	f.g.Node = nodes
}

// caffe2Style looks like the zoo's vgg19-caffe2-3 (opset 3): input data_0,
// BatchNormalization with consumed_inputs, is_test and spatial, Relu with
// consumed_inputs, and a head of Reshape with a shape attribute, Gemm with
// broadcast, Dropout with is_test and ratio and a mask output.
func caffe2Style(blocks [][]int) *fileBuilder {
	f := newFileBuilder(3, 3, 4)
	f.weightsAsInputs = true
	f.input("data_0", 1, 3, 224, 224)
	prev, cin := "data_0", 3
	for b, block := range blocks {
		for i, cout := range block {
			name := fmt.Sprintf("conv%d_%d", b+1, i+1)
			f.weights(name+"_b_0", 0.1, int64(cout))
			prev = f.conv(name, prev, name+"_w_0", name+"_b_0", name+"_1", cin, cout)
			c := int64(cout)
			bn := fmt.Sprintf("bn%d_%d", b+1, i+1)
			in := []string{prev, f.positive(bn+"_s_0", 0.5, c), f.weights(bn+"_b_0", 0.1, c), f.weights(bn+"_rm_0", 0.1, c), f.positive(bn+"_riv_0", 0.5, c)}
			prev = f.node("BatchNormalization", bn, in, []string{bn + "_1"},
				onnxgraph.Ints("consumed_inputs", 0, 0, 0, 1, 1), onnxgraph.Float("epsilon", 1e-5), onnxgraph.Int("is_test", 1), onnxgraph.Int("spatial", 1))
			prev = f.node("Relu", "", []string{prev}, []string{fmt.Sprintf("relu%d_%d_1", b+1, i+1)}, onnxgraph.Ints("consumed_inputs", 1))
			cin = cout
		}
		prev = f.pool("MaxPool", "", prev, fmt.Sprintf("pool%d_1", b+1))
	}
	prev = f.node("Reshape", "", []string{prev}, []string{"OC2_DUMMY_0"}, onnxgraph.Ints("shape", 1, -1))
	side := int64(224 >> len(blocks))
	f.weights("fc6_w_0", 0.01, 8, int64(cin)*side*side)
	f.weights("fc6_b_0", 0.01, 8)
	prev = f.node("Gemm", "", []string{prev, "fc6_w_0", "fc6_b_0"}, []string{"fc6_1"}, onnxgraph.Int("broadcast", 1), onnxgraph.Int("transB", 1))
	prev = f.node("Relu", "", []string{prev}, []string{"fc6_2"}, onnxgraph.Ints("consumed_inputs", 1))
	prev = f.node("Dropout", "", []string{prev}, []string{"fc6_3", "_fc6_mask_1"}, onnxgraph.Int("is_test", 1), onnxgraph.Float("ratio", 0.5))
	f.weights("fc8_w_0", 0.01, 5, 8)
	f.weights("fc8_b_0", 0.01, 5)
	prev = f.node("Gemm", "", []string{prev, "fc8_w_0", "fc8_b_0"}, []string{"fc8_1"}, onnxgraph.Int("broadcast", 1), onnxgraph.Int("transB", 1))
	prev = f.node("Softmax", "", []string{prev}, []string{"prob_1"})
	f.output(prev, 1, 5)
	return f
}

// legacyBranchy is no VGG: at opset 7 it has an explicit Pad with a pads
// attribute, Clip with min/max attributes, a residual Add, a Constant
// feeding Reshape, Identity and Dropout in the way. Its layers keep their
// ONNX names.
func legacyBranchy() *fileBuilder {
	f := newFileBuilder(7, 3, 5)
	f.input("image", 1, 3, 224, 224)
	f.node("Pad", "pad", []string{"image"}, []string{"padded"}, onnxgraph.Ints("pads", 0, 0, 2, 1, 0, 0, 0, 1), onnxgraph.Float("value", 0.25), onnxgraph.String("mode", "constant"))
	f.weights("w1", 0.3, 4, 3, 3, 3)
	f.weights("b1", 0.1, 4)
	f.node("Conv", "conv_a", []string{"padded", "w1", "b1"}, []string{"a"}, onnxgraph.Ints("kernel_shape", 3, 3), onnxgraph.Ints("strides", 2, 2))
	in := []string{"a", f.positive("s", 0.5, 4), f.weights("bb", 0.1, 4), f.weights("m", 0.1, 4), f.positive("v", 0.5, 4)}
	f.node("BatchNormalization", "bn", in, []string{"a_bn"}, onnxgraph.Float("epsilon", 1e-3), onnxgraph.Int("spatial", 1))
	f.node("Clip", "clip", []string{"a_bn"}, []string{"clipped"}, onnxgraph.Float("min", 0), onnxgraph.Float("max", 0.6))
	f.node("Identity", "id", []string{"clipped"}, []string{"clipped_alias"})
	f.weights("w2", 0.3, 4, 4, 3, 3)
	f.node("Conv", "conv_b", []string{"clipped_alias", "w2"}, []string{"b"}, onnxgraph.Ints("kernel_shape", 3, 3), onnxgraph.Ints("pads", 1, 1, 1, 1))
	f.node("Relu", "relu_b", []string{"b"}, []string{"b_relu"})
	f.node("Dropout", "drop", []string{"b_relu"}, []string{"b_drop"}, onnxgraph.Float("ratio", 0.3))
	f.node("Add", "residual", []string{"b_drop", "clipped"}, []string{"sum"})
	f.node("AveragePool", "avg", []string{"sum"}, []string{"pooled"}, onnxgraph.Ints("kernel_shape", 3, 3), onnxgraph.Ints("strides", 2, 2), onnxgraph.Ints("pads", 1, 1, 1, 1))
	f.g.Node = append(f.g.Node, onnxgraph.Node("Constant", "shape_const", nil, []string{"shape"},
		&onnx.AttributeProto{Name: "value", Type: onnx.AttributeProto_TENSOR, T: onnxgraph.Int64s("", []int64{2}, []int64{1, -1})}))
	f.node("Reshape", "flatten", []string{"pooled", "shape"}, []string{"flat"})
	f.output("flat", 1, -1)
	return f
}

// fmap is a [C,H,W] feature map in float64, for reference computations.
type fmap struct {
	c, h, w int
	d       []float64
}

func newFmap(c, h, w int) fmap { return fmap{c, h, w, make([]float64, c*h*w)} }

func (m fmap) at(c, y, x int) float64 { return m.d[(c*m.h+y)*m.w+x] }

func (m fmap) set(c, y, x int, v float64) { m.d[(c*m.h+y)*m.w+x] = v }

// interpret evaluates a file's graph in float64 with the semantics of its
// own opset, independently of the package's normalisation, for the ops the
// look-alikes use before their heads. It returns every tensor it computed.
func interpret(t testing.TB, m *onnx.ModelProto, img []float64, h, w int) map[string]fmap {
	t.Helper()
	vals := map[string]fmap{}
	inits := map[string][]float32{}
	dims := map[string][]int64{}
	for _, tp := range m.GetGraph().GetInitializer() {
		if onnx.TensorProto_DataType(tp.GetDataType()) != onnx.TensorProto_FLOAT {
			continue
		}
		d, err := onnxgraph.Float32Data(tp)
		if err != nil {
			t.Fatal(err)
		}
		inits[tp.GetName()], dims[tp.GetName()] = d, tp.GetDims()
	}
	in := fmap{3, h, w, img}
	for _, vi := range m.GetGraph().GetInput() {
		if _, ok := inits[vi.GetName()]; !ok {
			vals[vi.GetName()] = in
		}
	}
	alias := func(name string) []float32 { return inits[name] }
	for _, n := range m.GetGraph().GetNode() {
		if len(n.GetInput()) == 0 {
			continue // Constant
		}
		x, ok := vals[n.GetInput()[0]]
		if n.GetOpType() == "Identity" {
			if ok {
				vals[n.GetOutput()[0]] = x
			} else {
				inits[n.GetOutput()[0]], dims[n.GetOutput()[0]] = inits[n.GetInput()[0]], dims[n.GetInput()[0]]
			}
			continue
		}
		if !ok {
			continue // the head, or constants
		}
		var y fmap
		switch n.GetOpType() {
		case "Conv":
			var bias []float32
			if len(n.GetInput()) > 2 {
				bias = alias(n.GetInput()[2])
			}
			y = refConv(x, alias(n.GetInput()[1]), dims[n.GetInput()[1]], bias,
				onnxgraph.AttrInts(n, "pads", []int64{0, 0, 0, 0}), onnxgraph.AttrInts(n, "strides", []int64{1, 1}))
		case "Relu":
			y = mapValues(x, func(v float64) float64 { return math.Max(v, 0) })
		case "Clip":
			lo, hi := float64(onnxgraph.AttrFloat(n, "min", -math.MaxFloat32)), float64(onnxgraph.AttrFloat(n, "max", math.MaxFloat32))
			y = mapValues(x, func(v float64) float64 { return math.Min(math.Max(v, lo), hi) })
		case "Dropout":
			y = x
		case "BatchNormalization":
			s, b, mean, vr := alias(n.GetInput()[1]), alias(n.GetInput()[2]), alias(n.GetInput()[3]), alias(n.GetInput()[4])
			eps := float64(onnxgraph.AttrFloat(n, "epsilon", 1e-5))
			y = newFmap(x.c, x.h, x.w)
			for i := range y.d {
				c := i / (x.h * x.w)
				y.d[i] = (x.d[i]-float64(mean[c]))/math.Sqrt(float64(vr[c])+eps)*float64(s[c]) + float64(b[c])
			}
		case "Add":
			other := vals[n.GetInput()[1]]
			y = newFmap(x.c, x.h, x.w)
			for i := range y.d {
				y.d[i] = x.d[i] + other.d[i]
			}
		case "Pad":
			y = refPad(x, onnxgraph.AttrInts(n, "pads", nil), float64(onnxgraph.AttrFloat(n, "value", 0)))
		case "MaxPool", "AveragePool":
			y = refPool(x, onnxgraph.AttrInts(n, "kernel_shape", nil), onnxgraph.AttrInts(n, "strides", []int64{1, 1}),
				onnxgraph.AttrInts(n, "pads", []int64{0, 0, 0, 0}), n.GetOpType() == "AveragePool")
		default:
			continue
		}
		vals[n.GetOutput()[0]] = y
	}
	return vals
}

func mapValues(x fmap, f func(float64) float64) fmap {
	y := newFmap(x.c, x.h, x.w)
	for i, v := range x.d {
		y.d[i] = f(v)
	}
	return y
}

// refConv is a convolution in float64 through im2col and gonum's GEMM
// (fast enough for a whole VGG19 at 64x64); pads are ONNX's [top, left,
// bottom, right].
func refConv(x fmap, w []float32, wd []int64, bias []float32, pads, strides []int64) fmap {
	co, ci, kh, kw := int(wd[0]), int(wd[1]), int(wd[2]), int(wd[3])
	sh, sw := int(strides[0]), int(strides[1])
	ho := (x.h+int(pads[0]+pads[2])-kh)/sh + 1
	wo := (x.w+int(pads[1]+pads[3])-kw)/sw + 1
	k := ci * kh * kw
	cols := make([]float64, k*ho*wo) // [ci*kh*kw, ho*wo]
	for i := range ci {
		for ky := range kh {
			for kx := range kw {
				row := cols[((i*kh+ky)*kw+kx)*ho*wo:][:ho*wo]
				for oy := range ho {
					iy := oy*sh + ky - int(pads[0])
					if iy < 0 || iy >= x.h {
						continue
					}
					for ox := range wo {
						if ix := ox*sw + kx - int(pads[1]); ix >= 0 && ix < x.w {
							row[oy*wo+ox] = x.at(i, iy, ix)
						}
					}
				}
			}
		}
	}
	weights := make([]float64, co*k)
	for i, v := range w[:co*k] {
		weights[i] = float64(v)
	}
	y := newFmap(co, ho, wo)
	for o := range co {
		if bias != nil {
			for i := range ho * wo {
				y.d[o*ho*wo+i] = float64(bias[o])
			}
		}
	}
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1,
		blas64.General{Rows: co, Cols: k, Stride: k, Data: weights},
		blas64.General{Rows: k, Cols: ho * wo, Stride: ho * wo, Data: cols},
		1, blas64.General{Rows: co, Cols: ho * wo, Stride: ho * wo, Data: y.d})
	return y
}

// refPad pads H and W with a constant; pads are ONNX's 4-D begin/end list.
func refPad(x fmap, pads []int64, value float64) fmap {
	top, left, bottom, right := int(pads[2]), int(pads[3]), int(pads[6]), int(pads[7])
	y := newFmap(x.c, x.h+top+bottom, x.w+left+right)
	for i := range y.d {
		y.d[i] = value
	}
	for c := range x.c {
		for iy := range x.h {
			for ix := range x.w {
				y.set(c, iy+top, ix+left, x.at(c, iy, ix))
			}
		}
	}
	return y
}

// refPool is max or average pooling (padding excluded from averages).
func refPool(x fmap, kernel, strides, pads []int64, avg bool) fmap {
	kh, kw, sh, sw := int(kernel[0]), int(kernel[1]), int(strides[0]), int(strides[1])
	ho := (x.h+int(pads[0]+pads[2])-kh)/sh + 1
	wo := (x.w+int(pads[1]+pads[3])-kw)/sw + 1
	y := newFmap(x.c, ho, wo)
	for c := range x.c {
		for oy := range ho {
			for ox := range wo {
				best, sum, count := math.Inf(-1), 0.0, 0
				for ky := range kh {
					iy := oy*sh + ky - int(pads[0])
					for kx := range kw {
						ix := ox*sw + kx - int(pads[1])
						if iy < 0 || iy >= x.h || ix < 0 || ix >= x.w {
							continue
						}
						v := x.at(c, iy, ix)
						best, sum, count = math.Max(best, v), sum+v, count+1
					}
				}
				if avg {
					y.set(c, oy, ox, sum/float64(count))
				} else {
					y.set(c, oy, ox, best)
				}
			}
		}
	}
	return y
}
