package models

import (
	"fmt"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/onnxgraph"
	"github.com/nst-project/nst/models/autodiff"
)

// Naming schemes a Backbone can use; see Backbone.Naming.
const (
	NamingVGG19 = "vgg19"
	NamingVGG16 = "vgg16"
	NamingVGG   = "vgg"
	NamingONNX  = "onnx"
)

// LayerInfo describes one layer a configuration can request.
type LayerInfo struct {
	// Name is what a configuration writes: relu4_2 for VGG-style chains,
	// the ONNX tensor name otherwise, or the name of a graph output (see
	// AliasOf).
	Name string
	// Tensor is the ONNX tensor holding the layer's activation.
	Tensor string
	// Op is the op type producing it, as in the file (a MaxPool stays
	// MaxPool here even when a run swaps it for average pooling).
	Op string
	// Node is the producing node's name in the file; it may be empty.
	Node string
	// Channels is the activation's channel count; 0 where the graph does
	// not say it statically.
	Channels int
	// Stride is how many input pixels one activation pixel spans along the
	// height; 0 where the activation has no spatial grid any more (after
	// Flatten, Gemm or global pooling) or the stride is not a whole number.
	Stride int
	// AliasOf is set when Name is a graph output's name for a tensor that
	// has a name of its own: it is that other name (a VGG-style chain's
	// relu5_1 for an output "features", or the tensor an Identity passed
	// to the output). Layers lists an alias right after the layer it
	// repeats.
	AliasOf string
}

// addOutputAliases makes every graph output of c a layer name: an output
// whose name is no layer's yet becomes an alias of the layer computing its
// tensor. Outputs computed by no layer (a shape, a constant) are left out.
func addOutputAliases(layers []LayerInfo, c *canonical) []LayerInfo {
	names := map[string]bool{}
	for _, l := range layers {
		names[l.Name] = true
	}
	aliases := map[int][]LayerInfo{}
	for _, o := range c.outputs {
		if names[o.name] {
			continue
		}
		i := slices.IndexFunc(layers, func(l LayerInfo) bool { return l.Tensor == o.tensor && l.AliasOf == "" })
		if i < 0 {
			continue
		}
		a := layers[i]
		a.Name, a.AliasOf = o.name, layers[i].Name
		aliases[i] = append(aliases[i], a)
		names[o.name] = true
	}
	if len(aliases) == 0 {
		return layers
	}
	out := make([]LayerInfo, 0, len(layers)+len(aliases))
	for i, l := range layers {
		out = append(out, l)
		out = append(out, aliases[i]...)
	}
	return out
}

// headOps may start a classifier head right after a VGG-style feature chain.
var headOps = map[string]bool{
	"Flatten": true, "Reshape": true, "Gemm": true, "MatMul": true,
	"GlobalAveragePool": true, "GlobalMaxPool": true,
}

// isPool reports whether op is a windowed pooling nst can swap.
func isPool(op string) bool { return op == "MaxPool" || op == "AveragePool" }

