package autodiff

import (
	"fmt"
	"math"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// Shapes maps tensor names to static shapes.
type Shapes map[string][]int64

// InferShapes returns the static shape of every tensor of g (inputs,
// initializers, node outputs) given the shapes of g's non-initializer inputs.
//
// It knows the ops Differentiate supports plus common classifier-head ops
// (Gemm, MatMul, Softmax, global pooling, Transpose, Squeeze, Unsqueeze,
// Shape, unary activations). For any other op it takes the output shapes
// the graph declares in value_info or outputs, and fails when those are not
// static.
func InferShapes(g *onnx.GraphProto, inputs Shapes) (Shapes, error) {
	ix, err := indexGraph(g)
	if err != nil {
		return nil, fmt.Errorf("infer shapes: %w", err)
	}
	return ix.inferShapes(inputs)
}

func (ix *graphIndex) inferShapes(inputs Shapes) (Shapes, error) {
	shapes := Shapes{}
	for name := range ix.inputs {
		s, ok := inputs[name]
		if !ok {
			return nil, fmt.Errorf("infer shapes: no shape given for graph input %q", name)
		}
		for _, d := range s {
			if d < 0 {
				return nil, fmt.Errorf("infer shapes: graph input %q has shape %v; all dimensions must be known", name, s)
			}
		}
		shapes[name] = append([]int64{}, s...)
	}
	for name, t := range ix.inits {
		shapes[name] = append([]int64{}, t.GetDims()...)
	}
	declared := declaredShapes(ix.g)
	for _, i := range ix.order {
		n := ix.g.GetNode()[i]
		in := make([][]int64, len(n.GetInput()))
		for j, name := range n.GetInput() {
			if name != "" {
				in[j] = shapes[name]
			}
		}
		var out [][]int64
		var err error
		if f, ok := shapeRules[n.GetOpType()]; ok && standardDomain(n) {
			out, err = f(ix, n, in)
		} else {
			err = fmt.Errorf("no shape rule for op %s", opName(n))
		}
		if err != nil {
			out = nil
			for _, o := range n.GetOutput() {
				d, ok := declared[o]
				if o != "" && !ok {
					return nil, fmt.Errorf("infer shapes: node %s: %w, and the graph declares no static shape for %q", nodeLabel(n), err, o)
				}
				out = append(out, d)
			}
		}
		for j, o := range n.GetOutput() {
			if o == "" {
				continue
			}
			if j >= len(out) || out[j] == nil {
				return nil, fmt.Errorf("infer shapes: node %s: no shape for output %q", nodeLabel(n), o)
			}
			shapes[o] = out[j]
		}
	}
	return shapes, nil
}

// declaredShapes collects the fully static shapes the graph itself declares.
func declaredShapes(g *onnx.GraphProto) Shapes {
	out := Shapes{}
	for _, list := range [][]*onnx.ValueInfoProto{g.GetValueInfo(), g.GetOutput()} {
		for _, v := range list {
			tt := v.GetType().GetTensorType()
			if tt == nil || tt.GetShape() == nil {
				continue
			}
			dims := make([]int64, 0, len(tt.GetShape().GetDim()))
			static := true
			for _, d := range tt.GetShape().GetDim() {
				dv, ok := d.GetValue().(*onnx.TensorShapeProto_Dimension_DimValue)
				if !ok || dv.DimValue < 0 {
					static = false
					break
				}
				dims = append(dims, dv.DimValue)
			}
			if static {
				out[v.GetName()] = dims
			}
		}
	}
	return out
}

// shapeFunc returns the shapes of n's outputs from those of its inputs
// (nil for omitted optional inputs).
type shapeFunc func(ix *graphIndex, n *onnx.NodeProto, in [][]int64) ([][]int64, error)

// shapeRules holds the ops InferShapes understands. It is filled in init
// because some entries refer back to the table.
var shapeRules map[string]shapeFunc

func init() {
	shapeRules = map[string]shapeFunc{
		"Conv":               convShape,
		"MaxPool":            poolShape,
		"AveragePool":        poolShape,
		"GlobalAveragePool":  globalPoolShape,
		"GlobalMaxPool":      globalPoolShape,
		"BatchNormalization": batchNormShape,
		"Dropout":            sameShapeAll,
		"Concat":             concatShape,
		"Pad":                padShape,
		"Flatten":            flattenShape,
		"Reshape":            reshapeShape,
		"Gemm":               gemmShape,
		"MatMul":             matMulShape,
		"Transpose":          transposeShape,
		"Squeeze":            squeezeShape,
		"Unsqueeze":          unsqueezeShape,
		"Shape":              shapeOfShape,
		"Size":               sizeShape,
		"LayerNormalization": layerNormShape,
		"Split":              splitShape,
		"Slice":              sliceShape,
		"Gather":             gatherShape,
		"Expand":             expandShape,
		"ConstantOfShape":    constantOfShapeShape,
		"Not":                sameShape,
	}
	for _, op := range []string{"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp"} {
		shapeRules[op] = reduceShape
	}
	for _, op := range []string{"Where", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "And", "Or", "Xor"} {
		shapeRules[op] = broadcastShape
	}
	for _, op := range []string{"Add", "Sub", "Mul", "Div", "Pow", "Sum", "Max", "Min", "Mean"} {
		shapeRules[op] = broadcastShape
	}
	for _, op := range []string{"Relu", "LeakyRelu", "Clip", "Identity", "Sigmoid", "Tanh", "Elu", "Selu",
		"Softplus", "Neg", "Abs", "Exp", "Log", "Sqrt", "Reciprocal", "Erf", "HardSigmoid", "Softmax",
		"LogSoftmax", "Cast", "LRN", "InstanceNormalization", "HardSwish", "Floor", "Ceil", "Round", "Sign",
		"Sin", "Cos", "Softsign", "Mish", "Celu", "ThresholdedRelu"} {
		shapeRules[op] = sameShape
	}
}

func need(in [][]int64, i int, what string) ([]int64, error) {
	if i >= len(in) || in[i] == nil {
		return nil, fmt.Errorf("missing input %d (%s)", i, what)
	}
	return in[i], nil
}

func sameShape(_ *graphIndex, _ *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	x, err := need(in, 0, "X")
	if err != nil {
		return nil, err
	}
	return [][]int64{slices.Clone(x)}, nil
}

// sameShapeAll gives every output the input's shape (Dropout's mask too).
func sameShapeAll(_ *graphIndex, n *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	x, err := need(in, 0, "X")
	if err != nil {
		return nil, err
	}
	out := make([][]int64, len(n.GetOutput()))
	for i := range out {
		out[i] = slices.Clone(x)
	}
	return out, nil
}

// broadcast applies numpy's multidirectional broadcasting.
func broadcast(shapes ...[]int64) ([]int64, error) {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out := ones64(rank)
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			switch {
			case d == out[off+i] || d == 1:
			case out[off+i] == 1:
				out[off+i] = d
			default:
				return nil, fmt.Errorf("shapes %v do not broadcast", shapes)
			}
		}
	}
	return out, nil
}

