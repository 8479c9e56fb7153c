package autodiff

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/nst-project/nst/internal/hugemem"
	"github.com/nst-project/nst/internal/onnxgraph"
)

// builder accumulates the backward graph, and the changes to the forward
// copy, while Differentiate walks the forward nodes in reverse.
type builder struct {
	ix     *graphIndex
	shapes Shapes
	fwd    *onnx.GraphProto
	bwd    *onnx.GraphProto

	// node is the forward node being differentiated; fwdNode is its copy in
	// fwd, which rules may extend (MaxPool's Indices output).
	node    *onnx.NodeProto
	fwdNode *onnx.NodeProto

	// used holds every name taken in either graph.
	used map[string]bool
	// saved lists forward tensors the backward reads, in first-use order.
	saved     []string
	savedType map[string]onnx.TensorProto_DataType
	// readAs maps forward tensors to their names in the backward graph.
	readAs map[string]string
	// consts caches small constants by content, so a graph holds one
	// initializer per distinct value.
	consts map[string]string
	// flipped caches transformed weights by source name and group;
	// weights holds their bytes, which the backward graph keeps.
	flipped map[string]string
	weights hugemem.Slab
	// seeds holds the seed tensors.
	seeds map[string]bool
	// seedsOverwritten says the seeds' values are gone by the time the
	// backward pass runs (DifferentiateInPlace).
	seedsOverwritten bool
	// masked holds ReLU outputs whose gradient a consumer already masked.
	masked map[string]bool
	// fwdZero names the forward graph's float zero, once forwardMask
	// has added it.
	fwdZero string
}

func newBuilder(ix *graphIndex, shapes Shapes, seeds []string) *builder {
	b := &builder{
		ix:        ix,
		shapes:    Shapes{},
		fwd:       cloneGraph(ix.g),
		bwd:       &onnx.GraphProto{Name: ix.g.GetName() + "_backward"},
		used:      map[string]bool{},
		savedType: map[string]onnx.TensorProto_DataType{},
		readAs:    map[string]string{},
		consts:    map[string]string{},
		flipped:   map[string]string{},
		seeds:     map[string]bool{},
		masked:    map[string]bool{},
	}
	for _, s := range seeds {
		b.seeds[s] = true
	}
	for k, v := range shapes {
		b.shapes[k] = v
	}
	for name := range ix.names {
		b.used[name] = true
	}
	return b
}

// fresh returns a name no tensor of either graph has, based on base.
func (b *builder) fresh(base string) string {
	name := base
	for i := 1; b.used[name]; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	b.used[name] = true
	return name
}

// shape returns the static shape of a tensor of either graph.
func (b *builder) shape(name string) ([]int64, error) {
	s, ok := b.shapes[name]
	if !ok {
		return nil, fmt.Errorf("no static shape for tensor %q (run InferShapes)", name)
	}
	return s, nil
}

// prefix names backward tensors after the forward node they come from.
func (b *builder) prefix() string {
	if b.node == nil {
		return "grad"
	}
	if b.node.GetName() != "" {
		return b.node.GetName() + "_grad"
	}
	return output(b.node, 0) + "_grad"
}

// op appends a single-output backward node and returns its output.
func (b *builder) op(opType string, inputs []string, attrs ...*onnx.AttributeProto) string {
	return b.opN(opType, inputs, 1, attrs...)[0]
}

// opN appends a backward node with n outputs and returns them.
func (b *builder) opN(opType string, inputs []string, n int, attrs ...*onnx.AttributeProto) []string {
	base := b.prefix() + "/" + opType
	outs := make([]string, n)
	for i := range outs {
		outs[i] = b.fresh(base)
	}
	b.bwd.Node = append(b.bwd.Node, onnxgraph.Node(opType, b.fresh(base), inputs, outs, attrs...))
	return outs
}

// floats adds a float32 constant to the backward graph.
func (b *builder) floats(base string, dims []int64, data []float32) string {
	name := b.fresh(base)
	b.bwd.Initializer = append(b.bwd.Initializer, onnxgraph.Floats32(name, dims, data))
	return name
}

// scalar returns a float32 scalar constant, shared by value.
func (b *builder) scalar(v float32) string {
	key := "f" + strconv.FormatUint(uint64(math.Float32bits(v)), 16)
	if name, ok := b.consts[key]; ok {
		return name
	}
	name := b.floats("const_"+strconv.FormatFloat(float64(v), 'g', 6, 32), nil, []float32{v})
	b.consts[key] = name
	return name
}

