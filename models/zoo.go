package models

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// The ONNX model zoo's vgg16-7.onnx and vgg19-7.onnx are MXNet Gluon
// models converted by MXNet's ONNX exporter of 2018. Their layout, which
// the look-alikes below copy:
//   - IR version 3, ai.onnx opset 7, graph "mxnet_converted_model";
//   - input data, float 1x3x224x224, followed among the graph inputs by
//     every weight, in the order MXNet's symbol lists them;
//   - weights vgg0_conv{k}_weight/_bias and vgg0_dense{d}_weight/_bias,
//     stored in float_data, as the exporter of that time wrote them;
//   - nodes named after their outputs: vgg0_conv{k}_fwd (Conv with
//     dilations, group, kernel_shape, pads and strides), vgg0_relu{k}_fwd,
//     vgg0_pool{b}_fwd (MaxPool), and a head of Flatten + Gemm +
//     vgg0_dense{d}_relu_fwd + vgg0_dropout{d}_fwd (ratio 0.5) for fc6 and
//     fc7 and Flatten + Gemm for fc8, whose output vgg0_dense2_fwd holds
//     the class scores (no Softmax);
//   - a Flatten before every Gemm, named flatten_{n} after the number of
//     its fully connected layer in MXNet's symbol graph, where variables
//     count too: flatten_72, flatten_77 and flatten_82 in vgg19-7.
const (
	zooOpset     = 7
	zooIRVersion = 3
	zooGraphName = "mxnet_converted_model"
	zooInput     = "data"
	zooSide      = 224 // the input height and width the files declare
)

// zooDense are the widths of the zoo's fully connected layers: fc6, fc7
// and fc8's 1000 ImageNet classes.
var zooDense = []int{4096, 4096, 1000}

// WriteZooLookalike writes a file laid out exactly like the ONNX model
// zoo's vgg19-7.onnx or vgg16-7.onnx (arch vgg19 or vgg16; see the layout
// above), classifier head included, with random weights: 574.7 MB for
// vgg19 (548 MiB, the zoo file's size) and 553.4 MB for vgg16. It stands
// in for the real file where that cannot be downloaded, to measure what
// loading a full-size zoo file costs.
//
// Weights are He-normal and biases zero, as in SynthFrom; the
// convolutions draw exactly the weights of Synth(arch, seed) and the fully
// connected layers continue its streams, so the same arguments always
// give the same bytes. The weights are drawn while they are written, a
// megabyte at a time: the file is never held in memory.
func WriteZooLookalike(w io.Writer, arch string, seed int64) error {
	l, err := zooLayoutOf(arch)
	if err != nil {
		return err
	}
	return writeZoo(w, l, seed)
}

// zooLayoutOf returns the layout of the zoo's file for arch.
func zooLayoutOf(arch string) (zooLayout, error) {
	spec, err := specFor(arch)
	if err != nil {
		return zooLayout{}, err
	}
	return zooLayout{blocks: spec.Blocks, dense: zooDense, side: zooSide}, nil
}

// zooLayout is a VGG laid out as the zoo's MXNet exports are.
type zooLayout struct {
	// blocks lists, block by block, the output channel count of each
	// convolution.
	blocks [][]int
	// dense lists the output widths of the fully connected layers; the
	// last is the class count.
	dense []int
	// side is the input height and width the file declares; the first
	// fully connected layer reads the features at that size.
	side int
}

// zooTensor declares an initializer of a zoo layout; its data is drawn
// when it is written.
type zooTensor struct {
	name string
	dims []int64
	// fanIn is the He-normal fan-in of a weight; 0 marks a bias, which is
	// all zeros.
	fanIn int
}