func broadcastShape(_ *graphIndex, _ *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	var all [][]int64
	for i, s := range in {
		if s == nil {
			return nil, fmt.Errorf("missing input %d", i)
		}
		all = append(all, s)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("no inputs")
	}
	out, err := broadcast(all...)
	if err != nil {
		return nil, err
	}
	return [][]int64{out}, nil
}

func convShape(_ *graphIndex, n *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	x, err := need(in, 0, "X")
	if err != nil {
		return nil, err
	}
	w, err := need(in, 1, "W")
	if err != nil {
		return nil, err
	}
	if len(x) < 3 || len(w) != len(x) {
		return nil, fmt.Errorf("input %v and weights %v: want equal ranks of at least 3", x, w)
	}
	group := onnxgraph.AttrInt(n, "group", 1)
	if group <= 0 || x[1] != w[1]*group || w[0]%group != 0 {
		return nil, fmt.Errorf("input %v, weights %v and group %d do not fit: want C = W[1]*group and M divisible by group", x, w, group)
	}
	kernel := slices.Clone(w[2:])
	if ks := onnxgraph.AttrInts(n, "kernel_shape", nil); len(ks) > 0 && !slices.Equal(ks, kernel) {
		return nil, fmt.Errorf("kernel_shape %v does not match W %v", ks, w)
	}
	if b := in[2:]; len(b) > 0 && b[0] != nil && !slices.Equal(b[0], []int64{w[0]}) {
		return nil, fmt.Errorf("bias %v for %d output channels", b[0], w[0])
	}
	win, err := convWindow(n, x[2:], kernel)
	if err != nil {
		return nil, err
	}
	return [][]int64{append([]int64{x[0], w[0]}, win.out...)}, nil
}