// ints returns a 1-D int64 constant, shared by value.
func (b *builder) ints(v ...int64) string {
	key := fmt.Sprint("i", v)
	if name, ok := b.consts[key]; ok {
		return name
	}
	name := b.fresh("const_ints")
	b.bwd.Initializer = append(b.bwd.Initializer, onnxgraph.Int64s(name, []int64{int64(len(v))}, v))
	b.consts[key] = name
	return name
}

// read returns the backward-graph name under which a forward tensor is
// available: constants are copied into the backward graph, tensors computed
// at run time become Saved. A graph input is exposed through an Identity,
// so the caller never has to list an input among the forward outputs, and
// so is a seed the caller overwrites (DifferentiateInPlace).
func (b *builder) read(name string) (string, error) {
	if r, ok := b.readAs[name]; ok {
		return r, nil
	}
	if t := b.ix.constant(name); t != nil {
		c := proto.Clone(t).(*onnx.TensorProto)
		c.Name = b.fresh(t.GetName())
		b.bwd.Initializer = append(b.bwd.Initializer, c)
		b.readAs[name] = c.Name
		return c.Name, nil
	}
	shape, err := b.shape(name)
	if err != nil {
		return "", err
	}
	saved := name
	if b.ix.inputs[name] || (b.seedsOverwritten && b.seeds[name]) {
		saved = b.fresh(name + "_saved")
		b.fwd.Node = append(b.fwd.Node, onnxgraph.Node("Identity", saved, []string{name}, []string{saved}))
		b.shapes[saved] = shape
	}
	b.save(saved, onnx.TensorProto_FLOAT)
	b.readAs[name] = saved
	return saved, nil
}

// forwardMask adds y > 0 to the forward graph, saved for the backward
// graph as a BOOL tensor, and returns its name there.
func (b *builder) forwardMask(y string) (string, error) {
	if m, ok := b.readAs[y+"\x00mask"]; ok {
		return m, nil
	}
	shape, err := b.shape(y)
	if err != nil {
		return "", err
	}
	if b.fwdZero == "" {
		b.fwdZero = b.fresh("zero")
		b.fwd.Initializer = append(b.fwd.Initializer, onnxgraph.Floats32(b.fwdZero, nil, []float32{0}))
	}
	mask := b.fresh(y + "_mask")
	b.fwd.Node = append(b.fwd.Node, onnxgraph.Node("Greater", mask, []string{y, b.fwdZero}, []string{mask}))
	b.shapes[mask] = shape
	b.save(mask, onnx.TensorProto_BOOL)
	b.readAs[y+"\x00mask"] = mask
	return mask, nil
}

// save records a forward tensor as read by the backward graph.
func (b *builder) save(name string, t onnx.TensorProto_DataType) {
	if _, ok := b.savedType[name]; ok {
		return
	}
	b.saved = append(b.saved, name)
	b.savedType[name] = t
}

// sum returns the total of gradient contributions: "" for none, the single
// one, or the output of an Add (two) or Sum (more) node, named out when out
// is not empty.
func (b *builder) sum(parts []string, out string) string {
	switch {
	case len(parts) == 0:
		return ""
	case len(parts) == 1 && out == "":
		return parts[0]
	}
	if out == "" {
		out = b.fresh(b.prefix() + "/Sum")
	}
	if len(parts) == 1 {
		b.bwd.Node = append(b.bwd.Node, onnxgraph.Node("Identity", b.fresh(out+"/Identity"), parts, []string{out}))
	} else if len(parts) == 2 {
		// Add is ONNX Runtime's parallel element-wise kernel, faster than
		// Sum (docs/performance.md).
		b.bwd.Node = append(b.bwd.Node, onnxgraph.Node("Add", b.fresh(out+"/Add"), parts, []string{out}))
	} else {
		b.bwd.Node = append(b.bwd.Node, onnxgraph.Node("Sum", b.fresh(out+"/Sum"), parts, []string{out}))
	}
	return out
}

// finish writes the input's accumulated gradient under name. A single
// contribution that a backward node produced and nothing else reads is
// renamed rather than copied.
func (b *builder) finish(parts []string, name string) {
	b.node = nil
	if len(parts) == 1 {
		var producer *onnx.NodeProto
		readers := 0
		for _, n := range b.bwd.GetNode() {
			if slices.Contains(n.GetOutput(), parts[0]) {
				producer = n
			}
			if slices.Contains(n.GetInput(), parts[0]) {
				readers++
			}
		}
		if producer != nil && readers == 0 {
			for i, o := range producer.Output {
				if o == parts[0] {
					producer.Output[i] = name
				}
			}
			return
		}
	}
	b.sum(parts, name)
}
