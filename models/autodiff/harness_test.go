package autodiff

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/nst-project/nst/internal/onnxgraph"
	"github.com/nst-project/nst/internal/ortrt"
)

// testGraph builds small forward graphs with seeded random constants.
type testGraph struct {
	g   *onnx.GraphProto
	rng *rand.Rand
	n   int
	// extra holds values for graph inputs other than x.
	extra map[string]*hostTensor
}

// hostTensor is a float32 tensor held in Go memory.
type hostTensor struct {
	shape []int64
	data  []float32
}

func newTestGraph(seed uint64, inShape ...int64) *testGraph {
	return &testGraph{
		g:     &onnx.GraphProto{Name: "test", Input: []*onnx.ValueInfoProto{onnxgraph.FloatValue("x", inShape...)}},
		rng:   rand.New(rand.NewPCG(seed, 7)),
		extra: map[string]*hostTensor{},
	}
}

func (tg *testGraph) name(prefix string) string {
	tg.n++
	return fmt.Sprintf("%s%d", prefix, tg.n)
}

// op appends a node with one output and returns the output's name.
func (tg *testGraph) op(op string, inputs []string, attrs ...*onnx.AttributeProto) string {
	return tg.opN(op, inputs, 1, attrs...)[0]
}

// opN appends a node with n outputs.
func (tg *testGraph) opN(op string, inputs []string, n int, attrs ...*onnx.AttributeProto) []string {
	var outs []string
	for range n {
		outs = append(outs, tg.name("t"))
	}
	tg.g.Node = append(tg.g.Node, onnxgraph.Node(op, tg.name(op+"_"), inputs, outs, attrs...))
	return outs
}

// uniform returns values uniform in [lo, hi).
func (tg *testGraph) uniform(n int64, lo, hi float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(lo + (hi-lo)*tg.rng.Float64())
	}
	return v
}

// weight adds a random initializer with entries in [-scale, scale).
func (tg *testGraph) weight(scale float64, dims ...int64) string {
	n, _ := onnxgraph.NumElements(dims)
	return tg.floats(dims, tg.uniform(n, -scale, scale))
}

func (tg *testGraph) floats(dims []int64, data []float32) string {
	name := tg.name("w")
	tg.g.Initializer = append(tg.g.Initializer, onnxgraph.Floats32(name, dims, data))
	return name
}

func (tg *testGraph) ints(v ...int64) string {
	name := tg.name("i")
	tg.g.Initializer = append(tg.g.Initializer, onnxgraph.Int64s(name, []int64{int64(len(v))}, v))
	return name
}

// scalarInt adds an int64 scalar initializer.
func (tg *testGraph) scalarInt(v int64) string {
	name := tg.name("i")
	tg.g.Initializer = append(tg.g.Initializer, onnxgraph.Int64s(name, nil, []int64{v}))
	return name
}

// int64Tensor is an int64 initializer of any shape.
func int64Tensor(name string, dims, v []int64) *onnx.TensorProto {
	return onnxgraph.Int64s(name, dims, v)
}

func (tg *testGraph) boolean(v bool) string {
	name := tg.name("b")
	raw := []byte{0}
	if v {
		raw[0] = 1
	}
	tg.g.Initializer = append(tg.g.Initializer, &onnx.TensorProto{Name: name, DataType: int32(onnx.TensorProto_BOOL), RawData: raw})
	return name
}

// input adds a float graph input fed with random values.
func (tg *testGraph) input(scale float64, dims ...int64) string {
	name := tg.name("in")
	n, _ := onnxgraph.NumElements(dims)
	tg.g.Input = append(tg.g.Input, onnxgraph.FloatValue(name, dims...))
	tg.extra[name] = &hostTensor{shape: dims, data: tg.uniform(n, -scale, scale)}
	return name
}

// conv adds a Conv with random weights scaled for unit-variance outputs.
func (tg *testGraph) conv(x string, cin, cout int64, k []int64, bias bool, attrs ...*onnx.AttributeProto) string {
	group := int64(1)
	for _, a := range attrs {
		if a.GetName() == "group" {
			group = a.GetI()
		}
	}
	dims := append([]int64{cout, cin / group}, k...)
	fan := cin / group
	for _, d := range k {
		fan *= d
	}
	in := []string{x, tg.weight(math.Sqrt(3/float64(fan)), dims...)}
	if bias {
		in = append(in, tg.weight(0.5, cout))
	}
	return tg.op("Conv", in, attrs...)
}