func poolShape(_ *graphIndex, n *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	x, err := need(in, 0, "X")
	if err != nil {
		return nil, err
	}
	if len(x) < 3 {
		return nil, fmt.Errorf("input %v: want rank 3 or more", x)
	}
	win, err := poolWindow(n, x[2:])
	if err != nil {
		return nil, err
	}
	y := append([]int64{x[0], x[1]}, win.out...)
	out := make([][]int64, len(n.GetOutput()))
	for i := range out {
		out[i] = slices.Clone(y)
	}
	return out, nil
}

func globalPoolShape(_ *graphIndex, _ *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	x, err := need(in, 0, "X")
	if err != nil {
		return nil, err
	}
	if len(x) < 3 {
		return nil, fmt.Errorf("input %v: want rank 3 or more", x)
	}
	return [][]int64{append([]int64{x[0], x[1]}, ones64(len(x)-2)...)}, nil
}

func batchNormShape(_ *graphIndex, n *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	x, err := need(in, 0, "X")
	if err != nil {
		return nil, err
	}
	if len(x) < 2 {
		return nil, fmt.Errorf("input %v: want rank 2 or more", x)
	}
	for i, what := range []string{"scale", "B", "mean", "var"} {
		p, err := need(in, i+1, what)
		if err != nil {
			return nil, err
		}
		if !slices.Equal(p, []int64{x[1]}) {
			return nil, fmt.Errorf("%s %v for %d channels", what, p, x[1])
		}
	}
	out := [][]int64{slices.Clone(x)}
	for range len(n.GetOutput()) - 1 {
		out = append(out, []int64{x[1]})
	}
	return out, nil
}

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(axis int64, rank int) (int, error) {
	if axis < 0 {
		axis += int64(rank)
	}
	if axis < 0 || axis >= int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	return int(axis), nil
}

func concatShape(_ *graphIndex, n *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	if len(in) == 0 || in[0] == nil {
		return nil, fmt.Errorf("no inputs")
	}
	if onnxgraph.Attr(n, "axis") == nil {
		return nil, fmt.Errorf("missing axis")
	}
	axis, err := normAxis(onnxgraph.AttrInt(n, "axis", 0), len(in[0]))
	if err != nil {
		return nil, err
	}
	out := slices.Clone(in[0])
	out[axis] = 0
	for i, s := range in {
		if s == nil || len(s) != len(out) {
			return nil, fmt.Errorf("input %d has shape %v, want rank %d", i, s, len(out))
		}
		for j := range s {
			if j != axis && s[j] != out[j] {
				return nil, fmt.Errorf("input shapes %v differ off axis %d", in, axis)
			}
		}
		out[axis] += s[axis]
	}
	return [][]int64{out}, nil
}

// padAmounts returns a Pad node's pads: the constant pads input of opset 11
// and later, or the attribute of older opsets.
func padAmounts(ix *graphIndex, n *onnx.NodeProto, rank int) ([]int64, error) {
	var pads []int64
	if name := input(n, 1); name != "" {
		p, err := ix.constInts(name)
		if err != nil {
			return nil, fmt.Errorf("pads: %w", err)
		}
		pads = p
	} else {
		pads = onnxgraph.AttrInts(n, "pads", nil)
	}
	if name := input(n, 3); name != "" {
		return nil, fmt.Errorf("the axes input (opset 18) is not supported; give pads for every axis")
	}
	if len(pads) != 2*rank {
		return nil, fmt.Errorf("%d pads for rank %d", len(pads), rank)
	}
	return pads, nil
}

func padShape(ix *graphIndex, n *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	x, err := need(in, 0, "data")
	if err != nil {
		return nil, err
	}
	pads, err := padAmounts(ix, n, len(x))
	if err != nil {
		return nil, err
	}
	out := slices.Clone(x)
	for i := range out {
		out[i] += pads[i] + pads[len(x)+i]
		if out[i] < 0 {
			return nil, fmt.Errorf("pads %v crop more than input %v", pads, x)
		}
	}
	return [][]int64{out}, nil
}

