package models

import (
	"errors"
	"fmt"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/nst-project/nst/internal/hugemem"
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
	// Depth is a volume's slice count, for a backbone whose input is a
	// volume [1,C,D,H,W] (3-D convolutions; Backbone.Volumetric), and 0
	// for an image backbone. Activations of a volume backbone, [1,C,d,h,w],
	// come back with H = d·h: the costs see every voxel as a position.
	Depth int
	// Preprocess maps the [0,1] RGB image to the model's input.
	Preprocess Preprocess
	// ForwardOnly builds no backward pass: Backward then fails. It serves
	// images whose activations are only targets (style images of another
	// size), at a fraction of the time and memory. While an open Net of the
	// same backbone, pooling and session options computes the layers, the
	// new Net runs on that Net's forward session, with tensors of its own
	// size, instead of creating a session.
	ForwardOnly bool
	// GradInPlace makes GradBuffers the activations themselves: the caller
	// overwrites each activation with its gradient before Backward, and
	// no buffer the size of all requested activations holds the
	// gradients. The forward pass then saves the masks of requested ReLU
	// outputs, one byte per element, which the backward pass would
	// otherwise read from the activations.
	GradInPlace bool
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
	// tensor: the next Forward overwrites it, and Close unmaps it (memory
	// outside the Go heap, see hugemem.Pages), after which it must not be
	// read.
	Data []float32
}

// Net computes activations and input gradients for one image size and one
// set of layers. Its tensors and buffers are allocated once and bound to
// the sessions once (ortrt.Binding): Forward and Backward allocate nothing.
// A Net is not safe for concurrent use.
type Net struct {
	height, width int
	depth         int // a volume's slices, 1 for an image
	channels      int // the input's channel count: 3 for RGB
	pre           affine

	forward, backward *ortrt.Session
	shared            *sharedForward // holds forward
	bwdGraph          *cachedGraph   // holds backward
	fwdRun, bwdRun    *ortrt.Binding
	fwdIn, fwdOut     []ort.Value
	bwdIn, bwdOut     []ort.Value
	owned             []ort.Value // every tensor the Net created, destroyed by Close
	// pages holds every tensor's data (see hugemem.Pages): the input, the
	// forward outputs, the gradient seeds and both gradients.
	pages *hugemem.Pages

	input       []float32 // backs fwdIn[0]
	activations []Activation
	seeds       [][]float32 // back the backward session's seed inputs
	inputGrad   []float32   // backs bwdOut[0]: dJ/d(model input)
	imageGrad   []float32   // dJ/d(image), returned by Backward

	convFLOPs int64
}

// Cached reports whether the Net's sessions were opened from the graph
// cache (see UseGraphCache) rather than built.
func (n *Net) Cached() bool {
	return n.shared != nil && n.shared.graph.hit && (n.bwdGraph == nil || n.bwdGraph.hit)
}

// ConvFLOPs is the number of floating-point operations (a multiply-add
// counting two) of the forward pass's convolutions, which are nearly all
// of a VGG's work. The backward pass's input gradients cost as much.
func (n *Net) ConvFLOPs() int64 { return n.convFLOPs }

// convFLOPs counts the convolutions' operations from the static shapes:
// every output element sums (input channels / group) × kernel products.
func convFLOPs(g *onnx.GraphProto, shapes autodiff.Shapes) int64 {
	var total int64
	for _, node := range g.GetNode() {
		if node.GetOpType() != "Conv" || len(node.GetInput()) < 2 || len(node.GetOutput()) < 1 {
			continue
		}
		w, y := shapes[node.GetInput()[1]], shapes[node.GetOutput()[0]]
		if len(w) < 2 || len(y) == 0 {
			continue
		}
		perOutput := int64(2)
		for _, d := range w[1:] {
			perOutput *= d
		}
		outputs, err := onnxgraph.NumElements(y)
		if err != nil {
			continue
		}
		total += perOutput * outputs
	}
	return total
}

