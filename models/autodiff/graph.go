package autodiff

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/nst-project/nst/internal/onnxgraph"
)

// graphIndex is what InferShapes and Differentiate need to know about a
// graph's wiring: who produces and who reads each tensor, which tensors are
// constants, and an order in which every node comes after its producers.
type graphIndex struct {
	g *onnx.GraphProto
	// inits maps initializer names to their tensors.
	inits map[string]*onnx.TensorProto
	// inputs holds the names of graph inputs that are not initializers.
	inputs map[string]bool
	// producer maps a node output to the index of its node in g.Node.
	producer map[string]int
	// consumers maps a tensor to the indices of the nodes reading it, once
	// per node even when a node reads it twice.
	consumers map[string][]int
	// order lists node indices so that producers precede consumers.
	order []int
	// names holds every tensor name in the graph, so generated names can
	// avoid them.
	names map[string]bool
}

// indexGraph indexes g and sorts its nodes topologically. ONNX requires
// graphs to be sorted already, but exporters and graph surgery do not
// always keep that promise, and the backward pass depends on it.
func indexGraph(g *onnx.GraphProto) (*graphIndex, error) {
	if g == nil {
		return nil, fmt.Errorf("nil graph")
	}
	ix := &graphIndex{
		g:         g,
		inits:     map[string]*onnx.TensorProto{},
		inputs:    map[string]bool{},
		producer:  map[string]int{},
		consumers: map[string][]int{},
		names:     map[string]bool{},
	}
	for _, t := range g.GetInitializer() {
		ix.inits[t.GetName()] = t
		ix.names[t.GetName()] = true
	}
	for _, v := range g.GetInput() {
		ix.names[v.GetName()] = true
		if _, ok := ix.inits[v.GetName()]; !ok {
			ix.inputs[v.GetName()] = true
		}
	}
	for _, v := range g.GetOutput() {
		ix.names[v.GetName()] = true
	}
	for _, v := range g.GetValueInfo() {
		ix.names[v.GetName()] = true
	}
	for i, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if o == "" {
				continue
			}
			if _, dup := ix.producer[o]; dup {
				return nil, fmt.Errorf("tensor %q is produced by two nodes (%s and %s)", o, nodeLabel(g.GetNode()[ix.producer[o]]), nodeLabel(n))
			}
			if ix.inputs[o] {
				return nil, fmt.Errorf("node %s writes graph input %q", nodeLabel(n), o)
			}
			if _, ok := ix.inits[o]; ok {
				return nil, fmt.Errorf("node %s writes initializer %q", nodeLabel(n), o)
			}
			ix.producer[o] = i
			ix.names[o] = true
		}
	}
	for i, n := range g.GetNode() {
		seen := map[string]bool{}
		for _, in := range n.GetInput() {
			if in == "" || seen[in] {
				continue
			}
			seen[in] = true
			ix.names[in] = true
			_, produced := ix.producer[in]
			_, constant := ix.inits[in]
			if !produced && !constant && !ix.inputs[in] {
				return nil, fmt.Errorf("node %s reads %q, which is no graph input, initializer or node output", nodeLabel(n), in)
			}
			ix.consumers[in] = append(ix.consumers[in], i)
		}
	}
	order, err := topoSort(g, ix.producer)
	if err != nil {
		return nil, err
	}
	ix.order = order
	return ix, nil
}

// topoSort orders node indices so that every node follows the producers of
// its inputs, keeping the original order among independent nodes.
func topoSort(g *onnx.GraphProto, producer map[string]int) ([]int, error) {
	nodes := g.GetNode()
	pending := make([]int, len(nodes))
	dependents := make([][]int, len(nodes))
	for i, n := range nodes {
		seen := map[int]bool{}
		for _, in := range n.GetInput() {
			p, ok := producer[in]
			if in == "" || !ok || seen[p] {
				continue
			}
			if p == i {
				return nil, fmt.Errorf("node %s reads its own output %q", nodeLabel(n), in)
			}
			seen[p] = true
			pending[i]++
			dependents[p] = append(dependents[p], i)
		}
	}
	// A min-ordered ready list keeps already sorted graphs in their order.
	var ready []int
	for i := range nodes {
		if pending[i] == 0 {
			ready = append(ready, i)
		}
	}
	order := make([]int, 0, len(nodes))
	for len(ready) > 0 {
		best := 0
		for j := range ready {
			if ready[j] < ready[best] {
				best = j
			}
		}
		i := ready[best]
		ready = append(ready[:best], ready[best+1:]...)
		order = append(order, i)
		for _, d := range dependents[i] {
			pending[d]--
			if pending[d] == 0 {
				ready = append(ready, d)
			}
		}
	}
	if len(order) != len(nodes) {
		for i, p := range pending {
			if p > 0 {
				return nil, fmt.Errorf("graph has a cycle through node %s", nodeLabel(nodes[i]))
			}
		}
	}
	return order, nil
}

// constant returns the initializer behind name, following Identity nodes
// (torch exporters put shared initializers behind them), or nil when name is
// computed at run time.
func (ix *graphIndex) constant(name string) *onnx.TensorProto {
	for range len(ix.g.GetNode()) + 1 {
		if t, ok := ix.inits[name]; ok {
			return t
		}
		p, ok := ix.producer[name]
		if !ok {
			return nil
		}
		n := ix.g.GetNode()[p]
		if n.GetOpType() != "Identity" || len(n.GetInput()) != 1 {
			return nil
		}
		name = n.GetInput()[0]
	}
	return nil
}

// constInts decodes the integer constant behind name.
func (ix *graphIndex) constInts(name string) ([]int64, error) {
	t := ix.constant(name)
	if t == nil {
		return nil, fmt.Errorf("%q is not a constant (an initializer); a shape computed at run time must be folded first (FoldShapes)", name)
	}
	return onnxgraph.Int64Data(t)
}

// constFloats decodes the float32 constant behind name.
func (ix *graphIndex) constFloats(name string) ([]float32, error) {
	t := ix.constant(name)
	if t == nil {
		return nil, fmt.Errorf("%q is not a constant (an initializer)", name)
	}
	return onnxgraph.Float32Data(t)
}

// nodeLabel names a node for error messages: its name and op, or its first
// output when the exporter left it unnamed.
func nodeLabel(n *onnx.NodeProto) string {
	if n.GetName() != "" {
		return fmt.Sprintf("%q (%s)", n.GetName(), n.GetOpType())
	}
	if len(n.GetOutput()) > 0 {
		return fmt.Sprintf("%s -> %q", n.GetOpType(), n.GetOutput()[0])
	}
	return n.GetOpType()
}

// input returns the i-th input of n, or "" when n has fewer inputs (ONNX
// optional inputs may be omitted from the end or left empty).
func input(n *onnx.NodeProto, i int) string {
	if i < len(n.GetInput()) {
		return n.GetInput()[i]
	}
	return ""
}

// output returns the i-th output of n, or "" when absent.
func output(n *onnx.NodeProto, i int) string {
	if i < len(n.GetOutput()) {
		return n.GetOutput()[i]
	}
	return ""
}

// standardDomain reports whether n is an ai.onnx op.
func standardDomain(n *onnx.NodeProto) bool {
	return n.GetDomain() == "" || n.GetDomain() == "ai.onnx"
}

// opName is n's op type, qualified by its domain when that is not ai.onnx.
func opName(n *onnx.NodeProto) string {
	if standardDomain(n) {
		return n.GetOpType()
	}
	return n.GetDomain() + "." + n.GetOpType()
}