func initORT(t testing.TB) {
	t.Helper()
	if err := ortrt.Init(""); err != nil {
		t.Fatalf("ONNX Runtime: %v", err)
	}
}

// session is an ORT session over a graph with chosen outputs, run with
// outputs allocated by ORT (tests favour simplicity over reuse).
type session struct {
	s       *ortrt.Session
	inputs  []string
	outputs []string
}

// elemTypes gives the element type of every tensor of g, for declaring
// tensors as graph outputs: inputs and initializers as declared, node
// outputs by what each op produces.
func elemTypes(g *onnx.GraphProto) map[string]onnx.TensorProto_DataType {
	types := map[string]onnx.TensorProto_DataType{}
	for _, t := range g.GetInitializer() {
		types[t.GetName()] = onnx.TensorProto_DataType(t.GetDataType())
	}
	for _, v := range g.GetInput() {
		types[v.GetName()] = onnx.TensorProto_DataType(v.GetType().GetTensorType().GetElemType())
	}
	ix, err := indexGraph(g)
	if err != nil {
		return types
	}
	for _, i := range ix.order {
		n := g.GetNode()[i]
		first := onnx.TensorProto_FLOAT
		if t, ok := types[input(n, 0)]; ok {
			first = t
		}
		for j, o := range n.GetOutput() {
			t := first
			switch op := n.GetOpType(); {
			case op == "MaxPool" && j == 1, op == "Shape", op == "Size", op == "ArgMax", op == "ArgMin":
				t = onnx.TensorProto_INT64
			case op == "Dropout" && j == 1, gradientStops[op] && op != "Shape" && op != "Size" && op != "ConstantOfShape" && op != "Sign" && op != "Floor" && op != "Ceil" && op != "Round":
				t = onnx.TensorProto_BOOL
			case op == "Cast":
				t = onnx.TensorProto_DataType(onnxgraph.AttrInt(n, "to", 0))
			case op == "ConstantOfShape":
				t = onnx.TensorProto_FLOAT
				if a := onnxgraph.Attr(n, "value"); a != nil && a.GetT() != nil {
					t = onnx.TensorProto_DataType(a.GetT().GetDataType())
				}
			case op == "Where":
				t = types[input(n, 1)]
			}
			types[o] = t
		}
	}
	return types
}

func newSession(t testing.TB, g *onnx.GraphProto, outputs []string, threads int) *session {
	t.Helper()
	g = proto.Clone(g).(*onnx.GraphProto)
	g.Output = nil
	types := elemTypes(g)
	for _, o := range outputs {
		g.Output = append(g.Output, &onnx.ValueInfoProto{Name: o, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
			TensorType: &onnx.TypeProto_Tensor{ElemType: int32(types[o])}}}})
	}
	var inputs []string
	for _, in := range g.GetInput() {
		inputs = append(inputs, in.GetName())
	}
	b, err := onnxgraph.Marshal(onnxgraph.Model(g))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ortrt.NewSession(b, inputs, outputs, ortrt.SessionOptions{Threads: threads})
	if err != nil {
		t.Fatalf("session for graph %q: %v", g.GetName(), err)
	}
	t.Cleanup(func() { s.Close() })
	return &session{s: s, inputs: inputs, outputs: outputs}
}

// run feeds values by input name and returns the outputs by name; the
// caller destroys them with destroyAll.
func (s *session) run(t testing.TB, feeds map[string]ort.Value) map[string]ort.Value {
	t.Helper()
	in := make([]ort.Value, len(s.inputs))
	for i, name := range s.inputs {
		v, ok := feeds[name]
		if !ok {
			t.Fatalf("no value fed for input %q", name)
		}
		in[i] = v
	}
	out := make([]ort.Value, len(s.outputs))
	if err := s.s.Run(in, out); err != nil {
		t.Fatalf("run: %v", err)
	}
	m := map[string]ort.Value{}
	for i, name := range s.outputs {
		m[name] = out[i]
	}
	return m
}