// graph builds the layout's graph without initializers and declares
// them, in the file's order.
func (l zooLayout) graph() (*onnx.GraphProto, []zooTensor, error) {
	if len(l.blocks) == 0 || len(l.dense) == 0 {
		return nil, nil, errors.New("zoo layout: no convolution blocks or no fully connected layers")
	}
	g := &onnx.GraphProto{Name: zooGraphName, Input: []*onnx.ValueInfoProto{onnxgraph.FloatValue(zooInput, 1, 3, int64(l.side), int64(l.side))}}
	var tensors []zooTensor
	// id is the number MXNet's symbol graph gives the next node; the
	// data variable took 0.
	id := 1
	declare := func(name string, fanIn int, dims ...int64) string {
		tensors = append(tensors, zooTensor{name: name, dims: dims, fanIn: fanIn})
		g.Input = append(g.Input, onnxgraph.FloatValue(name, dims...))
		id++
		return name
	}
	node := func(op, name string, inputs []string, attrs ...*onnx.AttributeProto) string {
		g.Node = append(g.Node, onnxgraph.Node(op, name, inputs, []string{name}, attrs...))
		id++
		return name
	}
	prev, channels, side, conv := zooInput, 3, l.side, 0
	for b, block := range l.blocks {
		if len(block) == 0 {
			return nil, nil, fmt.Errorf("zoo layout: block %d has no convolution", b+1)
		}
		for i, out := range block {
			if out <= 0 {
				return nil, nil, fmt.Errorf("zoo layout: block %d convolution %d has %d channels", b+1, i+1, out)
			}
			name := fmt.Sprintf("vgg0_conv%d", conv)
			w := declare(name+"_weight", 9*channels, int64(out), int64(channels), 3, 3)
			bias := declare(name+"_bias", 0, int64(out))
			prev = node("Conv", name+"_fwd", []string{prev, w, bias},
				onnxgraph.Ints("dilations", 1, 1), onnxgraph.Int("group", 1), onnxgraph.Ints("kernel_shape", 3, 3),
				onnxgraph.Ints("pads", 1, 1, 1, 1), onnxgraph.Ints("strides", 1, 1))
			prev = node("Relu", fmt.Sprintf("vgg0_relu%d_fwd", conv), []string{prev})
			channels = out
			conv++
		}
		prev = node("MaxPool", fmt.Sprintf("vgg0_pool%d_fwd", b), []string{prev},
			onnxgraph.Ints("kernel_shape", 2, 2), onnxgraph.Ints("pads", 0, 0, 0, 0), onnxgraph.Ints("strides", 2, 2))
		side /= 2
	}
	if side == 0 {
		return nil, nil, fmt.Errorf("zoo layout: a %dx%d input has no pixels left after %d poolings", l.side, l.side, len(l.blocks))
	}
	in := channels * side * side
	for d, out := range l.dense {
		if out <= 0 {
			return nil, nil, fmt.Errorf("zoo layout: fully connected layer %d has %d outputs", d+1, out)
		}
		name := fmt.Sprintf("vgg0_dense%d", d)
		w := declare(name+"_weight", in, int64(out), int64(in))
		bias := declare(name+"_bias", 0, int64(out))
		// The exporter adds the Flatten when it converts the fully
		// connected layer, so the Flatten carries that layer's number
		// without taking one of its own.
		flat := fmt.Sprintf("flatten_%d", id)
		g.Node = append(g.Node, onnxgraph.Node("Flatten", flat, []string{prev}, []string{flat}))
		prev = node("Gemm", name+"_fwd", []string{flat, w, bias},
			onnxgraph.Float("alpha", 1), onnxgraph.Float("beta", 1), onnxgraph.Int("transA", 0), onnxgraph.Int("transB", 1))
		if d < len(l.dense)-1 {
			prev = node("Relu", name+"_relu_fwd", []string{prev})
			prev = node("Dropout", fmt.Sprintf("vgg0_dropout%d_fwd", d), []string{prev}, onnxgraph.Float("ratio", 0.5))
		}
		in = out
	}
	g.Output = []*onnx.ValueInfoProto{onnxgraph.FloatValue(prev, 1, int64(in))}
	return g, tensors, nil
}

// zooPlan is a zoo layout encoded as protobuf around its weights' data,
// so that the file can be written with the data drawn on the way. Its
// pieces are what the deterministic marshalling of the whole model would
// give, in the same order (fields by number): the model's fields before
// its graph, the graph's nodes and name, its initializers, its inputs and
// outputs, and the model's opset import.
type zooPlan struct {
	head, graphHead, graphTail, tail []byte
	tensors                          []zooEncoded
}

// zooEncoded is an initializer's encoding around its float_data.
type zooEncoded struct {
	zooTensor
	before, after []byte // dims and data type; name
	elements      int64
}

// bodySize is the length of the initializer's TensorProto.
func (t zooEncoded) bodySize() int64 {
	return int64(len(t.before)) + int64(protowire.SizeTag(zooFloatData)) +
		int64(protowire.SizeBytes(int(4*t.elements))) + int64(len(t.after))
}

// Field numbers of onnx.proto that the plan writes itself.
const (
	zooModelGraph       protowire.Number = 7 // ModelProto.graph
	zooGraphInitializer protowire.Number = 5 // GraphProto.initializer
	zooFloatData        protowire.Number = 4 // TensorProto.float_data
)