// vggLayers names a VGG-style graph: a single chain from the input of
// Conv [BatchNormalization] Relu units and pooling, up to the graph's end or
// a classifier head. Names follow the order of the nodes, never what the
// exporter called them: block b counts pools, unit i counts convolutions
// within the block. ok is false for any other structure; blocks has the
// convolution count of each block.
func vggLayers(c *canonical) (layers []LayerInfo, blocks []int, pools int, ok bool) {
	consumers := map[string][]*onnx.NodeProto{}
	for _, n := range c.graph.GetNode() {
		for _, in := range n.GetInput() {
			consumers[in] = append(consumers[in], n)
		}
	}
	const (
		afterPool = iota // at the input or after a pool: a Conv must follow
		afterConv
		afterNorm
		afterRelu
	)
	state, block, unit, stride := afterPool, 1, 0, 1
	channels := 3
	cur := c.input
	for {
		cs := consumers[cur]
		if len(cs) == 0 {
			break // the graph ends here
		}
		if len(cs) != 1 {
			return nil, nil, 0, false // a branch: not a chain
		}
		n := cs[0]
		op := n.GetOpType()
		if len(n.GetInput()) == 0 || n.GetInput()[0] != cur || !onlyWeightsBeside(n, c) {
			return nil, nil, 0, false
		}
		var name string
		switch {
		case op == "Conv" && (state == afterPool || state == afterRelu):
			w := c.inits[n.GetInput()[1]]
			if w == nil || len(w.GetDims()) != 4 {
				return nil, nil, 0, false
			}
			unit++
			channels = int(w.GetDims()[0])
			stride *= int(firstOr(onnxgraph.AttrInts(n, "strides", nil), 1))
			name, state = fmt.Sprintf("conv%d_%d", block, unit), afterConv
		case op == "BatchNormalization" && state == afterConv:
			name, state = fmt.Sprintf("bn%d_%d", block, unit), afterNorm
		case op == "Relu" && (state == afterConv || state == afterNorm):
			name, state = fmt.Sprintf("relu%d_%d", block, unit), afterRelu
		case isPool(op) && state == afterRelu:
			stride *= int(firstOr(onnxgraph.AttrInts(n, "strides", nil), 1))
			name, state = fmt.Sprintf("pool%d", block), afterPool
		case (headOps[op] || isPool(op)) && (state == afterRelu || state == afterPool):
			// The features end here; what follows is a classifier head
			// (for torchvision's full model, its adaptive pooling first).
			return layers, closeBlocks(blocks, unit), pools, len(layers) > 0
		default:
			return nil, nil, 0, false
		}
		layers = append(layers, LayerInfo{Name: name, Tensor: n.GetOutput()[0], Op: op, Node: n.GetName(), Channels: channels, Stride: stride})
		if state == afterPool {
			blocks = append(blocks, unit)
			pools++
			block, unit = block+1, 0
		}
		cur = n.GetOutput()[0]
	}
	if state == afterConv || state == afterNorm {
		return nil, nil, 0, false // a convolution without its activation
	}
	return layers, closeBlocks(blocks, unit), pools, len(layers) > 0
}

// closeBlocks appends the last block when it ended without a pool.
func closeBlocks(blocks []int, unit int) []int {
	if unit > 0 {
		return append(blocks, unit)
	}
	return blocks
}

// onlyWeightsBeside reports whether every input of n but the first is an
// initializer (or omitted), as in a plain chain.
func onlyWeightsBeside(n *onnx.NodeProto, c *canonical) bool {
	for _, in := range n.GetInput()[1:] {
		if _, ok := c.inits[in]; in != "" && !ok {
			return false
		}
	}
	return true
}

// firstOr returns v[0], or def when v is empty.
func firstOr(v []int64, def int64) int64 {
	if len(v) == 0 {
		return def
	}
	return v[0]
}

// vggNaming names the scheme of a VGG-style chain from its block structure.
func vggNaming(blocks []int, pools int) string {
	switch {
	case pools == 5 && slices.Equal(blocks, []int{2, 2, 4, 4, 4}):
		return NamingVGG19
	case pools == 5 && slices.Equal(blocks, []int{2, 2, 3, 3, 3}):
		return NamingVGG16
	}
	return NamingVGG
}

// geometry is what inspect shows of an activation besides its op.
type geometry struct{ channels, stride int }

// onnxLayers lists, for a graph that is not a VGG-style chain, every tensor
// computed from the image, in graph order, under its ONNX name. Channel
// counts and strides are propagated from the weights and pooling attributes
// rather than by full shape inference, so that inspect works for any
// graph, including ops the gradient does not support.
func onnxLayers(c *canonical) []LayerInfo {
	geo := map[string]geometry{c.input: {channels: 3, stride: 1}}
	var layers []LayerInfo
	for _, n := range c.graph.GetNode() {
		in, fromImage := geometry{}, false
		for _, name := range n.GetInput() {
			if g, ok := geo[name]; ok {
				in, fromImage = g, true
				break
			}
		}
		if !fromImage || skipsField[n.GetOpType()] {
			continue // computes constants or shapes, not activations
		}
		out := propagate(n, in, geo, c.inits)
		for i, name := range n.GetOutput() {
			if name == "" || (n.GetOpType() == "MaxPool" && i == 1) {
				continue // MaxPool's second output holds indices
			}
			geo[name] = out
			layers = append(layers, LayerInfo{Name: name, Tensor: name, Op: n.GetOpType(), Node: n.GetName(), Channels: out.channels, Stride: out.stride})
		}
	}
	return layers
}