func destroyAll(m map[string]ort.Value) {
	for _, v := range m {
		v.Destroy()
	}
}

func tensor(t testing.TB, shape []int64, data []float32) *ort.Tensor[float32] {
	t.Helper()
	v, err := ort.NewTensor(ort.NewShape(shape...), data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Destroy() })
	return v
}

func floatData(t testing.TB, v ort.Value) []float32 {
	t.Helper()
	f, ok := v.(*ort.Tensor[float32])
	if !ok {
		t.Fatalf("value of type %T, want float32 tensor", v)
	}
	return f.GetData()
}

// checkShapes runs g with every node output requested and compares the
// shapes ONNX Runtime produces with InferShapes'.
func checkShapes(t *testing.T, g *onnx.GraphProto, shapes Shapes, feeds map[string]ort.Value) {
	t.Helper()
	var outs []string
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if o != "" {
				outs = append(outs, o)
			}
		}
	}
	s := newSession(t, g, outs, 1)
	got := s.run(t, feeds)
	defer destroyAll(got)
	for _, o := range outs {
		if want := []int64(got[o].GetShape()); !slices.Equal(shapes[o], want) {
			t.Errorf("InferShapes(%q) = %v, ONNX Runtime produced %v", o, shapes[o], want)
		}
	}
}

// fdOptions tunes a finite-difference check.
type fdOptions struct {
	// eps is the step along each direction. The check runs on a copy of
	// the forward linearised at x (see frozen), so piecewise-linear graphs
	// are exactly linear there and take large steps; smooth nonlinear ones
	// (Mul or Div of two tensors) want small steps.
	eps float64
	// lo, hi bound |x|: inputs are drawn with |x| in [lo, hi) and random
	// sign; lo > 0 keeps them away from a kink at zero.
	lo, hi float64
	dirs   int
	// inPlace builds the plan with DifferentiateInPlace and checks that
	// its backward pass reads no seed.
	inPlace bool
}