// plan encodes the layout.
func (l zooLayout) plan() (*zooPlan, error) {
	g, tensors, err := l.graph()
	if err != nil {
		return nil, err
	}
	var p zooPlan
	pieces := []struct {
		dst *[]byte
		msg proto.Message
	}{
		{&p.head, &onnx.ModelProto{IrVersion: zooIRVersion, DocString: "look-alike of the ONNX model zoo's VGG (MXNet export) with random He-normal weights, written by nst model synth --layout zoo"}},
		{&p.graphHead, &onnx.GraphProto{Node: g.Node, Name: g.Name}},
		{&p.graphTail, &onnx.GraphProto{Input: g.Input, Output: g.Output}},
		{&p.tail, &onnx.ModelProto{OpsetImport: []*onnx.OperatorSetIdProto{{Domain: "", Version: zooOpset}}}},
	}
	for _, piece := range pieces {
		if *piece.dst, err = marshal(piece.msg); err != nil {
			return nil, err
		}
	}
	for _, t := range tensors {
		n, err := onnxgraph.NumElements(t.dims)
		if err != nil {
			return nil, fmt.Errorf("zoo layout: tensor %q: %w", t.name, err)
		}
		e := zooEncoded{zooTensor: t, elements: n}
		if e.before, err = marshal(&onnx.TensorProto{Dims: t.dims, DataType: int32(onnx.TensorProto_FLOAT)}); err != nil {
			return nil, err
		}
		if e.after, err = marshal(&onnx.TensorProto{Name: t.name}); err != nil {
			return nil, err
		}
		p.tensors = append(p.tensors, e)
	}
	return &p, nil
}

// marshal encodes one piece of the plan as onnxgraph.Marshal would.
func marshal(m proto.Message) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("zoo layout: marshal %T: %w", m, err)
	}
	return b, nil
}

// graphSize is the length of the encoded GraphProto.
func (p *zooPlan) graphSize() int64 {
	n := int64(len(p.graphHead) + len(p.graphTail))
	for _, t := range p.tensors {
		n += int64(protowire.SizeTag(zooGraphInitializer)) + int64(protowire.SizeVarint(uint64(t.bodySize()))) + t.bodySize()
	}
	return n
}

// size is the length of the file the plan writes.
func (p *zooPlan) size() int64 {
	g := p.graphSize()
	return int64(len(p.head)) + int64(protowire.SizeTag(zooModelGraph)) + int64(protowire.SizeVarint(uint64(g))) + g + int64(len(p.tail))
}

// zooChunk is how many bytes of weights are drawn at a time.
const zooChunk = 1 << 20

// write writes the file, drawing weight tensor k (counted through the
// convolutions, then the fully connected layers) from the stream
// (seed, k): the convolutions get SynthFrom's weights.
func (p *zooPlan) write(w io.Writer, seed int64) error {
	bw := bufio.NewWriterSize(w, zooChunk)
	var scratch []byte
	scratch = append(scratch, p.head...)
	scratch = protowire.AppendTag(scratch, zooModelGraph, protowire.BytesType)
	scratch = protowire.AppendVarint(scratch, uint64(p.graphSize()))
	scratch = append(scratch, p.graphHead...)
	if _, err := bw.Write(scratch); err != nil {
		return err
	}
	chunk := make([]byte, zooChunk)
	stream := uint64(0)
	for _, t := range p.tensors {
		scratch = protowire.AppendTag(scratch[:0], zooGraphInitializer, protowire.BytesType)
		scratch = protowire.AppendVarint(scratch, uint64(t.bodySize()))
		scratch = append(scratch, t.before...)
		scratch = protowire.AppendTag(scratch, zooFloatData, protowire.BytesType)
		scratch = protowire.AppendVarint(scratch, uint64(4*t.elements))
		if _, err := bw.Write(scratch); err != nil {
			return err
		}
		var rng *rand.Rand // nil for a bias
		if t.fanIn > 0 {
			rng = weightStream(uint64(seed), stream)
			stream++
		}
		if err := writeValues(bw, chunk, t.elements, rng, heStd(max(t.fanIn, 1))); err != nil {
			return err
		}
		if _, err := bw.Write(t.after); err != nil {
			return err
		}
	}
	scratch = append(append(scratch[:0], p.graphTail...), p.tail...)
	if _, err := bw.Write(scratch); err != nil {
		return err
	}
	return bw.Flush()
}

// writeValues writes n float32 values through chunk: draws from
// N(0, std²) taken from rng, or zeros when rng is nil.
func writeValues(w io.Writer, chunk []byte, n int64, rng *rand.Rand, std float64) error {
	clear(chunk)
	for left := 4 * n; left > 0; {
		b := chunk[:min(left, int64(len(chunk)))]
		if rng != nil {
			putNormal(b, rng, std)
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		left -= int64(len(b))
	}
	return nil
}

// writeZoo writes the file of layout l; its length is l.plan().size().
func writeZoo(w io.Writer, l zooLayout, seed int64) error {
	p, err := l.plan()
	if err != nil {
		return err
	}
	if err := p.write(w, seed); err != nil {
		return fmt.Errorf("write zoo look-alike: %w", err)
	}
	return nil
}