// Prepare builds a Net: it cuts the graph after the deepest requested
// layer, swaps pooling if asked, generates the backward graph and opens two
// ONNX Runtime sessions, forward and backward, sharing the saved tensors.
// It initialises ONNX Runtime with the standard library lookup if the
// caller has not done so.
func (b *Backbone) Prepare(o Options) (*Net, error) {
	n, err := b.prepare(o)
	if err != nil {
		return nil, fmt.Errorf("prepare %s at %s: %w", b.shortName(), o.size(), err)
	}
	return n, nil
}

// size is the input's size as messages and keys give it: WxH, or WxHxD
// for a volume.
func (o Options) size() string {
	if o.Depth > 0 {
		return fmt.Sprintf("%dx%dx%d", o.Width, o.Height, o.Depth)
	}
	return fmt.Sprintf("%dx%d", o.Width, o.Height)
}

// inputShape is the input tensor's shape for o: [1,C,H,W], or [1,C,D,H,W]
// for a volume.
func (o Options) inputShape(channels int) []int64 {
	if o.Depth > 0 {
		return []int64{1, int64(channels), int64(o.Depth), int64(o.Height), int64(o.Width)}
	}
	return []int64{1, int64(channels), int64(o.Height), int64(o.Width)}
}

// Volumetric reports whether the backbone takes volumes, [1,C,D,H,W]
// (3-D convolutions), rather than images: its Nets need Options.Depth.
func (b *Backbone) Volumetric() bool { return b.canon.depth }

// InputChannels is C, the channel count of the backbone's input.
func (b *Backbone) InputChannels() int { return b.canon.channels }

