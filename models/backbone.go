package models

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/suggest"
)

// ErrUnknownLayer is wrapped by Lookup's error for a name the backbone does
// not have.
var ErrUnknownLayer = errors.New("unknown layer")

// Backbone is a loaded, normalised model with named layers. It is immutable
// and cheap to Prepare many times, for different sizes and layers, also
// from several goroutines; Nets it prepared may share a forward session
// (see Options.ForwardOnly).
type Backbone struct {
	source  string // the file, or "" for a built-in model
	builtin string // how a built-in model describes itself
	opset   int64  // the opset the file was written against
	convs   int
	canon   *canonical
	// sequence says the input is a spectrogram, [1,bins,1,frames], that
	// 1×K kernels convolve along the frames only (the built-in audio
	// backbones): its receptive fields are given in frames.
	sequence bool
	naming   string
	layers   []LayerInfo
	index    map[string]int

	digestOnce sync.Once
	digest     string
	digestOf   func() string // computes digest lazily where it is not known at load

	forwards forwardRegistry // forward sessions Nets of other sizes may share
}

// newBackbone normalises g and names its layers. For a VGG-style chain the
// graph keeps only the named layers: a classifier head has no nameable
// layer, and its weights are most of a model-zoo file's size.
func newBackbone(g *onnx.GraphProto, opset int64) (*Backbone, error) {
	c, err := canonicalize(g, opset)
	if err != nil {
		return nil, err
	}
	b := &Backbone{opset: opset, canon: c}
	if layers, blocks, pools, ok := vggLayers(c); ok {
		b.layers, b.naming = layers, vggNaming(blocks, pools)
		last := layers[len(layers)-1].Tensor
		kept, err := c.cut([]string{last}, "max")
		if err != nil {
			return nil, err
		}
		b.canon = kept
	} else {
		b.layers, b.naming = measureLayers(c, onnxLayers(c)), NamingONNX
	}
	if len(b.layers) == 0 {
		return nil, errors.New("no layer is computed from the image input")
	}
	b.layers = addOutputAliases(b.layers, b.canon)
	b.index = make(map[string]int, len(b.layers))
	for i, l := range b.layers {
		b.index[l.Name] = i
	}
	for _, n := range b.canon.graph.GetNode() {
		if n.GetOpType() == "Conv" {
			b.convs++
		}
	}
	return b, nil
}

// Layers lists every nameable layer in graph order; a graph output's
// name that repeats a layer (LayerInfo.AliasOf) follows that layer.
func (b *Backbone) Layers() []LayerInfo {
	return append([]LayerInfo(nil), b.layers...)
}

// Naming reports how layers are named: "vgg19" or "vgg16" for those
// architectures, "vgg" for VGG-style chains with other block counts (all
// three use conv1_1, relu1_1, ..., pool5), "onnx" for raw tensor names.
func (b *Backbone) Naming() string { return b.naming }

// Describe is a one-line description of the backbone for logs and reports.
func (b *Backbone) Describe() string {
	if b.source == "" {
		return b.builtin
	}
	return fmt.Sprintf("%s (%s naming, opset %d, %d convolutions)", b.source, b.naming, b.opset, b.convs)
}

// Digest is the hex SHA-256 of the model file, as sha256sum prints it. For a
// model with external data it covers the external bytes too (read in
// initializer order), so it still identifies the weights. For a built-in
// backbone it is the digest of the file WriteSynth writes.
func (b *Backbone) Digest() string {
	b.digestOnce.Do(func() {
		if b.digestOf != nil {
			b.digest = b.digestOf()
		}
	})
	return b.digest
}

// Lookup returns the layer called name. For a name the backbone does not
// have, the error wraps ErrUnknownLayer and suggests the nearest valid name.
func (b *Backbone) Lookup(name string) (LayerInfo, error) {
	if i, ok := b.index[name]; ok {
		return b.layers[i], nil
	}
	names := make([]string, len(b.layers))
	for i, l := range b.layers {
		names[i] = l.Name
	}
	// Always name the nearest layer, however far: layer names are terse and
	// a listing of them is one command away.
	best, _ := suggest.Nearest(name, names)
	return LayerInfo{}, fmt.Errorf("%w %q in %s (%s naming); did you mean %q? (nst model inspect lists them)", ErrUnknownLayer, name, b.shortName(), b.naming, best)
}

// shortName names the backbone briefly inside messages.
func (b *Backbone) shortName() string {
	if b.source == "" {
		return "the built-in backbone"
	}
	return filepath.Base(b.source)
}

// Inspect writes the listing of nst model inspect: the description, then
// one row per layer with its channel count, stride relative to the input,
// receptive field along each of the input's spatial axes (FieldAxes; "-"
// where the layer has none) and op (and, for structural names, the tensor
// the name stands for).
func (b *Backbone) Inspect(w io.Writer) error {
	fields, _ := b.canon.fields()
	if _, err := fmt.Fprintf(w, "%s\n%s\n\n", b.Describe(), b.fieldLegend()); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	structural := b.naming != NamingONNX
	header := "LAYER\tCHANNELS\tSTRIDE\tFIELD\tOP"
	if structural {
		header += "\tTENSOR"
	}
	fmt.Fprintln(tw, header)
	for _, l := range b.layers {
		channels, stride := "?", "-"
		if l.Channels > 0 {
			channels = strconv.Itoa(l.Channels)
		}
		if l.Stride > 0 {
			stride = strconv.Itoa(l.Stride)
		}
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%s", l.Name, channels, stride, b.fieldSizes(fields, l.Tensor), l.Op)
		if structural {
			row += "\t" + l.Tensor
		}
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}

// fieldSizes is the FIELD column of Inspect for tensor: the field's size
// along each spatial axis, joined by x ("5x5", "18x18x18", or "11" frames
// for a sequence), or "-" where it has none.
func (b *Backbone) fieldSizes(fields map[string]placed, tensor string) string {
	f, ok := fields[tensor]
	if !ok {
		return "-"
	}
	axes, err := b.axesOf(f.f)
	if err != nil {
		return "-"
	}
	sizes := make([]string, len(axes))
	for i, a := range axes {
		sizes[i] = strconv.Itoa(a.Size)
	}
	return strings.Join(sizes, "x")
}

// fieldLegend says what Inspect's FIELD column counts: input pixels,
// voxels or frames, along which axes.
func (b *Backbone) fieldLegend() string {
	axes := b.spatialAxes(b.canon.spatialRank())
	switch {
	case len(axes) == 3:
		return "FIELD: receptive field in input voxels, " + strings.Join(axes, " x ")
	case b.sequence:
		return "FIELD: receptive field in spectrogram frames"
	}
	return "FIELD: receptive field in input pixels, " + strings.Join(axes, " x ")
}
