// Package trunks builds ONNX graphs of torchvision's convolutional trunks
// with random weights, in the form torch.onnx.export (TorchScript
// exporter, opset 17, eval mode) writes them: batch normalisation that
// follows a convolution folded into the convolution's bias, ReLU6 as Clip,
// SiLU as Mul(x, Sigmoid(x)), GELU as x·0.5·(1+Erf(x/√2)), Linear layers
// on NHWC tensors as MatMul and Add, LayerNorm2d as Transpose,
// LayerNormalization and Transpose, adaptive pooling to 1x1 as
// GlobalAveragePool, chunk as Split, and the channel shuffle's view calls
// as Reshape with targets computed from Shape at run time.
//
// Tests use the blocks to check gradients and naming where torch cannot
// be run, and benchmarks the whole trunks at their real widths and
// depths. The graphs have one input and the trunk's taps as graph
// outputs, named as scripts/export_backbone.py names them.
package trunks

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// Builder appends nodes and random weights to a graph.
type Builder struct {
	g   *onnx.GraphProto
	rng *rand.Rand
	n   int
	// Input is the graph input's name.
	Input string
	// Width scales the fixed channel counts of the blocks (Inception's
	// 384 and so on); Scale applies it. 0 means 1.
	Width float64
}

// Scale returns c scaled by b.Width, rounded up to an even count of at
// least 2 (so that halves and groups of two stay whole); c itself at
// width 1.
func (b *Builder) Scale(c int64) int64 {
	if b.Width == 0 || b.Width == 1 {
		return c
	}
	return max(2, 2*int64(math.Ceil(float64(c)*b.Width/2)))
}

// New starts a graph with one float input of the given dims (negative
// dims are symbolic) and weights drawn from a PCG source seeded with seed.
func New(input string, seed uint64, dims ...int64) *Builder {
	return &Builder{
		g:     &onnx.GraphProto{Name: "trunk", Input: []*onnx.ValueInfoProto{onnxgraph.FloatValue(input, dims...)}},
		rng:   rand.New(rand.NewPCG(seed, 17)),
		Input: input,
	}
}

// Graph returns the graph built so far (not a copy).
func (b *Builder) Graph() *onnx.GraphProto { return b.g }

// Model wraps the graph in a model of opset 17, as the exporter writes.
func (b *Builder) Model() *onnx.ModelProto { return onnxgraph.Model(b.g) }

// node appends a node named like the exporter's (/Op_3) with outputs
// /Op_3_output_0, ... and returns the outputs.
func (b *Builder) node(op string, in []string, outs int, attrs ...*onnx.AttributeProto) []string {
	b.n++
	name := fmt.Sprintf("/%s_%d", op, b.n)
	out := make([]string, outs)
	for i := range out {
		out[i] = fmt.Sprintf("%s_output_%d", name, i)
	}
	b.g.Node = append(b.g.Node, onnxgraph.Node(op, name, in, out, attrs...))
	return out
}

// Op appends a single-output node and returns its output.
func (b *Builder) Op(op string, in []string, attrs ...*onnx.AttributeProto) string {
	return b.node(op, in, 1, attrs...)[0]
}

// initializer adds a tensor under a fresh name.
func (b *Builder) initializer(t *onnx.TensorProto) string {
	b.n++
	t.Name = fmt.Sprintf("onnx::%d", b.n)
	b.g.Initializer = append(b.g.Initializer, t)
	return t.Name
}

// Floats adds a float constant.
func (b *Builder) Floats(dims []int64, v ...float32) string {
	return b.initializer(onnxgraph.Floats32("", dims, v))
}

// Scalar adds a float scalar constant.
func (b *Builder) Scalar(v float32) string { return b.Floats(nil, v) }

// Ints adds a 1-D int64 constant.
func (b *Builder) Ints(v ...int64) string {
	return b.initializer(onnxgraph.Int64s("", []int64{int64(len(v))}, v))
}

// Normal adds a constant of normal values with standard deviation std.
func (b *Builder) Normal(std float64, dims ...int64) string {
	n, _ := onnxgraph.NumElements(dims)
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(b.rng.NormFloat64() * std)
	}
	return b.Floats(dims, v...)
}