// frozen returns a copy of g in which every ReLU, LeakyReLU, Clip and
// MaxPool is replaced by its linearisation at the point where probe values
// were taken: ReLU and LeakyReLU multiply by their slope pattern, Clip by
// its pass mask plus the clipped constants, MaxPool gathers at the argmax
// indices. The copy equals g near x and is smooth everywhere, so finite
// differences need not avoid kinks, however many units the graph has:
// stepping across a kink would otherwise mix two linear pieces.
// probed names the tensors whose values are needed: the inputs of ReLU,
// LeakyReLU and Clip, and MaxPool indices (added to probeGraph's nodes).
func frozen(t *testing.T, g *onnx.GraphProto, shapes Shapes) (probeGraph *onnx.GraphProto, probed []string, build func(vals map[string]ort.Value) *onnx.GraphProto) {
	probeGraph = proto.Clone(g).(*onnx.GraphProto)
	ix, err := indexGraph(g)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range probeGraph.GetNode() {
		switch n.GetOpType() {
		case "Relu", "LeakyRelu", "Clip", "HardSigmoid", "HardSwish":
			probed = append(probed, n.GetInput()[0])
		case "MaxPool":
			if len(n.Output) < 2 || n.Output[1] == "" {
				n.Output = append(n.Output[:1], fmt.Sprintf("probe_indices_%d", i))
			}
			probed = append(probed, n.Output[1])
		}
	}
	build = func(vals map[string]ort.Value) *onnx.GraphProto {
		f := proto.Clone(g).(*onnx.GraphProto)
		var nodes []*onnx.NodeProto
		for i, n := range f.GetNode() {
			op := n.GetOpType()
			if op != "Relu" && op != "LeakyRelu" && op != "Clip" && op != "MaxPool" && op != "HardSigmoid" && op != "HardSwish" {
				nodes = append(nodes, n)
				continue
			}
			z, y := n.GetInput()[0], n.GetOutput()[0]
			zs := shapes[z]
			constant := func(suffix string, dims []int64, data []float32) string {
				name := fmt.Sprintf("frozen_%d_%s", i, suffix)
				f.Initializer = append(f.Initializer, onnxgraph.Floats32(name, dims, data))
				return name
			}
			if op == "MaxPool" {
				idx := probeGraph.GetNode()[i].GetOutput()[1]
				flatIdx := slices.Clone(vals[idx].(*ort.Tensor[int64]).GetData())
				iname := fmt.Sprintf("frozen_%d_indices", i)
				f.Initializer = append(f.Initializer, onnxgraph.Int64s(iname, []int64{int64(len(flatIdx))}, flatIdx))
				flat := fmt.Sprintf("frozen_%d_flat", i)
				gathered := fmt.Sprintf("frozen_%d_gathered", i)
				shape := fmt.Sprintf("frozen_%d_shape", i)
				f.Initializer = append(f.Initializer, onnxgraph.Int64s(shape, []int64{int64(len(shapes[y]))}, shapes[y]))
				minus1 := fmt.Sprintf("frozen_%d_minus1", i)
				f.Initializer = append(f.Initializer, onnxgraph.Int64s(minus1, []int64{1}, []int64{-1}))
				nodes = append(nodes,
					onnxgraph.Node("Reshape", "", []string{z, minus1}, []string{flat}),
					onnxgraph.Node("GatherElements", "", []string{flat, iname}, []string{gathered}, onnxgraph.Int("axis", 0)),
					onnxgraph.Node("Reshape", "", []string{gathered, shape}, []string{y}))
				if len(n.GetOutput()) > 1 && n.GetOutput()[1] != "" {
					f.Initializer = append(f.Initializer, onnxgraph.Int64s(n.GetOutput()[1], shapes[y], flatIdx))
				}
				continue
			}
			zv := floatData(t, vals[z])
			slope := make([]float32, len(zv))
			offset := make([]float32, len(zv))
			switch op {
			case "Relu":
				for k, v := range zv {
					if v > 0 {
						slope[k] = 1
					}
				}
			case "LeakyRelu":
				alpha := onnxgraph.AttrFloat(n, "alpha", 0.01)
				for k, v := range zv {
					slope[k] = alpha
					if v > 0 {
						slope[k] = 1
					}
				}
			case "Clip":
				lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
				if v, err := ix.constFloats(input(n, 1)); err == nil {
					lo = v[0]
				}
				if v, err := ix.constFloats(input(n, 2)); err == nil {
					hi = v[0]
				}
				for k, v := range zv {
					switch {
					case v <= lo:
						offset[k] = lo
					case v >= hi:
						offset[k] = hi
					default:
						slope[k] = 1
					}
				}
			case "HardSigmoid", "HardSwish":
				// HardSigmoid is slope·z + offset piecewise; HardSwish is
				// z·(slope·z + offset) with its factor frozen the same way.
				alpha, beta := onnxgraph.AttrFloat(n, "alpha", 0.2), onnxgraph.AttrFloat(n, "beta", 0.5)
				if op == "HardSwish" {
					alpha, beta = 1.0/6, 0.5
				}
				for k, v := range zv {
					switch a := alpha*v + beta; {
					case a >= 1:
						offset[k] = 1
					case a > 0:
						slope[k], offset[k] = alpha, beta
					}
				}
				if op == "HardSwish" {
					scaled, factor := fmt.Sprintf("frozen_%d_scaled", i), fmt.Sprintf("frozen_%d_factor", i)
					nodes = append(nodes,
						onnxgraph.Node("Mul", "", []string{z, constant("slope", zs, slope)}, []string{scaled}),
						onnxgraph.Node("Add", "", []string{scaled, constant("offset", zs, offset)}, []string{factor}),
						onnxgraph.Node("Mul", "", []string{z, factor}, []string{y}))
					continue
				}
			}
			scaled := fmt.Sprintf("frozen_%d_scaled", i)
			nodes = append(nodes,
				onnxgraph.Node("Mul", "", []string{z, constant("slope", zs, slope)}, []string{scaled}),
				onnxgraph.Node("Add", "", []string{scaled, constant("offset", zs, offset)}, []string{y}))
		}
		f.Node = nodes
		return f
	}
	return probeGraph, probed, build
}