func flattenShape(_ *graphIndex, n *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	x, err := need(in, 0, "input")
	if err != nil {
		return nil, err
	}
	axis := onnxgraph.AttrInt(n, "axis", 1)
	if axis < 0 {
		axis += int64(len(x))
	}
	if axis < 0 || axis > int64(len(x)) {
		return nil, fmt.Errorf("axis %d out of range for rank %d", onnxgraph.AttrInt(n, "axis", 1), len(x))
	}
	outer, inner := int64(1), int64(1)
	for i, d := range x {
		if int64(i) < axis {
			outer *= d
		} else {
			inner *= d
		}
	}
	return [][]int64{{outer, inner}}, nil
}

func reshapeShape(ix *graphIndex, n *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	x, err := need(in, 0, "data")
	if err != nil {
		return nil, err
	}
	target, err := ix.constInts(input(n, 1))
	if err != nil {
		return nil, fmt.Errorf("shape: %w", err)
	}
	allowZero := onnxgraph.AttrInt(n, "allowzero", 0) != 0
	total, err := onnxgraph.NumElements(x)
	if err != nil {
		return nil, err
	}
	out := slices.Clone(target)
	infer := -1
	known := int64(1)
	for i, d := range out {
		switch {
		case d == 0 && !allowZero:
			if i >= len(x) {
				return nil, fmt.Errorf("shape %v copies dimension %d of %v, which does not exist", target, i, x)
			}
			out[i] = x[i]
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("shape %v has two -1 dimensions", target)
			}
			infer = i
			continue
		case d < 0:
			return nil, fmt.Errorf("invalid dimension %d in shape %v", d, target)
		}
		known *= out[i]
	}
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("cannot reshape %v to %v", x, target)
		}
		out[infer] = total / known
	} else if known != total {
		return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", x, total, target)
	}
	return [][]int64{out}, nil
}

func gemmShape(_ *graphIndex, n *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	a, err := need(in, 0, "A")
	if err != nil {
		return nil, err
	}
	b, err := need(in, 1, "B")
	if err != nil {
		return nil, err
	}
	if len(a) != 2 || len(b) != 2 {
		return nil, fmt.Errorf("inputs %v and %v must be matrices", a, b)
	}
	m, ka := a[0], a[1]
	if onnxgraph.AttrInt(n, "transA", 0) != 0 {
		m, ka = ka, m
	}
	kb, nn := b[0], b[1]
	if onnxgraph.AttrInt(n, "transB", 0) != 0 {
		kb, nn = nn, kb
	}
	if ka != kb {
		return nil, fmt.Errorf("inputs %v and %v: inner dimensions differ", a, b)
	}
	return [][]int64{{m, nn}}, nil
}

func matMulShape(_ *graphIndex, _ *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	a, err := need(in, 0, "A")
	if err != nil {
		return nil, err
	}
	b, err := need(in, 1, "B")
	if err != nil {
		return nil, err
	}
	if len(a) == 0 || len(b) == 0 {
		return nil, fmt.Errorf("inputs %v and %v: MatMul needs at least 1-d operands", a, b)
	}
	aa, bb := slices.Clone(a), slices.Clone(b)
	if len(aa) == 1 {
		aa = []int64{1, aa[0]}
	}
	if len(bb) == 1 {
		bb = []int64{bb[0], 1}
	}
	if aa[len(aa)-1] != bb[len(bb)-2] {
		return nil, fmt.Errorf("inputs %v and %v: inner dimensions differ", a, b)
	}
	batch, err := broadcast(aa[:len(aa)-2], bb[:len(bb)-2])
	if err != nil {
		return nil, err
	}
	out := batch
	if len(a) > 1 {
		out = append(out, aa[len(aa)-2])
	}
	if len(b) > 1 {
		out = append(out, bb[len(bb)-1])
	}
	return [][]int64{out}, nil
}

func transposeShape(_ *graphIndex, n *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	x, err := need(in, 0, "data")
	if err != nil {
		return nil, err
	}
	perm, err := transposePerm(n, len(x))
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(x))
	for i, p := range perm {
		out[i] = x[p]
	}
	return [][]int64{out}, nil
}

