package autodiff

import (
	"fmt"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// maxPoolGrad routes each output's gradient to the element the forward
// picked, through the argmax indices the forward MaxPool is made to output
// (recomputing the argmax would cost more than the extra output).
// Non-overlapping windows pick each element at most once, so MaxUnpool's
// plain scatter is exact, and faster than ScatterElements; overlapping
// windows may pick an element several times and need ScatterElements' add
// reduction.
func maxPoolGrad(b *builder, dy string, _ []bool) ([]string, error) {
	x, y, win, err := poolShapes(b)
	if err != nil {
		return nil, err
	}
	indices, err := b.maxPoolIndices(y)
	if err != nil {
		return nil, err
	}
	if relu := b.reluFeedingOnlyThis(); relu != "" {
		// At every window's argmax the ReLU input was positive exactly when
		// the pooled output is, and the scatter below writes nowhere else:
		// masking here, at the pooled size, is exact and spares saving and
		// masking the ReLU's full-size output.
		pooled, err := b.read(output(b.node, 0))
		if err != nil {
			return nil, err
		}
		dy = b.applyMask(dy, b.op("Greater", []string{pooled, b.scalar(0)}))
		b.masked[relu] = true
	}
	fits := true
	for i := range win.out {
		fits = fits && y[2+i] <= x[2+i]
	}
	if !win.overlapping() && fits {
		// MaxUnpool's attributes only size its default output; unit
		// windows keep that below the explicit output shape, which
		// ceil_mode windows overhanging the input would otherwise exceed.
		r := len(win.kernel)
		return []string{b.op("MaxUnpool", []string{dy, indices, b.ints(x...)},
			onnxgraph.Ints("kernel_shape", ones64(r)...),
			onnxgraph.Ints("strides", ones64(r)...))}, nil
	}
	numel, err := onnxgraph.NumElements(x)
	if err != nil {
		return nil, err
	}
	zeros := b.op("ConstantOfShape", []string{b.ints(numel)})
	flatIdx := b.op("Reshape", []string{indices, b.ints(-1)})
	flatDy := b.op("Reshape", []string{dy, b.ints(-1)})
	acc := b.op("ScatterElements", []string{zeros, flatIdx, flatDy},
		onnxgraph.Int("axis", 0), onnxgraph.String("reduction", "add"))
	return []string{b.op("Reshape", []string{acc, b.ints(x...)})}, nil
}

// maxPoolIndices makes the forward copy of b.node output its argmax
// indices, flattened over the whole input (storage_order 0), and returns
// the saved tensor's name.
func (b *builder) maxPoolIndices(y []int64) (string, error) {
	order := onnxgraph.AttrInt(b.node, "storage_order", 0)
	if idx := output(b.node, 1); idx != "" {
		if order != 0 {
			return "", fmt.Errorf("its Indices output %q uses storage_order=1; only row-major indices are supported", idx)
		}
		b.save(idx, onnx.TensorProto_INT64)
		return idx, nil
	}
	idx := b.fresh(output(b.node, 0) + "_indices")
	f := b.fwdNode
	f.Output = append(f.Output[:1], idx)
	if order != 0 {
		// Without an Indices output, storage_order changed nothing, so the
		// copy may switch to the row-major order the backward expects.
		for _, a := range f.Attribute {
			if a.GetName() == "storage_order" {
				a.I = 0
			}
		}
	}
	b.shapes[idx] = slices.Clone(y)
	b.save(idx, onnx.TensorProto_INT64)
	return idx, nil
}

// averagePoolGrad spreads each output's gradient evenly over its window.
//
// Windows that tile the input exactly (kernel == stride, no padding) are an
// upsampling: Resize (nearest), far faster than Expand or DepthToSpace.
// Any other geometry is a depthwise ConvTranspose with a ones kernel,
// applied to dy divided per output by the window's divisor. That divisor is
// computed in the graph as AveragePool(ones)/count, count being the
// window's number of real elements, so it is exactly the one ONNX Runtime
// used in the forward whatever its count_include_pad and ceil_mode
// conventions (they differ from the ONNX reference for windows overhanging
// the padding).
func averagePoolGrad(b *builder, dy string, _ []bool) ([]string, error) {
	x, y, win, err := poolShapes(b)
	if err != nil {
		return nil, err
	}
	r := len(win.kernel)
	tiles, partial := true, false
	size := int64(1)
	for i := range r {
		tiles = tiles && win.kernel[i] == win.strides[i] && win.dilations[i] == 1 &&
			win.padBegin[i] == 0 && y[2+i]*win.kernel[i] <= x[2+i]
		partial = partial || y[2+i]*win.kernel[i] < x[2+i]
		size *= win.kernel[i]
	}
	if tiles {
		g := b.op("Mul", []string{dy, b.scalar(1 / float32(size))})
		scales := append([]float32{1, 1}, make([]float32, r)...)
		for i, k := range win.kernel {
			scales[2+i] = float32(k)
		}
		g = b.op("Resize", []string{g, "", b.floats("scales", []int64{int64(len(scales))}, scales)},
			onnxgraph.String("mode", "nearest"),
			onnxgraph.String("coordinate_transformation_mode", "asymmetric"),
			onnxgraph.String("nearest_mode", "floor"))
		if partial {
			// Rows and columns no window reached get no gradient.
			pads := make([]int64, 2*len(x))
			for i := range r {
				pads[len(x)+2+i] = x[2+i] - y[2+i]*win.kernel[i]
			}
			g = b.op("Pad", []string{g, b.ints(pads...)})
		}
		return []string{g}, nil
	}

	spatial := append([]int64{1, 1}, x[2:]...)
	ones := b.op("ConstantOfShape", []string{b.ints(spatial...)},
		&onnx.AttributeProto{Name: "value", Type: onnx.AttributeProto_TENSOR, T: onnxgraph.Floats32("value", []int64{1}, []float32{1})})
	var attrs []*onnx.AttributeProto
	for _, a := range b.node.GetAttribute() {
		attrs = append(attrs, proto.Clone(a).(*onnx.AttributeProto))
	}
	avg := b.op("AveragePool", []string{ones}, attrs...)
	inv := b.floats("inv_count", append([]int64{1, 1}, y[2:]...), inverseCounts(win, x[2:]))
	g := b.op("Mul", []string{dy, b.op("Mul", []string{avg, inv})})

	c := x[1]
	kernel := make([]float32, c*size)
	for i := range kernel {
		kernel[i] = 1
	}
	w := b.floats("ones_kernel", append([]int64{c, 1}, win.kernel...), kernel)
	return []string{b.transposedConv(g, w, win.kernel, win, x, y, c)}, nil
}

// inverseCounts returns, for every output position, 1 over the number of
// input elements (not padding) in its window, or 0 for a window holding
// none.
func inverseCounts(win window, in []int64) []float32 {
	r := len(in)
	perAxis := make([][]int64, r)
	for i := range r {
		perAxis[i] = make([]int64, win.out[i])
		for o := range win.out[i] {
			for j := range win.kernel[i] {
				p := o*win.strides[i] - win.padBegin[i] + j*win.dilations[i]
				if p >= 0 && p < in[i] {
					perAxis[i][o]++
				}
			}
		}
	}
	total := int64(1)
	for _, o := range win.out {
		total *= o
	}
	out := make([]float32, total)
	idx := make([]int64, r)
	for k := range out {
		count := int64(1)
		for i := range r {
			count *= perAxis[i][idx[i]]
		}
		if count > 0 {
			out[k] = 1 / float32(count)
		}
		for i := r - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < win.out[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out
}

// reluFeedingOnlyThis returns b.node's input when a ReLU produced it, no
// other node reads it and it is no seed: then its gradient is this node's
// alone. Otherwise it returns "".
func (b *builder) reluFeedingOnlyThis() string {
	x := input(b.node, 0)
	p, ok := b.ix.producer[x]
	if !ok || b.seeds[x] || len(b.ix.consumers[x]) != 1 {
		return ""
	}
	if n := b.ix.g.GetNode()[p]; n.GetOpType() != "Relu" || !standardDomain(n) {
		return ""
	}
	return x
}

// poolShapes reads a pooling node's input and output shapes and its window.
func poolShapes(b *builder) (x, y []int64, win window, err error) {
	if x, y, err = ioShapes(b); err != nil {
		return nil, nil, window{}, err
	}
	if len(x) < 3 {
		return nil, nil, window{}, fmt.Errorf("input %v: want rank 3 or more", x)
	}
	win, err = poolWindow(b.node, x[2:])
	return x, y, win, err
}