// checkGradient differentiates tg's graph from x to seeds and compares the
// backward's directional derivatives with central differences of
// J = sum_i <w_i, seed_i>, computed in float64 from forward runs of the
// graph linearised at x.
func checkGradient(t *testing.T, tg *testGraph, seeds []string, o fdOptions) *Plan {
	t.Helper()
	initORT(t)
	if o.eps == 0 {
		o.eps = 1e-2
	}
	if o.hi == 0 {
		o.hi = 1
	}
	if o.dirs == 0 {
		o.dirs = 3
	}
	g := tg.g
	inShape := valueDims(g.GetInput()[0])
	inputs := Shapes{"x": inShape}
	for name, v := range tg.extra {
		inputs[name] = v.shape
	}
	shapes, err := InferShapes(g, inputs)
	if err != nil {
		t.Fatalf("InferShapes: %v", err)
	}
	n, _ := onnxgraph.NumElements(inShape)
	x := make([]float64, n)
	for i := range x {
		x[i] = o.lo + (o.hi-o.lo)*tg.rng.Float64()
		if tg.rng.IntN(2) == 0 {
			x[i] = -x[i]
		}
	}
	feeds := map[string]ort.Value{"x": tensor(t, inShape, toFloat32(x))}
	for name, v := range tg.extra {
		feeds[name] = tensor(t, v.shape, v.data)
	}
	checkShapes(t, g, shapes, feeds)

	differentiate := Differentiate
	if o.inPlace {
		differentiate = DifferentiateInPlace
	}
	plan, err := differentiate(g, shapes, "x", seeds)
	if err != nil {
		t.Fatalf("Differentiate: %v", err)
	}
	checkPlanShape(t, plan, shapes, seeds)
	if o.inPlace {
		// The caller overwrites the seeds with their gradients: the
		// backward pass must not read them.
		for _, s := range plan.Saved {
			if slices.Contains(seeds, s) {
				t.Fatalf("the in-place plan saves seed %q for the backward pass", s)
			}
		}
	}

	// The true forward at x, with what freezing needs.
	probeGraph, probed, freeze := frozen(t, g, shapes)
	probe := newSession(t, probeGraph, append(slices.Clone(seeds), probed...), 1)
	truth := probe.run(t, feeds)
	defer destroyAll(truth)
	lin := newSession(t, freeze(truth), seeds, 1)

	fwd := newSession(t, plan.Forward, append(slices.Clone(seeds), plan.Saved...), 1)
	res := fwd.run(t, feeds)
	defer destroyAll(res)
	linRes := lin.run(t, feeds)
	defer destroyAll(linRes)
	for _, s := range seeds {
		want := floatData(t, truth[s])
		for name, r := range map[string]map[string]ort.Value{"plan's forward": res, "linearised forward": linRes} {
			if d := maxDiff(floatData(t, r[s]), want); d > 1e-5 {
				t.Fatalf("%s differs from the graph at x on seed %q by %g", name, s, d)
			}
		}
	}

	w := make([][]float64, len(seeds))
	bfeeds := map[string]ort.Value{}
	for i, s := range seeds {
		w[i] = make([]float64, len(floatData(t, res[s])))
		for j := range w[i] {
			w[i][j] = 2*tg.rng.Float64() - 1
		}
		bfeeds[plan.SeedInputs[i]] = tensor(t, res[s].GetShape(), toFloat32(w[i]))
	}
	for _, s := range plan.Saved {
		bfeeds[s] = res[s]
	}
	bwd := newSession(t, plan.Backward, []string{plan.InputGrad}, 1)
	gres := bwd.run(t, bfeeds)
	defer destroyAll(gres)
	dx := floatData(t, gres[plan.InputGrad])
	if got := []int64(gres[plan.InputGrad].GetShape()); !slices.Equal(got, inShape) {
		t.Fatalf("input gradient has shape %v, want %v", got, inShape)
	}
	var dxNorm float64
	for _, v := range dx {
		dxNorm += float64(v) * float64(v)
	}
	if dxNorm == 0 || math.IsNaN(dxNorm) {
		t.Fatalf("input gradient is all zero or NaN (|dx|² = %v)", dxNorm)
	}

	// eval returns J at x+step*v and the point actually evaluated (x+step*v
	// rounded to float32, so the comparison uses the true step).
	eval := func(v []float64, step float64) (float64, []float32) {
		p := make([]float64, len(x))
		for i := range x {
			p[i] = x[i] + step*v[i]
		}
		pf := toFloat32(p)
		f := maps(feeds)
		f["x"] = tensor(t, inShape, pf)
		r := lin.run(t, f)
		defer destroyAll(r)
		var j float64
		for i, s := range seeds {
			for k, y := range floatData(t, r[s]) {
				j += w[i][k] * float64(y)
			}
		}
		return j, pf
	}
	for d := range o.dirs {
		v := make([]float64, len(x))
		for i := range v {
			v[i] = 2*tg.rng.Float64() - 1
		}
		jp, xp := eval(v, o.eps)
		jm, xm := eval(v, -o.eps)
		fd := jp - jm
		var an, vNorm float64
		for i := range dx {
			step := float64(xp[i]) - float64(xm[i])
			an += float64(dx[i]) * step
			vNorm += step * step
		}
		// Directional derivatives scatter around |dx||v|/sqrt(n); an
		// unlucky direction near zero is judged against a tenth of that.
		floor := 0.1 * math.Sqrt(dxNorm*vNorm/float64(len(dx)))
		rel := math.Abs(fd-an) / max(math.Abs(fd), math.Abs(an), floor)
		if rel > 1e-3 || math.IsNaN(rel) {
			t.Errorf("direction %d: finite difference %.9g, backward %.9g, relative error %.2e", d, fd, an, rel)
		}
	}
	return plan
}

