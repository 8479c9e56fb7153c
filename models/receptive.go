package models

import (
	"errors"
	"fmt"
	"image"
	"slices"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// ReceptiveField is the part of the input image one unit of a layer can
// see. It is computed from the graph's windows, not estimated from where a
// unit looks most: it is the box around every input pixel some path of
// windows connects the unit to (a dilated window may skip pixels inside
// that box).
type ReceptiveField struct {
	// Height and Width are the field's extent in input pixels.
	Height, Width int
	// StrideY and StrideX are the input pixels between the fields of
	// neighbouring units along each axis.
	StrideY, StrideX int
	// Top and Left are the first input row and column the field of unit
	// (0, 0) covers. They are negative when the field reaches into the
	// zero padding around the image.
	Top, Left int
}

// Box returns the input pixels the field of the unit at activation row y,
// column x covers. The rectangle may extend beyond the image where the
// unit sees padding; intersect it with the image bounds to crop.
func (r ReceptiveField) Box(y, x int) image.Rectangle {
	x0, y0 := r.Left+x*r.StrideX, r.Top+y*r.StrideY
	return image.Rect(x0, y0, x0+r.Width, y0+r.Height)
}

// span is a receptive field along one axis: unit 0 sees input pixels lo to
// hi inclusive, and each further unit is jump pixels further on.
type span struct{ lo, hi, jump int }

// field is a receptive field along each spatial axis of the image, in the
// tensor's order (height then width for an image).
type field []span

// ReceptiveField computes the receptive field of layer by walking the
// graph from the image to the layer's tensor with the standard recurrence:
// a window of k taps (k_eff = d·(k−1)+1 with dilation d), stride s and
// leading padding p maps a field (lo, hi, jump) to
// (lo − p·jump, hi + (k_eff−1−p)·jump, jump·s). Convolutions, pooling and
// Pad change the field; elementwise, normalisation and channel ops keep it,
// and so do ops acting along non-spatial axes only (a Transpose to NHWC
// and back, LayerNormalization and Linear layers over the channels, a
// Gather of channels); where two image-derived tensors meet (a residual
// Add, a Concat) a unit sees the union of both fields. Layers after an op
// that mixes every position (Flatten, Gemm, global pooling, and so
// squeeze-excitation) or moves positions around (Resize, Reshape) have no
// receptive field, and the error says which op is in the way.
//
// ReceptiveField is for inputs of two spatial axes, [1,C,H,W] (the
// built-in audio backbones' [1,bins,1,frames] too, as height 1 by frames);
// a volume backbone's field has three, which FieldAxes gives.
func (b *Backbone) ReceptiveField(layer string) (ReceptiveField, error) {
	f, err := b.fieldOfLayer(layer)
	if err != nil {
		return ReceptiveField{}, err
	}
	if len(f) != 2 {
		return ReceptiveField{}, fmt.Errorf("receptive field of %s: the input has %d spatial axes (%s), not height and width; FieldAxes gives them", layer, len(f), strings.Join(b.spatialAxes(len(f)), ", "))
	}
	return ReceptiveField{
		Height: f[0].hi - f[0].lo + 1, Width: f[1].hi - f[1].lo + 1,
		StrideY: f[0].jump, StrideX: f[1].jump,
		Top: f[0].lo, Left: f[1].lo,
	}, nil
}

// FieldAxis is a receptive field along one spatial axis of a backbone's
// input.
type FieldAxis struct {
	// Axis names the input's axis: "height" and "width" for an image,
	// "depth", "height" and "width" for a volume, "frames" for the
	// spectrogram of a built-in audio backbone.
	Axis string
	// Size is the field's extent in input positions (pixels, voxels or
	// frames), Stride the input positions between the fields of
	// neighbouring units, and Start the first input position the field of
	// unit 0 covers; negative where the field reaches into the padding.
	Size, Stride, Start int
}

// FieldAxes returns the receptive field of layer along each spatial axis
// of the input, in the input's own order and units (see ReceptiveField for
// how it is computed): height and width for an image; depth, height and
// width for a volume, whose activations [1,C,d,h,w] the costs see as
// C×(d·h)×w but whose fields are the graph's, per axis; frames for a
// built-in audio backbone, whose [1,bins,1,frames] input has a height of
// 1 that its 1×K kernels never widen.
func (b *Backbone) FieldAxes(layer string) ([]FieldAxis, error) {
	f, err := b.fieldOfLayer(layer)
	if err != nil {
		return nil, err
	}
	axes, err := b.axesOf(f)
	if err != nil {
		return nil, fmt.Errorf("receptive field of %s: %w", layer, err)
	}
	return axes, nil
}

// fieldOfLayer is the field of layer's tensor, one span per spatial axis
// of the canonical input.
func (b *Backbone) fieldOfLayer(layer string) (field, error) {
	l, err := b.Lookup(layer)
	if err != nil {
		return nil, err
	}
	f, err := b.canon.fieldOf(l.Tensor)
	if err != nil {
		return nil, fmt.Errorf("receptive field of %s: %w", layer, err)
	}
	return f, nil
}

// spatialAxes names the r spatial axes of b's canonical input, or is nil
// for a count no input of a backbone has.
func (b *Backbone) spatialAxes(r int) []string {
	switch {
	case r == 3:
		return []string{"depth", "height", "width"}
	case r == 2 && b.sequence:
		return []string{"height", "frames"}
	case r == 2:
		return []string{"height", "width"}
	}
	return nil
}

// axesOf turns a field of b's canonical input into FieldAxes: one per
// spatial axis, but for a sequence backbone, whose height of 1 is a
// vehicle for 1-D convolutions, only the frames.
func (b *Backbone) axesOf(f field) ([]FieldAxis, error) {
	names := b.spatialAxes(len(f))
	if len(names) != len(f) {
		return nil, fmt.Errorf("%d spatial axes", len(f))
	}
	axes := make([]FieldAxis, 0, len(f))
	for a, s := range f {
		if b.sequence && names[a] == "height" {
			if s != (span{0, 0, 1}) {
				return nil, fmt.Errorf("a sequence's height of 1 has the field %+v; want one row", s)
			}
			continue
		}
		axes = append(axes, FieldAxis{Axis: names[a], Size: s.hi - s.lo + 1, Stride: s.jump, Start: s.lo})
	}
	return axes, nil
}

// spatialRank is the number of spatial axes of c's input: its rank less
// the batch and channel axes (2 for the [1,3,H,W] images of a backbone).
func (c *canonical) spatialRank() int {
	for _, in := range c.graph.GetInput() {
		if in.GetName() == c.input {
			if shape := in.GetType().GetTensorType().GetShape(); shape != nil && len(shape.GetDim()) > 2 {
				return len(shape.GetDim()) - 2
			}
		}
	}
	return 2
}

// placed is a field and where its spatial axes lie in the tensor: an
// image's height and width are axes 2 and 3 of [N,C,H,W], and a Transpose
// to NHWC moves them to 1 and 2.
type placed struct {
	f    field
	axes []int // tensor axis of each spatial axis
	rank int
}

// fieldOf returns the field of tensor, one span per spatial axis of the
// input, or the error of the first node on the way that has none.
func (c *canonical) fieldOf(tensor string) (field, error) {
	fields, failed := c.fields()
	if f, ok := fields[tensor]; ok {
		return f.f, nil
	}
	if err, ok := failed[tensor]; ok {
		return nil, err
	}
	return nil, fmt.Errorf("tensor %q is not computed from the image", tensor)
}

// fields walks c's nodes, which are in topological order, once and
// returns the field of every tensor computed from the image, and the
// error of every such tensor that has none. A node that cannot be
// analysed records its error on its outputs rather than failing at once:
// only an error on the way to a tensor that is asked for matters.
func (c *canonical) fields() (map[string]placed, map[string]error) {
	r := c.spatialRank()
	unit := placed{f: make(field, r), axes: make([]int, r), rank: r + 2}
	for a := range r {
		unit.f[a], unit.axes[a] = span{0, 0, 1}, 2+a
	}
	fields := map[string]placed{c.input: unit}
	failed := map[string]error{}
	for _, n := range c.graph.GetNode() {
		var in []placed
		var inErr error
		for _, name := range n.GetInput() {
			if f, ok := fields[name]; ok {
				in = append(in, f)
			} else if err, ok := failed[name]; ok && inErr == nil {
				inErr = err
			}
		}
		if len(in) == 0 && inErr == nil {
			continue // constants, or shapes computed from them
		}
		if skipsField[n.GetOpType()] {
			continue // reads only the tensor's shape: its outputs carry no pixels
		}
		var f placed
		err := inErr
		if err == nil {
			if f, err = nodeField(n, in, c.inits); err != nil {
				err = fmt.Errorf("node %q (%s): %w", label(n), n.GetOpType(), err)
			}
		}
		for i, name := range n.GetOutput() {
			if name == "" || (i > 0 && (n.GetOpType() == "MaxPool" || n.GetOpType() == "LayerNormalization")) {
				continue // MaxPool's indices, LayerNormalization's statistics
			}
			if err != nil {
				failed[name] = err
			} else {
				fields[name] = f
			}
		}
	}
	return fields, failed
}

// skipsField lists ops whose outputs describe a tensor's shape, not its
// pixels.
var skipsField = map[string]bool{"Shape": true, "Size": true}

// keepsField lists ops under which each output position depends on the
// same input position only (elementwise maths, activations, casts) or on
// the channels at that position (batch normalisation at inference, LRN,
// Concat along channels is handled beside them).
var keepsField = map[string]bool{
	"Relu": true, "LeakyRelu": true, "PRelu": true, "Elu": true, "Selu": true, "Celu": true,
	"Sigmoid": true, "HardSigmoid": true, "HardSwish": true, "Tanh": true, "Softplus": true,
	"Softsign": true, "Mish": true, "ThresholdedRelu": true, "Clip": true, "Abs": true, "Neg": true,
	"Exp": true, "Log": true, "Sqrt": true, "Reciprocal": true, "Pow": true, "Erf": true,
	"Sign": true, "Floor": true, "Ceil": true, "Round": true, "Cast": true,
	"Add": true, "Sub": true, "Mul": true, "Div": true, "Max": true, "Min": true, "Sum": true, "Mean": true,
	"BatchNormalization": true, "LRN": true,
}

// nodeField is the field of n's outputs given the fields of its
// image-derived inputs (at least one). Ops that act along axes (Concat,
// Split, reductions, LayerNormalization, MatMul, Gather) keep the field
// when those axes hold no image position; Transpose, Unsqueeze and a
// Squeeze or scalar Gather of other axes move the spatial axes.
func nodeField(n *onnx.NodeProto, in []placed, inits map[string]*onnx.TensorProto) (placed, error) {
	p := in[0]
	spatial := func(axis int64) (bool, error) {
		a, err := normalAxis(axis, p.rank)
		return slices.Contains(p.axes, a), err
	}
	along := func(axes ...int64) error {
		for _, a := range axes {
			s, err := spatial(a)
			if err != nil {
				return err
			}
			if s {
				return fmt.Errorf("%s along axis %d mixes or moves image positions", n.GetOpType(), a)
			}
		}
		return nil
	}
	switch op := n.GetOpType(); {
	case keepsField[op]:
		return union(in)
	case op == "Concat" || op == "Split":
		if err := along(onnxgraph.AttrInt(n, "axis", 0)); err != nil {
			return placed{}, err
		}
		return union(in)
	case op == "Conv" || op == "MaxPool" || op == "AveragePool" || op == "LpPool":
		if len(in) != 1 || len(n.GetInput()) == 0 {
			return placed{}, errors.New("weights computed from the image")
		}
		if !slices.Equal(p.axes, spatialAxes(len(p.f))) {
			return placed{}, fmt.Errorf("image axes at %v of a rank-%d tensor, not after batch and channels", p.axes, p.rank)
		}
		w, err := readWindow(n, inits, len(p.f))
		if err != nil {
			return placed{}, err
		}
		p.f = w.apply(p.f)
		return p, nil
	case op == "Pad":
		f, err := padField(n, []field{p.f}, inits)
		p.f = f
		return p, err
	case op == "Transpose":
		perm := onnxgraph.AttrInts(n, "perm", nil)
		if len(perm) != p.rank {
			return placed{}, fmt.Errorf("perm %v for rank %d", perm, p.rank)
		}
		axes := make([]int, len(p.axes))
		for a, old := range p.axes {
			axes[a] = slices.Index(perm, int64(old))
		}
		p.axes = axes
		return p, nil
	case op == "LayerNormalization":
		axis, err := normalAxis(onnxgraph.AttrInt(n, "axis", -1), p.rank)
		if err != nil {
			return placed{}, err
		}
		for a := axis; a < p.rank; a++ {
			if err := along(int64(a)); err != nil {
				return placed{}, err
			}
		}
		return p, nil
	case op == "MatMul":
		// x·W with a constant W mixes x's last axis only.
		if len(in) != 1 || len(n.GetInput()) < 2 || inits[n.GetInput()[1]] == nil || len(inits[n.GetInput()[1]].GetDims()) != 2 {
			return placed{}, errors.New("only a product with a constant matrix keeps positions")
		}
		return p, along(-1)
	case op == "ReduceMean" || op == "ReduceSum" || op == "ReduceMax" || op == "ReduceL2":
		axes := onnxgraph.AttrInts(n, "axes", nil)
		if len(axes) == 0 {
			return placed{}, errors.New("it reduces every axis")
		}
		if err := along(axes...); err != nil {
			return placed{}, err
		}
		if onnxgraph.AttrInt(n, "keepdims", 1) == 0 {
			return p.drop(axes)
		}
		return p, nil
	case op == "Gather":
		axis := onnxgraph.AttrInt(n, "axis", 0)
		if err := along(axis); err != nil {
			return placed{}, err
		}
		idx := inits[inputAt(n, 1)]
		if idx == nil || len(in) != 1 {
			return placed{}, errors.New("indices computed from the image")
		}
		if len(idx.GetDims()) == 0 {
			return p.drop([]int64{axis})
		}
		if len(idx.GetDims()) != 1 {
			return placed{}, errors.New("multi-dimensional indices")
		}
		return p, nil
	case op == "Unsqueeze" || op == "Squeeze":
		t := inits[inputAt(n, 1)]
		if t == nil {
			return placed{}, errors.New("axes computed at run time")
		}
		axes, err := onnxgraph.Int64Data(t)
		if err != nil {
			return placed{}, err
		}
		if op == "Squeeze" {
			if err := along(axes...); err != nil {
				return placed{}, err
			}
			return p.drop(axes)
		}
		return p.insert(axes)
	}
	return placed{}, errors.New("no receptive field after it: it mixes or moves image positions")
}

// spatialAxes is the layout of r spatial axes after batch and channels.
func spatialAxes(r int) []int {
	axes := make([]int, r)
	for a := range axes {
		axes[a] = 2 + a
	}
	return axes
}

// normalAxis maps a possibly negative axis into [0, rank).
func normalAxis(axis int64, rank int) (int, error) {
	if axis < 0 {
		axis += int64(rank)
	}
	if axis < 0 || axis >= int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	return int(axis), nil
}

// drop removes tensor axes (none of them spatial), shifting the spatial
// axes after them.
func (p placed) drop(axes []int64) (placed, error) {
	gone := make([]int, 0, len(axes))
	for _, a := range axes {
		v, err := normalAxis(a, p.rank)
		if err != nil {
			return placed{}, err
		}
		gone = append(gone, v)
	}
	out := placed{f: p.f, axes: make([]int, len(p.axes)), rank: p.rank - len(gone)}
	for i, a := range p.axes {
		out.axes[i] = a
		for _, g := range gone {
			if g < a {
				out.axes[i]--
			}
		}
	}
	return out, nil
}

// insert adds axes of size 1 at the given positions of the result,
// shifting the spatial axes at or after them.
func (p placed) insert(axes []int64) (placed, error) {
	rank := p.rank + len(axes)
	added := make([]bool, rank)
	for _, a := range axes {
		v, err := normalAxis(a, rank)
		if err != nil {
			return placed{}, err
		}
		added[v] = true
	}
	// Map old axes to new positions in order.
	pos := make([]int, 0, p.rank)
	for i := range rank {
		if !added[i] {
			pos = append(pos, i)
		}
	}
	out := placed{f: p.f, axes: make([]int, len(p.axes)), rank: rank}
	for i, a := range p.axes {
		out.axes[i] = pos[a]
	}
	return out, nil
}

// inputAt returns input i of n, or "".
func inputAt(n *onnx.NodeProto, i int) string {
	if i < len(n.GetInput()) {
		return n.GetInput()[i]
	}
	return ""
}

// union is the field of a unit that sees all of fields at once. The
// fields must lie at the same axes of tensors of one rank.
func union(fields []placed) (placed, error) {
	u := fields[0]
	u.f = slices.Clone(u.f)
	for _, f := range fields[1:] {
		if len(f.f) != len(u.f) || f.rank != u.rank || !slices.Equal(f.axes, u.axes) {
			return placed{}, fmt.Errorf("inputs with image axes %v and %v meet", u.axes, f.axes)
		}
		for a := range u.f {
			if f.f[a].jump != u.f[a].jump {
				return placed{}, fmt.Errorf("inputs with strides %d and %d meet", u.f[a].jump, f.f[a].jump)
			}
			u.f[a].lo, u.f[a].hi = min(u.f[a].lo, f.f[a].lo), max(u.f[a].hi, f.f[a].hi)
		}
	}
	return u, nil
}

// window is a sliding window along each spatial axis.
type window struct {
	kernel, stride, dilation, lead []int
}

// apply maps the field of a window's input to that of its output.
func (w window) apply(f field) field {
	out := make(field, len(f))
	for a, s := range f {
		keff := w.dilation[a]*(w.kernel[a]-1) + 1
		out[a] = span{
			lo:   s.lo - w.lead[a]*s.jump,
			hi:   s.hi + (keff-1-w.lead[a])*s.jump,
			jump: s.jump * w.stride[a],
		}
	}
	return out
}

// readWindow reads the window of a Conv or pooling node over r spatial
// axes: kernel from kernel_shape or, for Conv, the weight's dimensions;
// strides, dilations and leading padding from the attributes.
func readWindow(n *onnx.NodeProto, inits map[string]*onnx.TensorProto, r int) (window, error) {
	kernel := onnxgraph.AttrInts(n, "kernel_shape", nil)
	if kernel == nil && n.GetOpType() == "Conv" && len(n.GetInput()) > 1 {
		if t := inits[n.GetInput()[1]]; t != nil && len(t.GetDims()) > 2 {
			kernel = t.GetDims()[2:]
		}
	}
	if len(kernel) != r {
		return window{}, fmt.Errorf("kernel %v: want a %d-d window over the image's spatial axes", kernel, r)
	}
	ones := slices.Repeat([]int64{1}, r)
	strides := onnxgraph.AttrInts(n, "strides", ones)
	dilations := onnxgraph.AttrInts(n, "dilations", ones)
	pads := onnxgraph.AttrInts(n, "pads", make([]int64, 2*r))
	if len(strides) != r || len(dilations) != r || len(pads) != 2*r {
		return window{}, fmt.Errorf("strides %v, dilations %v, pads %v do not fit a %d-d window", strides, dilations, pads, r)
	}
	w := window{kernel: make([]int, r), stride: make([]int, r), dilation: make([]int, r), lead: make([]int, r)}
	for a := range r {
		w.kernel[a], w.stride[a], w.dilation[a], w.lead[a] = int(kernel[a]), int(strides[a]), int(dilations[a]), int(pads[a])
		if w.kernel[a] < 1 || w.stride[a] < 1 || w.dilation[a] < 1 || w.lead[a] < 0 {
			return window{}, fmt.Errorf("kernel %v, strides %v, dilations %v, pads %v: want positive sizes and non-negative pads", kernel, strides, dilations, pads)
		}
	}
	switch autoPad := onnxgraph.AttrString(n, "auto_pad", "NOTSET"); autoPad {
	case "NOTSET":
	case "VALID":
		clear(w.lead)
	case "SAME_UPPER", "SAME_LOWER":
		for a := range r {
			// The total padding is k_eff−1 whatever the input size only at
			// stride 1; with a larger stride it depends on the size.
			if w.stride[a] != 1 {
				return window{}, fmt.Errorf("auto_pad %s with stride %d: the padding, and so the field's position, depends on the image size", autoPad, w.stride[a])
			}
			total := w.dilation[a] * (w.kernel[a] - 1)
			w.lead[a] = total / 2
			if autoPad == "SAME_LOWER" {
				w.lead[a] = total - total/2
			}
		}
	default:
		return window{}, fmt.Errorf("auto_pad %q", autoPad)
	}
	return w, nil
}

// padField shifts a field by the leading padding of a Pad node, whose pads
// (an initializer in opset-17 form) list the begins of every axis, then
// the ends.
func padField(n *onnx.NodeProto, in []field, inits map[string]*onnx.TensorProto) (field, error) {
	if len(in) != 1 || len(n.GetInput()) < 2 {
		return nil, errors.New("pads computed from the image")
	}
	t := inits[n.GetInput()[1]]
	if t == nil {
		return nil, errors.New("pads computed at run time")
	}
	pads, err := onnxgraph.Int64Data(t)
	if err != nil {
		return nil, err
	}
	r := len(in[0])
	rank := r + 2
	if len(pads) != 2*rank {
		return nil, fmt.Errorf("pads %v: want %d values for a tensor of rank %d", pads, 2*rank, rank)
	}
	if pads[0] != 0 || pads[1] != 0 || pads[rank] != 0 || pads[rank+1] != 0 {
		return nil, fmt.Errorf("pads %v change the batch or channel axis", pads)
	}
	f := slices.Clone(in[0])
	for a := range f {
		lead := int(pads[2+a])
		f[a].lo -= lead * f[a].jump
		f[a].hi -= lead * f[a].jump
	}
	return f, nil
}