// transposePerm reads a Transpose's permutation (reversing the axes by
// default) and checks that it is one for rank.
func transposePerm(n *onnx.NodeProto, rank int) ([]int64, error) {
	perm := onnxgraph.AttrInts(n, "perm", nil)
	if len(perm) == 0 {
		for i := rank - 1; i >= 0; i-- {
			perm = append(perm, int64(i))
		}
	}
	if len(perm) != rank {
		return nil, fmt.Errorf("perm %v for rank %d", perm, rank)
	}
	seen := make([]bool, rank)
	for _, p := range perm {
		if p < 0 || p >= int64(rank) || seen[p] {
			return nil, fmt.Errorf("perm %v is not a permutation", perm)
		}
		seen[p] = true
	}
	return perm, nil
}

// axesOf reads the axes of Squeeze/Unsqueeze: the input of opset 13 and
// later, or the attribute of older opsets.
func axesOf(ix *graphIndex, n *onnx.NodeProto) ([]int64, error) {
	if name := input(n, 1); name != "" {
		return ix.constInts(name)
	}
	return onnxgraph.AttrInts(n, "axes", nil), nil
}

func squeezeShape(ix *graphIndex, n *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	x, err := need(in, 0, "data")
	if err != nil {
		return nil, err
	}
	axes, err := axesOf(ix, n)
	if err != nil {
		return nil, fmt.Errorf("axes: %w", err)
	}
	drop := make([]bool, len(x))
	if len(axes) == 0 {
		for i, d := range x {
			drop[i] = d == 1
		}
	}
	for _, a := range axes {
		i, err := normAxis(a, len(x))
		if err != nil {
			return nil, err
		}
		if x[i] != 1 {
			return nil, fmt.Errorf("cannot squeeze axis %d of %v", a, x)
		}
		drop[i] = true
	}
	var out []int64
	for i, d := range x {
		if !drop[i] {
			out = append(out, d)
		}
	}
	if out == nil {
		out = []int64{}
	}
	return [][]int64{out}, nil
}

func unsqueezeShape(ix *graphIndex, n *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	x, err := need(in, 0, "data")
	if err != nil {
		return nil, err
	}
	axes, err := axesOf(ix, n)
	if err != nil {
		return nil, fmt.Errorf("axes: %w", err)
	}
	rank := len(x) + len(axes)
	insert := make([]bool, rank)
	for _, a := range axes {
		i, err := normAxis(a, rank)
		if err != nil {
			return nil, err
		}
		if insert[i] {
			return nil, fmt.Errorf("repeated axis in %v", axes)
		}
		insert[i] = true
	}
	out := make([]int64, 0, rank)
	j := 0
	for i := range rank {
		if insert[i] {
			out = append(out, 1)
		} else {
			out = append(out, x[j])
			j++
		}
	}
	return [][]int64{out}, nil
}

func shapeOfShape(_ *graphIndex, n *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	x, err := need(in, 0, "data")
	if err != nil {
		return nil, err
	}
	r := int64(len(x))
	clamp := func(v int64) int64 {
		if v < 0 {
			v += r
		}
		return min(max(v, 0), r)
	}
	start := clamp(onnxgraph.AttrInt(n, "start", 0))
	end := clamp(onnxgraph.AttrInt(n, "end", r))
	return [][]int64{{max(end-start, 0)}}, nil
}

func sizeShape(_ *graphIndex, _ *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	if _, err := need(in, 0, "data"); err != nil {
		return nil, err
	}
	return [][]int64{{}}, nil
}

// layerNormShape gives Y the input's shape and the optional Mean and
// InvStdDev outputs the input's shape with the normalised axes set to 1.
func layerNormShape(_ *graphIndex, n *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	x, err := need(in, 0, "X")
	if err != nil {
		return nil, err
	}
	axis, err := normAxis(onnxgraph.AttrInt(n, "axis", -1), len(x))
	if err != nil {
		return nil, err
	}
	if _, err := need(in, 1, "Scale"); err != nil {
		return nil, err
	}
	for j, what := range []string{"Scale", "B"} {
		if 1+j >= len(in) || in[1+j] == nil {
			continue
		}
		p := in[1+j]
		if b, err := broadcast(x[axis:], p); err != nil || len(p) > len(x)-axis || !slices.Equal(b, x[axis:]) {
			return nil, fmt.Errorf("%s %v does not fit the normalised axes %v", what, p, x[axis:])
		}
	}
	stat := slices.Clone(x)
	for i := axis; i < len(x); i++ {
		stat[i] = 1
	}
	out := [][]int64{slices.Clone(x)}
	for range len(n.GetOutput()) - 1 {
		out = append(out, slices.Clone(stat))
	}
	return out, nil
}

