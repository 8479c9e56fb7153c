package models

import (
	"errors"
	"fmt"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/nst-project/nst/internal/onnxgraph"
	"github.com/nst-project/nst/internal/ortrt"
	"github.com/nst-project/nst/models/autodiff"
)

// Options say what a Net computes.
type Options struct {
	// Layers are the layer names whose activations Forward returns, in this
	// order; each at most once.
	Layers []string
	// Pooling is PoolingMax (also the meaning of "") or PoolingAvg.
	Pooling string
	// Height and Width are the image size in pixels.
	Height, Width int
	// Preprocess maps the [0,1] RGB image to the model's input.
	Preprocess Preprocess
	// ForwardOnly builds no backward pass: Backward then fails. It serves
	// images whose activations are only targets (style images of another
	// size), at a fraction of the time and memory.
	ForwardOnly bool
	// Session configures both ONNX Runtime sessions. With ProfilePrefix set,
	// the forward session profiles into PREFIX_forward_DATE.json and the
	// backward one into PREFIX_backward_DATE.json (ONNX Runtime stamps the
	// file to the second, so one prefix for both would make them collide);
	// the files appear when the Net is closed.
	Session ortrt.SessionOptions
}

// Activation is one requested layer's output for the last Forward.
type Activation struct {
	Name    string
	C, H, W int
	// Data holds C*H*W values, channel-major. It aliases the Net's output
	// tensor and is overwritten by the next Forward.
	Data []float32
}

// Net computes activations and input gradients for one image size and one
// set of layers. Its tensors and buffers are allocated once: Forward and
// Backward allocate nothing themselves (onnxruntime_go's
// DynamicAdvancedSession.Run, behind ortrt.Session.Run, still allocates a
// few small argument slices per run). A Net is not safe for concurrent use.
type Net struct {
	height, width int
	pre           affine

	forward, backward *ortrt.Session
	fwdIn, fwdOut     []ort.Value
	bwdIn, bwdOut     []ort.Value
	owned             []ort.Value // every tensor the Net created, destroyed by Close

	input       []float32 // backs fwdIn[0]
	activations []Activation
	seeds       [][]float32 // back the backward session's seed inputs
	inputGrad   []float32   // backs bwdOut[0]: dJ/d(model input)
	imageGrad   []float32   // dJ/d(image), returned by Backward
}

// Prepare builds a Net: it cuts the graph after the deepest requested
// layer, swaps pooling if asked, generates the backward graph and opens two
// ONNX Runtime sessions, forward and backward, sharing the saved tensors.
// It initialises ONNX Runtime with the standard library lookup if the
// caller has not done so.
func (b *Backbone) Prepare(o Options) (*Net, error) {
	n, err := b.prepare(o)
	if err != nil {
		return nil, fmt.Errorf("prepare %s at %dx%d: %w", b.shortName(), o.Width, o.Height, err)
	}
	return n, nil
}

