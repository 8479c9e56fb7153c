package models

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/hugemem"
	"github.com/nst-project/nst/internal/onnxgraph"
)

// SynthSpec describes a VGG-architecture network: 3x3 convolutions with
// padding 1, each followed by ReLU, and 2x2 max pooling with stride 2 at the
// end of every block.
type SynthSpec struct {
	// Blocks lists, block by block, the output channel count of each
	// convolution.
	Blocks [][]int
}

// archSpecs are the feature extractors of VGG16 and VGG19 (configurations D
// and E of Simonyan and Zisserman).
var archSpecs = map[string]SynthSpec{
	"vgg16": {Blocks: [][]int{{64, 64}, {128, 128}, {256, 256, 256}, {512, 512, 512}, {512, 512, 512}}},
	"vgg19": {Blocks: [][]int{{64, 64}, {128, 128}, {256, 256, 256, 256}, {512, 512, 512, 512}, {512, 512, 512, 512}}},
}

// specFor returns the spec of a named architecture.
func specFor(arch string) (SynthSpec, error) {
	spec, ok := archSpecs[arch]
	if !ok {
		return SynthSpec{}, fmt.Errorf("synthetic backbone %q: want vgg19 or vgg16", arch)
	}
	return spec, nil
}

// Synth builds the VGG19 or VGG16 feature extractor with random weights in
// memory; see SynthFrom for the weights. Style transfer works with random
// weights too (He, Wang and Hopcroft, NeurIPS 2016), which makes this the
// backbone of choice when no pretrained file is at hand.
func Synth(arch string, seed int64) (*Backbone, error) {
	spec, err := specFor(arch)
	if err != nil {
		return nil, err
	}
	return synth(spec, seed, fmt.Sprintf("built-in random-weight %s (seed %d)", strings.ToUpper(arch), seed))
}

// SynthFrom builds a VGG-architecture backbone of any block structure (small
// ones serve tests). Weights are He-normal (Kaiming, fan-in: standard
// deviation sqrt(2/(9*in_channels))), biases zero. Convolution l (counted
// from 0 through all blocks) draws its weights, in ONNX's [out,in,3,3]
// order, from math/rand/v2's NormFloat64 over a PCG source seeded with
// (seed, l); math/rand/v2 keeps seeded value streams unchanged across
// releases, so a seed always gives the same bytes.
func SynthFrom(spec SynthSpec, seed int64) (*Backbone, error) {
	counts := make([]string, len(spec.Blocks))
	for i, b := range spec.Blocks {
		counts[i] = strconv.Itoa(len(b))
	}
	return synth(spec, seed, fmt.Sprintf("built-in random-weight VGG with blocks %s (seed %d)", strings.Join(counts, "-"), seed))
}

// WriteSynth writes the ONNX file of Synth(arch, seed). The same arguments
// always give the same bytes.
func WriteSynth(w io.Writer, arch string, seed int64) error {
	spec, err := specFor(arch)
	if err != nil {
		return err
	}
	return writeSynth(w, spec, seed, arch)
}

// WriteSynthFrom writes the ONNX file of SynthFrom(spec, seed), so that
// small backbones can be loaded from disk like any other model file. The
// same arguments always give the same bytes.
func WriteSynthFrom(w io.Writer, spec SynthSpec, seed int64) error {
	return writeSynth(w, spec, seed, "backbone")
}

func writeSynth(w io.Writer, spec SynthSpec, seed int64, what string) error {
	m, err := synthModel(spec, seed)
	if err != nil {
		return err
	}
	return writeModel(w, m, "synthetic "+what)
}

// writeModel writes m's ONNX bytes to w; what names it in the error.
func writeModel(w io.Writer, m *onnx.ModelProto, what string) error {
	data, err := onnxgraph.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	return nil
}

// synth builds the backbone of spec; its digest, that of the file
// WriteSynth would write, is computed on first use since start-up does not
// need it.
func synth(spec SynthSpec, seed int64, describe string) (*Backbone, error) {
	m, err := synthModel(spec, seed)
	if err != nil {
		return nil, err
	}
	return builtinBackbone(m, describe)
}

// builtinBackbone makes the Backbone of a model nst built in memory,
// described as describe; its digest is the SHA-256 of the model's bytes,
// computed when asked.
func builtinBackbone(m *onnx.ModelProto, describe string) (*Backbone, error) {
	b, err := newBackbone(m.GetGraph(), onnxgraph.Opset)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", describe, err)
	}
	b.builtin = describe
	b.digestOf = func() string {
		data, err := onnxgraph.Marshal(m)
		if err != nil {
			return "unavailable: " + err.Error()
		}
		sum := sha256.Sum256(data)
		return hex.EncodeToString(sum[:])
	}
	return b, nil
}

