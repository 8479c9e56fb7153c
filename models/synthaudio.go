package models

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/hugemem"
	"github.com/nst-project/nst/internal/onnxgraph"
)

// Built-in audio backbones (model.path builtin:audio and
// builtin:audio-multi): random-weight 1-D convolutions over a log-magnitude
// spectrogram, after Ulyanov & Lebedev's audio texture synthesis (2016) and
// Antognini, Hoffman and Weiss's several kernel widths (2019).
//
// The spectrogram's F bins are the input channels and its T frames the
// time axis. The graph takes it as [1, F, 1, T] and convolves with 1×K
// kernels: a 1-D convolution expressed in 2-D, since every part of nst
// after the backbone (activation shapes, Gram costs, total variation,
// Nets' tensors) works on [1,C,H,W]; with H = 1 the result is the same
// numbers a rank-3 Conv1d gives.
const (
	// AudioArch and AudioMultiArch are the names after builtin:.
	AudioArch      = "audio"
	AudioMultiArch = "audio-multi"
	// DefaultAudioFilters is the built-in audio backbones' filter count,
	// all kernel widths together. The filters must outnumber the
	// spectrogram's bins several times for the Gram matrices to pin down
	// the spectrum: at 257 bins (512-point frames, audio's default) 1024
	// filters gave a result whose mean magnitude spectrum correlates 0.999
	// with the style's, 256 only 0.71; Ulyanov & Lebedev's 4096 cost four
	// times the time (see audio.DefaultNFFT for larger frames).
	DefaultAudioFilters = 1024
	// AudioWidth is the kernel width, in frames, of builtin:audio.
	AudioWidth = 11
	// MaxAudioFilters bounds AudioSpec.Filters.
	MaxAudioFilters = 1 << 15
)

// AudioMultiWidths are builtin:audio-multi's kernel widths, in frames; each
// width is a branch conv_wK → relu_wK with the filters shared out evenly.
var AudioMultiWidths = []int{3, 7, 11, 19}

// AudioSpec describes a built-in audio backbone.
type AudioSpec struct {
	// Bins is F, the spectrogram's bin count (n_fft/2+1).
	Bins int
	// Filters is the filter count of all branches together.
	Filters int
	// Widths are the kernel widths, odd, in frames; one width gives a
	// VGG-style chain whose layers are conv1_1 and relu1_1, several give
	// branches named conv_wK and relu_wK.
	Widths []int
}

// SynthAudio builds the audio backbone of spec with He-normal weights
// (fan-in F·K) drawn, branch b in ONNX's [out,F,1,K] order, from the PCG
// stream (seed, b); biases are zero. The same arguments give the same
// bytes.
func SynthAudio(spec AudioSpec, seed int64) (*Backbone, error) {
	m, err := synthAudioModel(spec, seed)
	if err != nil {
		return nil, err
	}
	widths := make([]string, len(spec.Widths))
	for i, w := range spec.Widths {
		widths[i] = strconv.Itoa(w)
	}
	b, err := builtinBackbone(m, fmt.Sprintf("built-in random-weight 1-D audio backbone, %d bins, %d filters of width %s (seed %d)", spec.Bins, spec.Filters, strings.Join(widths, "/"), seed))
	if err != nil {
		return nil, err
	}
	b.sequence = true
	return b, nil
}

// audioSpecFor returns the spec of builtin:audio or builtin:audio-multi
// for bins bins and filters filters (0: DefaultAudioFilters).
func audioSpecFor(arch string, bins, filters int) (AudioSpec, error) {
	if filters == 0 {
		filters = DefaultAudioFilters
	}
	switch arch {
	case AudioArch:
		return AudioSpec{Bins: bins, Filters: filters, Widths: []int{AudioWidth}}, nil
	case AudioMultiArch:
		return AudioSpec{Bins: bins, Filters: filters, Widths: slices.Clone(AudioMultiWidths)}, nil
	}
	return AudioSpec{}, fmt.Errorf("built-in audio backbone %q: want audio or audio-multi", arch)
}

// IsAudioArch reports whether arch (the name after builtin:) is a built-in
// audio backbone.
func IsAudioArch(arch string) bool { return arch == AudioArch || arch == AudioMultiArch }

// synthAudioModel builds the ONNX model of spec with seeded weights.
func synthAudioModel(spec AudioSpec, seed int64) (*onnx.ModelProto, error) {
	switch {
	case spec.Bins < 1 || spec.Bins > 1<<16:
		return nil, fmt.Errorf("audio backbone: %d bins; want 1 to 65536", spec.Bins)
	case len(spec.Widths) == 0:
		return nil, fmt.Errorf("audio backbone: no kernel width")
	case spec.Filters < len(spec.Widths) || spec.Filters > MaxAudioFilters:
		return nil, fmt.Errorf("audio backbone: %d filters; want %d to %d", spec.Filters, len(spec.Widths), MaxAudioFilters)
	}
	for _, w := range spec.Widths {
		if w < 1 || w%2 == 0 || w > 255 {
			return nil, fmt.Errorf("audio backbone: kernel width %d; want an odd width from 1 to 255", w)
		}
	}
	g := &onnx.GraphProto{Name: "nst-synthetic-audio", Input: []*onnx.ValueInfoProto{onnxgraph.FloatValue("input", 1, int64(spec.Bins), 1, -1)}}
	var weights hugemem.Slab
	for b, width := range spec.Widths {
		// Filters shared out evenly, the first branches taking the rest.
		out := spec.Filters / len(spec.Widths)
		if b < spec.Filters%len(spec.Widths) {
			out++
		}
		conv, relu := "conv1_1", "relu1_1"
		if len(spec.Widths) > 1 {
			conv, relu = fmt.Sprintf("conv_w%d", width), fmt.Sprintf("relu_w%d", width)
		}
		pad := int64(width / 2)
		g.Node = append(g.Node,
			onnxgraph.Node("Conv", conv, []string{"input", conv + ".weight", conv + ".bias"}, []string{conv},
				onnxgraph.Ints("kernel_shape", 1, int64(width)), onnxgraph.Ints("pads", 0, pad, 0, pad), onnxgraph.Ints("strides", 1, 1)),
			onnxgraph.Node("Relu", relu, []string{conv}, []string{relu}))
		raw := weights.Bytes(4 * out * spec.Bins * width)
		putNormal(raw, weightStream(uint64(seed), uint64(b)), heStd(spec.Bins*width))
		g.Initializer = append(g.Initializer,
			&onnx.TensorProto{Name: conv + ".weight", Dims: []int64{int64(out), int64(spec.Bins), 1, int64(width)}, DataType: int32(onnx.TensorProto_FLOAT), RawData: raw},
			&onnx.TensorProto{Name: conv + ".bias", Dims: []int64{int64(out)}, DataType: int32(onnx.TensorProto_FLOAT), RawData: make([]byte, 4*out)})
		g.Output = append(g.Output, onnxgraph.FloatValue(relu, 1, int64(out), 1, -1))
	}
	m := onnxgraph.Model(g)
	m.DocString = "1-D convolutional audio feature extractor over a spectrogram with random He-normal weights, written by nst"
	return m, nil
}