// Uniform adds a constant of values uniform in [lo, hi).
func (b *Builder) Uniform(lo, hi float64, dims ...int64) string {
	n, _ := onnxgraph.NumElements(dims)
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(lo + (hi-lo)*b.rng.Float64())
	}
	return b.Floats(dims, v...)
}

// ConvSpec is a convolution's geometry.
type ConvSpec struct {
	In, Out    int64
	KH, KW     int64
	Stride     int64 // 0 means 1
	PadH, PadW int64
	Group      int64 // 0 means 1
	Bias       bool
	Gain       float64 // weight standard deviation times sqrt(fan-in); 0 means sqrt(2)
	Dilation   int64   // 0 means 1
}

// Conv appends a convolution with He-scaled random weights and, with
// Bias, a random bias (where the exporter folded a batch normalisation).
func (b *Builder) Conv(x string, s ConvSpec) string {
	stride, group, dil := max(s.Stride, 1), max(s.Group, 1), max(s.Dilation, 1)
	gain := s.Gain
	if gain == 0 {
		gain = math.Sqrt2
	}
	fan := s.In / group * s.KH * s.KW
	in := []string{x, b.Normal(gain/math.Sqrt(float64(fan)), s.Out, s.In/group, s.KH, s.KW)}
	if s.Bias {
		in = append(in, b.Normal(0.1, s.Out))
	}
	return b.Op("Conv", in,
		onnxgraph.Ints("dilations", dil, dil), onnxgraph.Int("group", group),
		onnxgraph.Ints("kernel_shape", s.KH, s.KW), onnxgraph.Ints("pads", s.PadH, s.PadW, s.PadH, s.PadW),
		onnxgraph.Ints("strides", stride, stride))
}

// ConvBN appends a k×k convolution, padding (k−1)/2, with a folded batch
// normalisation (a bias), as torchvision's Conv2dNormActivation exports.
func (b *Builder) ConvBN(x string, in, out, k, stride, group int64) string {
	return b.Conv(x, ConvSpec{In: in, Out: out, KH: k, KW: k, Stride: stride, PadH: (k - 1) / 2, PadW: (k - 1) / 2, Group: group, Bias: true})
}

// BatchNorm appends an inference-mode BatchNormalization with random
// statistics, as the exporter writes one it could not fold.
func (b *Builder) BatchNorm(x string, c int64) string {
	return b.Op("BatchNormalization", []string{x, b.Uniform(0.5, 1.5, c), b.Normal(0.1, c), b.Normal(0.1, c), b.Uniform(0.5, 1.5, c)},
		onnxgraph.Float("epsilon", 1e-5), onnxgraph.Float("momentum", 0.9))
}

// Relu appends a ReLU.
func (b *Builder) Relu(x string) string { return b.Op("Relu", []string{x}) }

// Relu6 appends ReLU6 as the exporter writes it: Clip with constant bounds.
func (b *Builder) Relu6(x string) string {
	return b.Op("Clip", []string{x, b.Scalar(0), b.Scalar(6)})
}

// HardSwish appends a HardSwish (opset 14 and later).
func (b *Builder) HardSwish(x string) string { return b.Op("HardSwish", []string{x}) }

// HardSigmoid appends torch's Hardsigmoid: HardSigmoid with alpha 1/6.
func (b *Builder) HardSigmoid(x string) string {
	return b.Op("HardSigmoid", []string{x}, onnxgraph.Float("alpha", 1.0/6), onnxgraph.Float("beta", 0.5))
}

// Sigmoid appends a Sigmoid.
func (b *Builder) Sigmoid(x string) string { return b.Op("Sigmoid", []string{x}) }

// SiLU appends x·sigmoid(x) as the exporter writes it.
func (b *Builder) SiLU(x string) string { return b.Mul(x, b.Sigmoid(x)) }

// GELU appends the exact GELU as the exporter writes it below opset 20:
// x·0.5·(1+Erf(x/√2)), as Div, Erf, Add, Mul, Mul.
func (b *Builder) GELU(x string) string {
	e := b.Op("Erf", []string{b.Op("Div", []string{x, b.Scalar(float32(math.Sqrt2))})})
	h := b.Mul(x, b.Op("Add", []string{e, b.Scalar(1)}))
	return b.Mul(h, b.Scalar(0.5))
}