// synthModel builds the ONNX model of spec with seeded weights.
func synthModel(spec SynthSpec, seed int64) (*onnx.ModelProto, error) {
	if len(spec.Blocks) == 0 {
		return nil, errors.New("synthetic backbone: no blocks")
	}
	type conv struct {
		name    string
		in, out int
		weight  *onnx.TensorProto
	}
	var convs []*conv
	g := &onnx.GraphProto{Name: "nst-synthetic-vgg", Input: []*onnx.ValueInfoProto{onnxgraph.FloatValue("input", 1, 3, -1, -1)}}
	prev, channels := "input", 3
	for b, block := range spec.Blocks {
		if len(block) == 0 {
			return nil, fmt.Errorf("synthetic backbone: block %d has no convolution", b+1)
		}
		for i, out := range block {
			if out <= 0 {
				return nil, fmt.Errorf("synthetic backbone: block %d convolution %d has %d channels", b+1, i+1, out)
			}
			name := fmt.Sprintf("conv%d_%d", b+1, i+1)
			relu := fmt.Sprintf("relu%d_%d", b+1, i+1)
			c := &conv{name: name, in: channels, out: out}
			convs = append(convs, c)
			g.Node = append(g.Node,
				onnxgraph.Node("Conv", name, []string{prev, name + ".weight", name + ".bias"}, []string{name},
					onnxgraph.Ints("kernel_shape", 3, 3), onnxgraph.Ints("pads", 1, 1, 1, 1), onnxgraph.Ints("strides", 1, 1)),
				onnxgraph.Node("Relu", relu, []string{name}, []string{relu}))
			prev, channels = relu, out
		}
		pool := fmt.Sprintf("pool%d", b+1)
		g.Node = append(g.Node, onnxgraph.Node("MaxPool", pool, []string{prev}, []string{pool},
			onnxgraph.Ints("kernel_shape", 2, 2), onnxgraph.Ints("strides", 2, 2)))
		prev = pool
	}
	g.Output = []*onnx.ValueInfoProto{onnxgraph.FloatValue(prev, 1, int64(channels), -1, -1)}

	// Layers draw from independent streams, so they are filled in
	// parallel without changing a byte (BenchmarkSynthVGG19).
	var weights hugemem.Slab // the model keeps them all, together
	var wg sync.WaitGroup
	next := make(chan int, len(convs))
	for l := range convs {
		next <- l
	}
	close(next)
	for range min(runtime.GOMAXPROCS(0), len(convs)) {
		wg.Go(func() {
			for l := range next {
				c := convs[l]
				c.weight = heNormal(&weights, c.name+".weight", c.out, c.in, uint64(seed), uint64(l))
			}
		})
	}
	wg.Wait()
	for _, c := range convs {
		g.Initializer = append(g.Initializer, c.weight,
			&onnx.TensorProto{Name: c.name + ".bias", Dims: []int64{int64(c.out)}, DataType: int32(onnx.TensorProto_FLOAT), RawData: make([]byte, 4*c.out)})
	}
	m := onnxgraph.Model(g)
	m.DocString = "VGG-architecture feature extractor with random He-normal weights, written by nst model synth"
	return m, nil
}

// heNormal returns an [out,in,3,3] float32 initializer drawn from
// N(0, 2/(9*in)) with the PCG stream (seed, stream), written straight into
// raw data (cut from slab) to avoid a second copy of the weights.
func heNormal(slab *hugemem.Slab, name string, out, in int, seed, stream uint64) *onnx.TensorProto {
	raw := slab.Bytes(4 * out * in * 9)
	putNormal(raw, weightStream(seed, stream), heStd(9*in))
	return &onnx.TensorProto{Name: name, Dims: []int64{int64(out), int64(in), 3, 3}, DataType: int32(onnx.TensorProto_FLOAT), RawData: raw}
}

// heStd is the He-normal (Kaiming, fan-in) standard deviation of a layer
// whose outputs each sum fanIn inputs.
func heStd(fanIn int) float64 { return math.Sqrt(2 / float64(fanIn)) }

// weightStream is the random source of one weight tensor: PCG seeded with
// (seed, stream). Tensors draw from independent streams so that any of
// them can be drawn without the others.
func weightStream(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}

// putNormal fills raw with little-endian float32 draws from N(0, std²),
// taken in order from rng; filling a tensor in consecutive pieces gives
// the same bytes as filling it at once. A trailing partial float is left
// as it is.
func putNormal(raw []byte, rng *rand.Rand, std float64) {
	for i := 0; i+4 <= len(raw); i += 4 {
		binary.LittleEndian.PutUint32(raw[i:], math.Float32bits(float32(rng.NormFloat64()*std)))
	}
}