// splitSizes returns a Split's part sizes along axis: the split input (or
// attribute of older opsets), or equal parts, one per output.
func splitSizes(ix *graphIndex, n *onnx.NodeProto, dim int64) ([]int64, error) {
	var sizes []int64
	if name := input(n, 1); name != "" {
		s, err := ix.constInts(name)
		if err != nil {
			return nil, fmt.Errorf("split: %w", err)
		}
		sizes = s
	} else if s := onnxgraph.AttrInts(n, "split", nil); len(s) > 0 {
		sizes = s
	} else {
		parts := int64(len(n.GetOutput()))
		if parts == 0 || dim%parts != 0 {
			return nil, fmt.Errorf("%d outputs do not split %d equally", parts, dim)
		}
		for range parts {
			sizes = append(sizes, dim/parts)
		}
	}
	total := int64(0)
	for _, v := range sizes {
		if v < 0 || v > dim {
			return nil, fmt.Errorf("split %v does not fit dimension %d", sizes, dim)
		}
		total += v
	}
	if total != dim || len(sizes) != len(n.GetOutput()) {
		return nil, fmt.Errorf("split %v into %d outputs does not fit dimension %d", sizes, len(n.GetOutput()), dim)
	}
	return sizes, nil
}

func splitShape(ix *graphIndex, n *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	x, err := need(in, 0, "input")
	if err != nil {
		return nil, err
	}
	axis, err := normAxis(onnxgraph.AttrInt(n, "axis", 0), len(x))
	if err != nil {
		return nil, err
	}
	sizes, err := splitSizes(ix, n, x[axis])
	if err != nil {
		return nil, err
	}
	out := make([][]int64, len(sizes))
	for i, v := range sizes {
		out[i] = slices.Clone(x)
		out[i][axis] = v
	}
	return out, nil
}

// sliceAxis is one axis of a Slice, resolved as ONNX Runtime does: the
// elements start, start+step, ..., count of them.
type sliceAxis struct {
	axis               int
	start, step, count int64
}