// measureSizes are the image sides at which measureLayers infers shapes:
// they differ by 672 = 2⁵·3·7, so a layer of any stride dividing 672
// (1, 2, 3, 4, 6, 7, 8, ..., 32) differs in size by exactly 672/stride,
// whatever its windows round.
var measureSizes = [2]int64{224, 224 + 672}

// measureLayers replaces the propagated channels and strides of layers by
// those static shape inference finds at two image sizes, which also sees
// through ops propagate cannot (Split, channel shuffles' Reshapes,
// Transposes): channels where axis 1 has the same size at both, the stride
// from how much axis 2 grows. Where inference fails (after an op without
// a shape rule), the propagated values stay.
func measureLayers(c *canonical, layers []LayerInfo) []LayerInfo {
	var shapes [2]autodiff.Shapes
	for i, side := range measureSizes {
		var err error
		in := []int64{1, int64(c.channels), side, side}
		if c.depth {
			in = append(in, side)
		}
		if shapes[i], err = autodiff.PartialShapes(c.graph, autodiff.Shapes{c.input: in}); err != nil {
			return layers
		}
	}
	out := slices.Clone(layers)
	for i, l := range out {
		a, b := shapes[0][l.Tensor], shapes[1][l.Tensor]
		if len(a) != len(b) || len(a) < 2 {
			continue
		}
		out[i].Channels, out[i].Stride = 0, 0
		if a[1] == b[1] {
			out[i].Channels = int(a[1])
		}
		if len(a) < 3 {
			continue
		}
		grow := measureSizes[1] - measureSizes[0]
		if d := b[2] - a[2]; d > 0 && grow%d == 0 {
			out[i].Stride = int(grow / d)
		}
	}
	return out
}

// propagate computes the geometry of n's outputs from that of its first
// image-derived input.
func propagate(n *onnx.NodeProto, in geometry, geo map[string]geometry, inits map[string]*onnx.TensorProto) geometry {
	scale := func(strides []int64) int {
		if in.stride == 0 {
			return 0
		}
		return in.stride * int(firstOr(strides, 1))
	}
	weightDims := func(i int) []int64 {
		if i < len(n.GetInput()) {
			if t := inits[n.GetInput()[i]]; t != nil {
				return t.GetDims()
			}
		}
		return nil
	}
	switch n.GetOpType() {
	case "Conv":
		ch := 0
		if d := weightDims(1); len(d) > 0 {
			ch = int(d[0])
		}
		return geometry{channels: ch, stride: scale(onnxgraph.AttrInts(n, "strides", nil))}
	case "ConvTranspose":
		ch, s := 0, int(firstOr(onnxgraph.AttrInts(n, "strides", nil), 1))
		if d := weightDims(1); len(d) > 1 {
			ch = int(d[1] * onnxgraph.AttrInt(n, "group", 1))
		}
		if in.stride%s != 0 {
			return geometry{channels: ch}
		}
		return geometry{channels: ch, stride: in.stride / s}
	case "MaxPool", "AveragePool", "LpPool":
		return geometry{channels: in.channels, stride: scale(onnxgraph.AttrInts(n, "strides", nil))}
	case "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool":
		return geometry{channels: in.channels}
	case "Flatten", "Reshape":
		return geometry{}
	case "Gemm":
		d := weightDims(1)
		if len(d) != 2 {
			return geometry{}
		}
		if onnxgraph.AttrInt(n, "transB", 0) != 0 {
			return geometry{channels: int(d[0])}
		}
		return geometry{channels: int(d[1])}
	case "MatMul":
		if d := weightDims(1); len(d) == 2 {
			return geometry{channels: int(d[1])}
		}
		return geometry{}
	case "Concat":
		if onnxgraph.AttrInt(n, "axis", 1) != 1 {
			return in
		}
		sum := 0
		for _, name := range n.GetInput() {
			g, ok := geo[name]
			if !ok || g.channels == 0 {
				return geometry{stride: in.stride}
			}
			sum += g.channels
		}
		return geometry{channels: sum, stride: in.stride}
	}
	// Elementwise ops, activations, normalisations and the like keep the
	// geometry of their input.
	return in
}