// Add appends an Add.
func (b *Builder) Add(x, y string) string { return b.Op("Add", []string{x, y}) }

// Mul appends a Mul.
func (b *Builder) Mul(x, y string) string { return b.Op("Mul", []string{x, y}) }

// Concat appends a Concat along axis.
func (b *Builder) Concat(axis int64, xs ...string) string {
	return b.Op("Concat", xs, onnxgraph.Int("axis", axis))
}

// Split appends a Split along axis into parts of the given sizes, as a
// chunk exports at opset 13 and later (sizes as an input).
func (b *Builder) Split(x string, axis int64, sizes ...int64) []string {
	return b.node("Split", []string{x, b.Ints(sizes...)}, len(sizes), onnxgraph.Int("axis", axis))
}

// MaxPool appends a square max pooling.
func (b *Builder) MaxPool(x string, k, stride, pad int64, ceil bool) string {
	return b.Op("MaxPool", []string{x}, onnxgraph.Int("ceil_mode", b2i(ceil)), onnxgraph.Ints("kernel_shape", k, k),
		onnxgraph.Ints("pads", pad, pad, pad, pad), onnxgraph.Ints("strides", stride, stride))
}

// AvgPool appends a square average pooling; torch's F.avg_pool2d counts
// the padding (count_include_pad) unless told otherwise.
func (b *Builder) AvgPool(x string, k, stride, pad int64, includePad, ceil bool) string {
	return b.Op("AveragePool", []string{x}, onnxgraph.Int("ceil_mode", b2i(ceil)), onnxgraph.Int("count_include_pad", b2i(includePad)),
		onnxgraph.Ints("kernel_shape", k, k), onnxgraph.Ints("pads", pad, pad, pad, pad), onnxgraph.Ints("strides", stride, stride))
}

// GlobalAvgPool appends adaptive average pooling to 1x1 as exported.
func (b *Builder) GlobalAvgPool(x string) string { return b.Op("GlobalAveragePool", []string{x}) }

// Transpose appends a Transpose.
func (b *Builder) Transpose(x string, perm ...int64) string {
	return b.Op("Transpose", []string{x}, onnxgraph.Ints("perm", perm...))
}

// Linear appends nn.Linear on the last axis of a tensor of rank > 2, as the
// exporter writes it: MatMul with the transposed weight, then Add.
func (b *Builder) Linear(x string, in, out int64) string {
	h := b.Op("MatMul", []string{x, b.Normal(1/math.Sqrt(float64(in)), in, out)})
	return b.Add(h, b.Normal(0.1, out))
}

// LayerNorm appends LayerNormalization over the last axis of c channels.
func (b *Builder) LayerNorm(x string, c int64) string {
	return b.Op("LayerNormalization", []string{x, b.Uniform(0.5, 1.5, c), b.Normal(0.1, c)},
		onnxgraph.Int("axis", -1), onnxgraph.Float("epsilon", 1e-6))
}

// LayerNorm2d appends torchvision's LayerNorm2d: NCHW to NHWC, layer norm
// over the channels, back to NCHW.
func (b *Builder) LayerNorm2d(x string, c int64) string {
	return b.Transpose(b.LayerNorm(b.Transpose(x, 0, 2, 3, 1), c), 0, 3, 1, 2)
}

// Output makes tensor a graph output called name with c channels, as
// torch.onnx.export's output_names does: the tensor itself is renamed.
func (b *Builder) Output(name, tensor string, c int64) {
	for _, n := range b.g.Node {
		for i, in := range n.Input {
			if in == tensor {
				n.Input[i] = name
			}
		}
		for i, o := range n.Output {
			if o == tensor {
				n.Output[i] = name
			}
		}
	}
	for _, o := range b.g.Output {
		if o.GetName() == tensor {
			o.Name = name
		}
	}
	b.g.Output = append(b.g.Output, onnxgraph.FloatValue(name, 1, c, -1, -1))
}

// scalarInt adds an int64 scalar constant.
func (b *Builder) scalarInt(v int64) string {
	return b.initializer(onnxgraph.Int64s("", nil, []int64{v}))
}

// intAttr is an integer attribute.
func intAttr(name string, v int64) *onnx.AttributeProto { return onnxgraph.Int(name, v) }

func b2i(v bool) int64 {
	if v {
		return 1
	}
	return 0
}