func (b *Backbone) prepare(o Options) (*Net, error) {
	if o.Height <= 0 || o.Width <= 0 || o.Depth < 0 {
		return nil, errors.New("image size must be positive")
	}
	if b.canon.depth != (o.Depth > 0) {
		if b.canon.depth {
			return nil, errors.New("the backbone takes volumes [1,C,D,H,W]; give a depth")
		}
		return nil, errors.New("the backbone takes images [1,C,H,W], not volumes")
	}
	if len(o.Layers) == 0 {
		return nil, errors.New("no layers requested")
	}
	pre, err := o.Preprocess.compile()
	if err != nil {
		return nil, err
	}
	if b.canon.channels != 3 || b.canon.depth {
		// Preprocessing maps RGB images; other inputs (spectrograms,
		// volumes) go in as they are.
		if o.Preprocess != (Preprocess{}) {
			return nil, fmt.Errorf("the backbone's input is %d-channel %s, not RGB images; preprocessing applies to RGB images only", b.canon.channels, map[bool]string{false: "data", true: "volumes"}[b.canon.depth])
		}
		pre = affine{identity: true}
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
	if !o.ForwardOnly {
		// Before shape inference, which would trip over the first of
		// them with a less telling error.
		if err := b.layerErrors(autodiff.CheckSupported(g.graph, g.input, tensors)); err != nil {
			return nil, err
		}
	}
	inShape := o.inputShape(b.canon.channels)
	graph, sizeDependent, err := autodiff.FoldShapes(g.graph, autodiff.Shapes{g.input: inShape})
	if err != nil {
		return nil, err
	}
	shapes, err := autodiff.InferShapes(graph, autodiff.Shapes{g.input: inShape})
	if err != nil {
		return nil, err
	}
	plan := &autodiff.Plan{Forward: graph}
	if !o.ForwardOnly {
		differentiate := autodiff.Differentiate
		if o.GradInPlace {
			differentiate = autodiff.DifferentiateInPlace
		}
		if plan, err = differentiate(graph, shapes, g.input, tensors); err != nil {
			return nil, b.layerErrors(err)
		}
	}
	// A graph whose shape computations were folded at this size serves
	// this size only, so its forward session is shared with Nets of the
	// same size alone.
	size := ""
	if sizeDependent {
		size = o.size()
	}
	n := &Net{depth: max(o.Depth, 1), height: o.Height, width: o.Width, channels: b.canon.channels, pre: pre, convFLOPs: convFLOPs(graph, shapes)}
	if o.ForwardOnly {
		if sf := b.forwards.find(o, size, tensors); sf != nil {
			n.shared, n.forward = sf, sf.session
			if err := n.openShared(o, g.input, shapes, tensors); err != nil {
				n.Close()
				return nil, err
			}
			return n, nil
		}
	}
	if err := n.open(o, size, &b.forwards, g.input, plan, shapes, tensors); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// layerErrors names, in the sites of an *autodiff.UnsupportedOpError and
// in an *autodiff.NodeError, the layers the nodes compute, and returns
// err.
func (b *Backbone) layerErrors(err error) error {
	var u *autodiff.UnsupportedOpError
	if errors.As(err, &u) {
		for i := range u.Ops {
			for j := range u.Ops[i].Sites {
				u.Ops[i].Sites[j].Layer = b.layerOf(u.Ops[i].Sites[j].Output)
			}
		}
	}
	var ne *autodiff.NodeError
	if errors.As(err, &ne) {
		ne.Layer = b.layerOf(ne.Output)
	}
	return err
}

// layerOf is the name of the layer holding tensor, or "" when none does.
func (b *Backbone) layerOf(tensor string) string {
	for _, l := range b.layers {
		if l.Tensor == tensor && tensor != "" {
			return l.Name
		}
	}
	return ""
}

// open creates the sessions and every tensor they read and write.
func (n *Net) open(o Options, size string, reg *forwardRegistry, input string, plan *autodiff.Plan, shapes autodiff.Shapes, tensors []string) error {
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
	image := o.inputShape(n.channels)
	var l layout
	inSlot := l.add(onnx.TensorProto_FLOAT, image)
	outSlots := make([]slot, len(outNames))
	elems := map[string]onnx.TensorProto_DataType{}
	fwd := plan.Forward
	fwd.Output = nil
	for i, name := range outNames {
		shape, ok := shapes[name]
		elem := onnx.TensorProto_FLOAT
		if tt := backwardTypes[name]; tt != nil {
			shape, ok = staticDims(tt), true
			elem = onnx.TensorProto_DataType(tt.GetElemType())
		}
		if !ok {
			return fmt.Errorf("no static shape for %q", name)
		}
		outSlots[i] = l.add(elem, shape)
		elems[name] = elem
		fwd.Output = append(fwd.Output, onnxgraph.Value(name, elem, freeSpatial(shape)...))
	}
	var seedSlots []slot
	var gradSlot, imageGradSlot slot
	if !o.ForwardOnly {
		if !o.GradInPlace { // else the gradients overwrite the activations
			for _, name := range tensors {
				seedSlots = append(seedSlots, l.add(onnx.TensorProto_FLOAT, shapes[name]))
			}
		}
		gradSlot = l.add(onnx.TensorProto_FLOAT, image)
		imageGradSlot = l.add(onnx.TensorProto_FLOAT, image)
	}
	if err := n.allocate(l, inSlot); err != nil {
		return err
	}
	byName := map[string]ort.Value{}
	for i, name := range outNames {
		v, err := n.tensor(outSlots[i])
		if err != nil {
			return fmt.Errorf("output %q: %w", name, err)
		}
		byName[name] = v
		n.fwdOut = append(n.fwdOut, v)
	}
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
		v := byName[name]
		if !o.GradInPlace {
			if v, err = n.tensor(seedSlots[i]); err != nil {
				return fmt.Errorf("gradient of %q: %w", o.Layers[i], err)
			}
		}
		n.seeds = append(n.seeds, v.(*ort.Tensor[float32]).GetData())
		n.bwdIn = append(n.bwdIn, v)
	}
	fwdOpts, bwdOpts := o.Session, o.Session
	if o.Session.ProfilePrefix != "" {
		fwdOpts.ProfilePrefix = o.Session.ProfilePrefix + "_forward"
		bwdOpts.ProfilePrefix = o.Session.ProfilePrefix + "_backward"
	}
	// The backward session is made while the forward one is: serialising,
	// hashing and (on a graph-cache miss) optimising a graph runs on one
	// core.
	type made struct {
		g   *cachedGraph
		err error
	}
	var backward chan made
	if !o.ForwardOnly {
		backward = make(chan made, 1)
		bwdIn := append(slices.Clone(plan.SeedInputs), plan.Saved...)
		go func() {
			g, err := newSession(plan.Backward, bwdIn, []string{plan.InputGrad}, bwdOpts)
			backward <- made{g, err}
		}()
	}
	fg, err := newSession(fwd, []string{input}, outNames, fwdOpts)
	if err != nil {
		if backward != nil {
			if b := <-backward; b.err == nil {
				b.g.close()
			}
		}
		return fmt.Errorf("forward session: %w", err)
	}
	n.shared, n.forward = reg.add(o, size, fg, elems), fg.session
	if backward != nil {
		b := <-backward
		if b.err != nil {
			return fmt.Errorf("backward session: %w", b.err)
		}
		n.bwdGraph, n.backward = b.g, b.g.session
	}
	if n.fwdRun, err = n.forward.Bind(n.fwdIn, n.fwdOut); err != nil {
		return fmt.Errorf("forward session: %w", err)
	}
	if o.ForwardOnly {
		return nil
	}

	for _, s := range plan.Saved {
		n.bwdIn = append(n.bwdIn, byName[s])
	}
	out, err := n.tensor(gradSlot)
	if err != nil {
		return fmt.Errorf("input gradient: %w", err)
	}
	n.inputGrad = out.(*ort.Tensor[float32]).GetData()
	n.bwdOut = []ort.Value{out}
	if n.imageGrad, err = hugemem.View[float32](n.pages, imageGradSlot.offset, imageGradSlot.elems); err != nil {
		return fmt.Errorf("image gradient: %w", err)
	}

	if n.bwdRun, err = n.backward.Bind(n.bwdIn, n.bwdOut); err != nil {
		return fmt.Errorf("backward session: %w", err)
	}
	return nil
}

// openShared makes the tensors of a forward-only Net running on a session
// another Net created, and binds the outputs it reads.
func (n *Net) openShared(o Options, input string, shapes autodiff.Shapes, tensors []string) error {
	var l layout
	inSlot := l.add(onnx.TensorProto_FLOAT, o.inputShape(n.channels))
	outSlots := make([]slot, len(tensors))
	for i, name := range tensors {
		shape, ok := shapes[name]
		if !ok {
			return fmt.Errorf("no static shape for %q", name)
		}
		outSlots[i] = l.add(onnx.TensorProto_FLOAT, shape)
	}
	if err := n.allocate(l, inSlot); err != nil {
		return err
	}
	for i, name := range tensors {
		v, err := n.tensor(outSlots[i])
		if err != nil {
			return fmt.Errorf("output %q: %w", name, err)
		}
		c, h, w, err := chw(shapes[name])
		if err != nil {
			return fmt.Errorf("layer %q: %w", o.Layers[i], err)
		}
		n.fwdOut = append(n.fwdOut, v)
		n.activations = append(n.activations, Activation{Name: o.Layers[i], C: c, H: h, W: w, Data: v.(*ort.Tensor[float32]).GetData()})
	}
	run, err := n.forward.BindNamed(n.fwdIn, tensors, n.fwdOut)
	if err != nil {
		return fmt.Errorf("forward session: %w", err)
	}
	n.fwdRun = run
	return nil
}

// allocate maps the pages every tensor of layout l lies in and makes the
// forward session's input, at inSlot.
func (n *Net) allocate(l layout, inSlot slot) error {
	var err error
	if n.pages, err = hugemem.NewPages(l.size); err != nil {
		return fmt.Errorf("tensors: %w", err)
	}
	in, err := n.tensor(inSlot)
	if err != nil {
		return fmt.Errorf("input: %w", err)
	}
	n.input = in.(*ort.Tensor[float32]).GetData()
	n.fwdIn = []ort.Value{in}
	return nil
}

// freeSpatial returns an image tensor's shape, [N,C,H,W] (or a volume's,
// [N,C,D,H,W]), with the spatial dimensions free, so that a forward
// session serves images of any size; other shapes stay as they are.
func freeSpatial(shape []int64) []int64 {
	switch len(shape) {
	case 4:
		return []int64{shape[0], shape[1], -1, -1}
	case 5:
		return []int64{shape[0], shape[1], -1, -1, -1}
	}
	return shape
}

// slot is where one tensor of a Net lies in its pages.
type slot struct {
	elem   onnx.TensorProto_DataType
	shape  []int64
	elems  int
	offset int
}

// layout places tensors one after another in a block of memory.
type layout struct{ size int }

// tensorAlign keeps every tensor on its own cache lines, as ONNX Runtime's
// allocator does, so vectorised kernels see aligned data.
const tensorAlign = 64

// add reserves room for a tensor. An element type the Net cannot hold, or
// a shape too large, surfaces when the tensor is made.
func (l *layout) add(elem onnx.TensorProto_DataType, shape []int64) slot {
	s := slot{elem: elem, shape: shape, offset: l.size}
	size := elemBytes(elem)
	if n, err := onnxgraph.NumElements(shape); err == nil && size > 0 {
		s.elems = int(n)
	}
	l.size += (s.elems*size + tensorAlign - 1) &^ (tensorAlign - 1)
	return s
}

// elemBytes is the size of the element types a Net passes between its
// sessions, 0 for any other.
func elemBytes(elem onnx.TensorProto_DataType) int {
	switch elem {
	case onnx.TensorProto_FLOAT, onnx.TensorProto_INT32:
		return 4
	case onnx.TensorProto_INT64:
		return 8
	case onnx.TensorProto_BOOL, onnx.TensorProto_UINT8:
		return 1
	}
	return 0
}

// tensor makes the tensor of a slot over the Net's pages, owned by the Net.
func (n *Net) tensor(s slot) (ort.Value, error) {
	shape := ort.NewShape(s.shape...)
	var v ort.Value
	var err error
	switch s.elem {
	case onnx.TensorProto_FLOAT:
		v, err = viewTensor[float32](n.pages, s, shape)
	case onnx.TensorProto_INT64:
		v, err = viewTensor[int64](n.pages, s, shape)
	case onnx.TensorProto_INT32:
		v, err = viewTensor[int32](n.pages, s, shape)
	case onnx.TensorProto_BOOL:
		v, err = viewTensor[bool](n.pages, s, shape)
	case onnx.TensorProto_UINT8:
		v, err = viewTensor[uint8](n.pages, s, shape)
	default:
		return nil, fmt.Errorf("element type %v is not supported between sessions", s.elem)
	}
	if err != nil {
		return nil, err
	}
	n.owned = append(n.owned, v)
	return v, nil
}

func viewTensor[T ort.TensorData](p *hugemem.Pages, s slot, shape ort.Shape) (*ort.Tensor[T], error) {
	data, err := hugemem.View[T](p, s.offset, s.elems)
	if err != nil {
		return nil, err
	}
	return ort.NewTensor(shape, data)
}

// newSession serialises g and opens an ONNX Runtime session on it, through
// the graph cache when it is on (see UseGraphCache). The serialization, as
// large as the weights, goes into pages released as soon as ONNX Runtime
// has read it, rather than onto the Go heap, which would keep it until a
// collection and fault in fresh memory for the next one.
func newSession(g *onnx.GraphProto, inputs, outputs []string, o ortrt.SessionOptions) (*cachedGraph, error) {
	m := onnxgraph.Model(g)
	buf, err := hugemem.NewPages(onnxgraph.Size(m))
	if err != nil {
		return nil, fmt.Errorf("serialize graph: %w", err)
	}
	defer buf.Free()
	data, err := onnxgraph.MarshalAppend(buf.Bytes()[:0], m)
	if err != nil {
		return nil, err
	}
	return openGraph(data, inputs, outputs, o)
}

// staticDims reads a fully static tensor type's dimensions.
func staticDims(tt *onnx.TypeProto_Tensor) []int64 {
	var dims []int64
	for _, d := range tt.GetShape().GetDim() {
		dims = append(dims, d.GetDimValue())
	}
	return dims
}

// chw reads an activation shape, [1,C,H,W] or [1,C], as C, H, W; a
// volume's, [1,C,D,H,W], as C, D·H, W.
func chw(shape []int64) (c, h, w int, err error) {
	switch {
	case len(shape) == 4 && shape[0] == 1:
		return int(shape[1]), int(shape[2]), int(shape[3]), nil
	case len(shape) == 5 && shape[0] == 1:
		return int(shape[1]), int(shape[2] * shape[3]), int(shape[4]), nil
	case len(shape) == 2 && shape[0] == 1:
		return int(shape[1]), 1, 1, nil
	}
	return 0, 0, 0, fmt.Errorf("activation shape %v: want [1,C,H,W] or [1,C]", shape)
}

// Forward runs the network on img, [1,3,H,W] RGB values in [0,1] (for
// an input of other than 3 channels, [1,C,H,W] values as they are; for a
// volume backbone [1,C,D,H,W]), and
// returns the requested activations in Options.Layers order. The slice and
// the data it points to are reused: they are valid until the next Forward.
func (n *Net) Forward(img []float32) ([]Activation, error) {
	if n.forward == nil {
		return nil, errors.New("forward: net is closed")
	}
	if len(img) != len(n.input) {
		return nil, fmt.Errorf("forward: image has %d values, want %dx%dx%dx%d = %d", len(img), n.channels, n.depth, n.height, n.width, len(n.input))
	}
	n.pre.apply(n.input, img)
	if err := n.fwdRun.Run(); err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	return n.activations, nil
}

// GradBuffers returns, per requested layer in Options.Layers order, the
// buffer where the caller writes dJ/d(activation) before Backward. They
// back the backward session's inputs, so nothing is copied. With
// Options.GradInPlace they are the activations' Data.
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
	if err := n.bwdRun.Run(); err != nil {
		return nil, fmt.Errorf("backward: %w", err)
	}
	n.pre.backprop(n.imageGrad, n.inputGrad)
	return n.imageGrad, nil
}

// Close releases the sessions and tensors; with profiling on, ONNX Runtime
// writes its profiles now. Closing twice is harmless.
func (n *Net) Close() error {
	var errs []error
	for _, b := range []*ortrt.Binding{n.fwdRun, n.bwdRun} {
		if err := b.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close binding: %w", err))
		}
	}
	n.fwdRun, n.bwdRun = nil, nil
	if n.shared != nil {
		if err := n.shared.release(); err != nil {
			errs = append(errs, fmt.Errorf("close forward session: %w", err))
		}
	}
	if err := n.bwdGraph.close(); err != nil {
		errs = append(errs, fmt.Errorf("close backward session: %w", err))
	}
	n.forward, n.backward, n.shared, n.bwdGraph = nil, nil, nil, nil
	for _, v := range n.owned {
		if err := v.Destroy(); err != nil {
			errs = append(errs, err)
		}
	}
	n.owned = nil
	if err := n.pages.Free(); err != nil {
		errs = append(errs, fmt.Errorf("free tensors: %w", err))
	}
	n.input, n.activations, n.seeds, n.inputGrad, n.imageGrad = nil, nil, nil, nil, nil
	return errors.Join(errs...)
}