// sliceParams resolves a Slice's constant starts, ends, axes and steps for
// input shape x (negative values counted from the end, bounds clamped).
func sliceParams(ix *graphIndex, n *onnx.NodeProto, x []int64) ([]sliceAxis, error) {
	read := func(i int, what string) ([]int64, error) {
		name := input(n, i)
		if name == "" {
			return nil, nil
		}
		v, err := ix.constInts(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return v, nil
	}
	if len(n.GetInput()) < 3 {
		return nil, fmt.Errorf("Slice with starts and ends as attributes (opset < 10) is not supported")
	}
	starts, err := read(1, "starts")
	if err != nil {
		return nil, err
	}
	ends, err := read(2, "ends")
	if err != nil {
		return nil, err
	}
	axes, err := read(3, "axes")
	if err != nil {
		return nil, err
	}
	steps, err := read(4, "steps")
	if err != nil {
		return nil, err
	}
	if axes == nil {
		for i := range starts {
			axes = append(axes, int64(i))
		}
	}
	if steps == nil {
		steps = ones64(len(starts))
	}
	if len(ends) != len(starts) || len(axes) != len(starts) || len(steps) != len(starts) {
		return nil, fmt.Errorf("starts %v, ends %v, axes %v and steps %v differ in length", starts, ends, axes, steps)
	}
	seen := map[int]bool{}
	out := make([]sliceAxis, len(starts))
	for i := range starts {
		a, err := normAxis(axes[i], len(x))
		if err != nil {
			return nil, err
		}
		if seen[a] {
			return nil, fmt.Errorf("axis %d repeated in %v", a, axes)
		}
		seen[a] = true
		d, step := x[a], steps[i]
		if step == 0 || step == math.MinInt64 {
			return nil, fmt.Errorf("step %d in %v", step, steps)
		}
		start, end := starts[i], ends[i]
		if start < 0 {
			start += d
		}
		if end < 0 {
			end += d
		}
		// (span-1)/|step| + 1 rather than a ceiling division, which
		// overflows for steps near the int64 limit.
		var count int64
		if step > 0 {
			start, end = min(max(start, 0), d), min(max(end, 0), d)
			if end > start {
				count = (end-start-1)/step + 1
			}
		} else {
			start, end = min(max(start, 0), d-1), min(max(end, -1), d-1)
			if start > end {
				count = (start-end-1)/(-step) + 1
			}
		}
		out[i] = sliceAxis{axis: a, start: start, step: step, count: count}
	}
	return out, nil
}

func sliceShape(ix *graphIndex, n *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	x, err := need(in, 0, "data")
	if err != nil {
		return nil, err
	}
	sl, err := sliceParams(ix, n, x)
	if err != nil {
		return nil, err
	}
	out := slices.Clone(x)
	for _, s := range sl {
		out[s.axis] = s.count
	}
	return [][]int64{out}, nil
}

func gatherShape(_ *graphIndex, n *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	x, err := need(in, 0, "data")
	if err != nil {
		return nil, err
	}
	idx, err := need(in, 1, "indices")
	if err != nil {
		return nil, err
	}
	a, err := normAxis(onnxgraph.AttrInt(n, "axis", 0), len(x))
	if err != nil {
		return nil, err
	}
	out := slices.Concat(x[:a], idx, x[a+1:])
	return [][]int64{out}, nil
}

func expandShape(ix *graphIndex, n *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	x, err := need(in, 0, "input")
	if err != nil {
		return nil, err
	}
	shape, err := ix.constInts(input(n, 1))
	if err != nil {
		return nil, fmt.Errorf("shape: %w", err)
	}
	if slices.ContainsFunc(shape, func(d int64) bool { return d < 0 }) {
		return nil, fmt.Errorf("negative dimension in shape %v", shape)
	}
	out, err := broadcast(x, shape)
	if err != nil {
		return nil, err
	}
	return [][]int64{out}, nil
}

func constantOfShapeShape(ix *graphIndex, n *onnx.NodeProto, _ [][]int64) ([][]int64, error) {
	shape, err := ix.constInts(input(n, 0))
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("negative dimension in %v", shape)
		}
	}
	return [][]int64{shape}, nil
}

// reduceAxes returns a reduction's axes, sorted and non-negative: the axes
// input (ReduceSum from opset 13) or attribute, all axes when empty, or
// noop when empty axes mean no reduction (noop_with_empty_axes).
func reduceAxes(ix *graphIndex, n *onnx.NodeProto, rank int) (axes []int, noop bool, err error) {
	var raw []int64
	if name := input(n, 1); name != "" {
		if raw, err = ix.constInts(name); err != nil {
			return nil, false, fmt.Errorf("axes: %w", err)
		}
	} else {
		raw = onnxgraph.AttrInts(n, "axes", nil)
	}
	if len(raw) == 0 {
		if onnxgraph.AttrInt(n, "noop_with_empty_axes", 0) != 0 {
			return nil, true, nil
		}
		for i := range rank {
			axes = append(axes, i)
		}
		return axes, false, nil
	}
	for _, v := range raw {
		a, err := normAxis(v, rank)
		if err != nil {
			return nil, false, err
		}
		if !slices.Contains(axes, a) {
			axes = append(axes, a)
		}
	}
	slices.Sort(axes)
	return axes, false, nil
}

func reduceShape(ix *graphIndex, n *onnx.NodeProto, in [][]int64) ([][]int64, error) {
	x, err := need(in, 0, "data")
	if err != nil {
		return nil, err
	}
	axes, noop, err := reduceAxes(ix, n, len(x))
	if err != nil {
		return nil, err
	}
	if noop {
		return [][]int64{slices.Clone(x)}, nil
	}
	keep := onnxgraph.AttrInt(n, "keepdims", 1) != 0
	out := []int64{}
	for i, d := range x {
		switch {
		case !slices.Contains(axes, i):
			out = append(out, d)
		case keep:
			out = append(out, 1)
		}
	}
	return [][]int64{out}, nil
}