func (b *Backbone) prepare(o Options) (*Net, error) {
	if o.Height <= 0 || o.Width <= 0 {
		return nil, errors.New("image size must be positive")
	}
	if len(o.Layers) == 0 {
		return nil, errors.New("no layers requested")
	}
	pre, err := o.Preprocess.compile()
	if err != nil {
		return nil, err
	}
	tensors := make([]string, len(o.Layers))
	for i, name := range o.Layers {
		if slices.Contains(o.Layers[:i], name) {
			return nil, fmt.Errorf("layer %q requested twice", name)
		}
		l, err := b.Lookup(name)
		if err != nil {
			return nil, err
		}
		tensors[i] = l.Tensor
	}
	if err := ortrt.Init(""); err != nil {
		return nil, err
	}

	g, err := b.canon.cut(tensors, o.Pooling)
	if err != nil {
		return nil, err
	}
	if err := g.runnable(); err != nil {
		return nil, err
	}
	inShape := []int64{1, 3, int64(o.Height), int64(o.Width)}
	var shapes autodiff.Shapes
	plan := &autodiff.Plan{Forward: g.graph}
	if o.ForwardOnly {
		if shapes, err = autodiff.InferShapes(g.graph, autodiff.Shapes{g.input: inShape}); err != nil {
			return nil, err
		}
	} else {
		if err := g.differentiable(); err != nil {
			return nil, err
		}
		if shapes, err = autodiff.InferShapes(g.graph, autodiff.Shapes{g.input: inShape}); err != nil {
			return nil, err
		}
		if plan, err = autodiff.Differentiate(g.graph, shapes, g.input, tensors); err != nil {
			return nil, err
		}
	}
	n := &Net{height: o.Height, width: o.Width, pre: pre}
	if err := n.open(o, g.input, plan, shapes, tensors); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// differentiable fails on the first node between the image and the
// requested layers that has no gradient rule, before shape inference can
// trip over it with a less telling error. The cut holds only ancestors of
// the layers, so every node fed by the image lies on a gradient path.
func (c *canonical) differentiable() error {
	supported := map[string]bool{}
	for _, op := range autodiff.SupportedOps() {
		supported[op] = true
	}
	fromImage := map[string]bool{c.input: true}
	for _, n := range c.graph.GetNode() {
		if !slices.ContainsFunc(n.GetInput(), func(in string) bool { return fromImage[in] }) {
			continue
		}
		if !supported[n.GetOpType()] {
			return &autodiff.UnsupportedOpError{Node: label(n), Op: n.GetOpType()}
		}
		for _, out := range n.GetOutput() {
			fromImage[out] = true
		}
	}
	return nil
}

// open creates the sessions and every tensor they read and write.
func (n *Net) open(o Options, input string, plan *autodiff.Plan, shapes autodiff.Shapes, tensors []string) error {
	backwardTypes := map[string]*onnx.TypeProto_Tensor{}
	for _, in := range plan.Backward.GetInput() { // nil Backward: no inputs
		backwardTypes[in.GetName()] = in.GetType().GetTensorType()
	}

	// Forward outputs: the activations, then the saved tensors the
	// backward reads, each name once. A saved tensor that is also an
	// activation is one tensor serving both.
	outNames := slices.Clone(tensors)
	for _, s := range plan.Saved {
		if !slices.Contains(outNames, s) {
			outNames = append(outNames, s)
		}
	}
	byName := map[string]ort.Value{}
	fwd := plan.Forward
	fwd.Output = nil
	for _, name := range outNames {
		shape, ok := shapes[name]
		if tt := backwardTypes[name]; tt != nil {
			shape, ok = staticDims(tt), true
		}
		if !ok {
			return fmt.Errorf("no static shape for %q", name)
		}
		elem := onnx.TensorProto_FLOAT
		if tt := backwardTypes[name]; tt != nil {
			elem = onnx.TensorProto_DataType(tt.GetElemType())
		}
		v, err := n.newTensor(elem, shape)
		if err != nil {
			return fmt.Errorf("output %q: %w", name, err)
		}
		byName[name] = v
		n.fwdOut = append(n.fwdOut, v)
		fwd.Output = append(fwd.Output, onnxgraph.Value(name, elem, shape...))
	}

	plane := o.Height * o.Width
	n.input = make([]float32, 3*plane)
	in, err := n.wrap(n.input, []int64{1, 3, int64(o.Height), int64(o.Width)})
	if err != nil {
		return fmt.Errorf("input: %w", err)
	}
	n.fwdIn = []ort.Value{in}

	for i, name := range tensors {
		c, h, w, err := chw(shapes[name])
		if err != nil {
			return fmt.Errorf("layer %q: %w", o.Layers[i], err)
		}
		data := byName[name].(*ort.Tensor[float32]).GetData()
		n.activations = append(n.activations, Activation{Name: o.Layers[i], C: c, H: h, W: w, Data: data})
		if o.ForwardOnly {
			continue
		}
		seed := make([]float32, len(data))
		v, err := n.wrap(seed, shapes[name])
		if err != nil {
			return fmt.Errorf("gradient of %q: %w", o.Layers[i], err)
		}
		n.seeds = append(n.seeds, seed)
		n.bwdIn = append(n.bwdIn, v)
	}
	fwdOpts, bwdOpts := o.Session, o.Session
	if o.Session.ProfilePrefix != "" {
		fwdOpts.ProfilePrefix = o.Session.ProfilePrefix + "_forward"
		bwdOpts.ProfilePrefix = o.Session.ProfilePrefix + "_backward"
	}
	n.forward, err = newSession(fwd, []string{input}, outNames, fwdOpts)
	if err != nil {
		return fmt.Errorf("forward session: %w", err)
	}
	if o.ForwardOnly {
		return nil
	}

	for _, s := range plan.Saved {
		n.bwdIn = append(n.bwdIn, byName[s])
	}
	n.inputGrad = make([]float32, 3*plane)
	out, err := n.wrap(n.inputGrad, []int64{1, 3, int64(o.Height), int64(o.Width)})
	if err != nil {
		return fmt.Errorf("input gradient: %w", err)
	}
	n.bwdOut = []ort.Value{out}
	n.imageGrad = make([]float32, 3*plane)

	bwdIn := append(slices.Clone(plan.SeedInputs), plan.Saved...)
	n.backward, err = newSession(plan.Backward, bwdIn, []string{plan.InputGrad}, bwdOpts)
	if err != nil {
		return fmt.Errorf("backward session: %w", err)
	}
	return nil
}

// newSession serialises g and opens an ONNX Runtime session on it.
func newSession(g *onnx.GraphProto, inputs, outputs []string, o ortrt.SessionOptions) (*ortrt.Session, error) {
	data, err := onnxgraph.Marshal(onnxgraph.Model(g))
	if err != nil {
		return nil, err
	}
	return ortrt.NewSession(data, inputs, outputs, o)
}

// staticDims reads a fully static tensor type's dimensions.
func staticDims(tt *onnx.TypeProto_Tensor) []int64 {
	var dims []int64
	for _, d := range tt.GetShape().GetDim() {
		dims = append(dims, d.GetDimValue())
	}
	return dims
}

// chw reads an activation shape, [1,C,H,W] or [1,C], as C, H, W.
func chw(shape []int64) (c, h, w int, err error) {
	switch {
	case len(shape) == 4 && shape[0] == 1:
		return int(shape[1]), int(shape[2]), int(shape[3]), nil
	case len(shape) == 2 && shape[0] == 1:
		return int(shape[1]), 1, 1, nil
	}
	return 0, 0, 0, fmt.Errorf("activation shape %v: want [1,C,H,W] or [1,C]", shape)
}

// wrap makes a float32 tensor backed by data, owned by the Net.
func (n *Net) wrap(data []float32, shape []int64) (ort.Value, error) {
	t, err := ort.NewTensor(ort.NewShape(shape...), data)
	if err != nil {
		return nil, err
	}
	n.owned = append(n.owned, t)
	return t, nil
}

// newTensor makes an empty tensor of an ONNX element type, owned by the Net.
func (n *Net) newTensor(elem onnx.TensorProto_DataType, shape []int64) (ort.Value, error) {
	s := ort.NewShape(shape...)
	var v ort.Value
	var err error
	switch elem {
	case onnx.TensorProto_FLOAT:
		v, err = ort.NewEmptyTensor[float32](s)
	case onnx.TensorProto_INT64:
		v, err = ort.NewEmptyTensor[int64](s)
	case onnx.TensorProto_INT32:
		v, err = ort.NewEmptyTensor[int32](s)
	case onnx.TensorProto_BOOL:
		v, err = ort.NewEmptyTensor[bool](s)
	case onnx.TensorProto_UINT8:
		v, err = ort.NewEmptyTensor[uint8](s)
	default:
		return nil, fmt.Errorf("element type %v is not supported between sessions", elem)
	}
	if err != nil {
		return nil, err
	}
	n.owned = append(n.owned, v)
	return v, nil
}

// Forward runs the network on img, [1,3,H,W] RGB values in [0,1], and
// returns the requested activations in Options.Layers order. The slice and
// the data it points to are reused: they are valid until the next Forward.
func (n *Net) Forward(img []float32) ([]Activation, error) {
	if n.forward == nil {
		return nil, errors.New("forward: net is closed")
	}
	if len(img) != len(n.input) {
		return nil, fmt.Errorf("forward: image has %d values, want 3x%dx%d = %d", len(img), n.height, n.width, len(n.input))
	}
	n.pre.apply(n.input, img)
	if err := n.forward.Run(n.fwdIn, n.fwdOut); err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	return n.activations, nil
}

// GradBuffers returns, per requested layer in Options.Layers order, the
// buffer where the caller writes dJ/d(activation) before Backward. They
// back the backward session's inputs, so nothing is copied.
func (n *Net) GradBuffers() [][]float32 { return n.seeds }

// Backward returns dJ/d(img) for the image of the last Forward, given the
// gradients written into GradBuffers, with the preprocessing's chain rule
// applied. The returned slice is reused by the next Backward.
func (n *Net) Backward() ([]float32, error) {
	if n.backward == nil {
		if n.forward != nil {
			return nil, errors.New("backward: net was prepared forward-only")
		}
		return nil, errors.New("backward: net is closed")
	}
	if err := n.backward.Run(n.bwdIn, n.bwdOut); err != nil {
		return nil, fmt.Errorf("backward: %w", err)
	}
	n.pre.backprop(n.imageGrad, n.inputGrad)
	return n.imageGrad, nil
}

// Close releases the sessions and tensors; with profiling on, ONNX Runtime
// writes its profiles now. Closing twice is harmless.
func (n *Net) Close() error {
	var errs []error
	if err := n.forward.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close forward session: %w", err))
	}
	if err := n.backward.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close backward session: %w", err))
	}
	n.forward, n.backward = nil, nil
	for _, v := range n.owned {
		if err := v.Destroy(); err != nil {
			errs = append(errs, err)
		}
	}
	n.owned = nil
	return errors.Join(errs...)
}