func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i]))/(1+math.Abs(float64(b[i]))))
	}
	return d
}

func maps(m map[string]ort.Value) map[string]ort.Value {
	c := make(map[string]ort.Value, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func toFloat32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func valueDims(v *onnx.ValueInfoProto) []int64 {
	var dims []int64
	for _, d := range v.GetType().GetTensorType().GetShape().GetDim() {
		dims = append(dims, d.GetDimValue())
	}
	return dims
}

// checkPlanShape checks the Plan contract: backward inputs are the seed
// inputs then Saved, typed with static shapes; one output, InputGrad.
func checkPlanShape(t *testing.T, p *Plan, shapes Shapes, seeds []string) {
	t.Helper()
	var names []string
	for _, in := range p.Backward.GetInput() {
		names = append(names, in.GetName())
		if in.GetType().GetTensorType().GetShape() == nil {
			t.Errorf("backward input %q has no shape", in.GetName())
		}
		for _, d := range in.GetType().GetTensorType().GetShape().GetDim() {
			if _, ok := d.GetValue().(*onnx.TensorShapeProto_Dimension_DimValue); !ok {
				t.Errorf("backward input %q has a symbolic dimension", in.GetName())
			}
		}
	}
	if want := append(slices.Clone(p.SeedInputs), p.Saved...); !slices.Equal(names, want) {
		t.Errorf("backward inputs %v, want seed inputs then saved %v", names, want)
	}
	if len(p.SeedInputs) != len(seeds) {
		t.Errorf("%d seed inputs for %d seeds", len(p.SeedInputs), len(seeds))
	}
	for i, s := range p.SeedInputs {
		if got := valueDims(p.Backward.GetInput()[i]); !slices.Equal(got, shapes[seeds[i]]) {
			t.Errorf("seed input %q has shape %v, want %v", s, got, shapes[seeds[i]])
		}
	}
	seen := map[string]bool{}
	for _, s := range p.Saved {
		if seen[s] {
			t.Errorf("saved tensor %q listed twice", s)
		}
		seen[s] = true
		for _, init := range p.Forward.GetInitializer() {
			if init.GetName() == s {
				t.Errorf("saved tensor %q is an initializer", s)
			}
		}
		for _, in := range p.Forward.GetInput() {
			if in.GetName() == s {
				t.Errorf("saved tensor %q is a graph input", s)
			}
		}
	}
	if len(p.Backward.GetOutput()) != 1 || p.Backward.GetOutput()[0].GetName() != p.InputGrad {
		t.Errorf("backward outputs %v, want only %q", p.Backward.GetOutput(), p.InputGrad)
	}
}

// backwardOps lists the op types of a plan's backward graph.
func backwardOps(p *Plan) []string {
	var ops []string
	for _, n := range p.Backward.GetNode() {
		ops = append(ops, n.GetOpType())
	}
	return ops
}
