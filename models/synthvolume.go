package models

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/hugemem"
	"github.com/nst-project/nst/internal/onnxgraph"
)

// The built-in volume backbone (model.path builtin:volume): a VGG-style
// chain of random-weight 3-D convolutions over a volume [1,C,D,H,W], for
// solid textures and volumetric style transfer. Block b is one 3×3×3
// convolution with padding 1 (conv<b>_1), a ReLU (relu<b>_1) and a 2×2×2
// max pooling with stride 2 (pool<b>); the pipeline swaps the pooling for
// average pooling as it does for VGG. Random weights serve texture
// statistics in 3-D as in 2-D (He, Wang and Hopcroft, NeurIPS 2016).
const (
	// VolumeArch is the name after builtin:.
	VolumeArch = "volume"
	// MaxVolumeFilters bounds a block's filter count.
	MaxVolumeFilters = 4096
)

// DefaultVolumeFilters are builtin:volume's filters per block: three
// blocks, whose relu3_1 sees 18 voxels along each axis.
var DefaultVolumeFilters = []int{16, 32, 64}

// VolumeSpec describes a built-in volume backbone.
type VolumeSpec struct {
	// Channels is C, the volume's channel count: 1 (grey) or 3 (RGB).
	Channels int
	// Filters are the filter counts of the blocks, one convolution each.
	Filters []int
}

// IsVolumeArch reports whether arch (the name after builtin:) is the
// built-in volume backbone.
func IsVolumeArch(arch string) bool { return arch == VolumeArch }

// SynthVolume builds the volume backbone of spec with He-normal weights
// (fan-in 27·in) drawn, block b in ONNX's [out,in,3,3,3] order, from the
// PCG stream (seed, b); biases are zero. The same arguments give the same
// bytes.
func SynthVolume(spec VolumeSpec, seed int64) (*Backbone, error) {
	m, err := synthVolumeModel(spec, seed)
	if err != nil {
		return nil, err
	}
	counts := make([]string, len(spec.Filters))
	for i, f := range spec.Filters {
		counts[i] = strconv.Itoa(f)
	}
	return builtinBackbone(m, fmt.Sprintf("built-in random-weight 3-D volume backbone, %d channels in, filters %s (seed %d)", spec.Channels, strings.Join(counts, "/"), seed))
}

// synthVolumeModel builds the ONNX model of spec with seeded weights.
func synthVolumeModel(spec VolumeSpec, seed int64) (*onnx.ModelProto, error) {
	if spec.Channels != 1 && spec.Channels != 3 {
		return nil, fmt.Errorf("volume backbone: %d input channels; want 1 or 3", spec.Channels)
	}
	if len(spec.Filters) == 0 || len(spec.Filters) > 8 {
		return nil, fmt.Errorf("volume backbone: %d blocks; want 1 to 8", len(spec.Filters))
	}
	g := &onnx.GraphProto{Name: "nst-synthetic-volume", Input: []*onnx.ValueInfoProto{onnxgraph.FloatValue("input", 1, int64(spec.Channels), -1, -1, -1)}}
	var weights hugemem.Slab
	prev, in := "input", spec.Channels
	for b, out := range spec.Filters {
		if out < 1 || out > MaxVolumeFilters {
			return nil, fmt.Errorf("volume backbone: block %d has %d filters; want 1 to %d", b+1, out, MaxVolumeFilters)
		}
		conv, relu, pool := fmt.Sprintf("conv%d_1", b+1), fmt.Sprintf("relu%d_1", b+1), fmt.Sprintf("pool%d", b+1)
		g.Node = append(g.Node,
			onnxgraph.Node("Conv", conv, []string{prev, conv + ".weight", conv + ".bias"}, []string{conv},
				onnxgraph.Ints("kernel_shape", 3, 3, 3), onnxgraph.Ints("pads", 1, 1, 1, 1, 1, 1), onnxgraph.Ints("strides", 1, 1, 1)),
			onnxgraph.Node("Relu", relu, []string{conv}, []string{relu}))
		raw := weights.Bytes(4 * out * in * 27)
		putNormal(raw, weightStream(uint64(seed), uint64(b)), heStd(27*in))
		g.Initializer = append(g.Initializer,
			&onnx.TensorProto{Name: conv + ".weight", Dims: []int64{int64(out), int64(in), 3, 3, 3}, DataType: int32(onnx.TensorProto_FLOAT), RawData: raw},
			&onnx.TensorProto{Name: conv + ".bias", Dims: []int64{int64(out)}, DataType: int32(onnx.TensorProto_FLOAT), RawData: make([]byte, 4*out)})
		prev, in = relu, out
		if b < len(spec.Filters)-1 {
			g.Node = append(g.Node, onnxgraph.Node("MaxPool", pool, []string{relu}, []string{pool},
				onnxgraph.Ints("kernel_shape", 2, 2, 2), onnxgraph.Ints("strides", 2, 2, 2)))
			prev = pool
		}
	}
	g.Output = []*onnx.ValueInfoProto{onnxgraph.FloatValue(prev, 1, int64(in), -1, -1, -1)}
	m := onnxgraph.Model(g)
	m.DocString = "VGG-style chain of 3-D convolutions with random He-normal weights, written by nst"
	return m, nil
}

// openVolume makes the built-in volume backbone for o's channels and
// filters. model.arch names image architectures and does not apply.
func openVolume(o OpenOptions) (*Backbone, error) {
	if o.VolumeChannels <= 0 {
		return nil, fmt.Errorf("model.path %s%s is for volume runs: its input is a volume, so content must be a .npy file", BuiltinPrefix, VolumeArch)
	}
	filters := o.VolumeFilters
	if len(filters) == 0 {
		filters = DefaultVolumeFilters
	}
	b, err := SynthVolume(VolumeSpec{Channels: o.VolumeChannels, Filters: filters}, o.Seed)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// WriteSynthVolume writes the ONNX file of SynthVolume(spec, seed), so
// that a volume backbone can be loaded from disk like any model file with
// 3-D convolutions. The same arguments always give the same bytes.
func WriteSynthVolume(w io.Writer, spec VolumeSpec, seed int64) error {
	m, err := synthVolumeModel(spec, seed)
	if err != nil {
		return err
	}
	return writeModel(w, m, "synthetic volume backbone")
}
