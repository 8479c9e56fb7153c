package autodiff

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/nst-project/nst/internal/onnxgraph"
	"github.com/nst-project/nst/internal/ortrt"
)

// benchThreads defaults to the 2 cores nst is tuned for. On a machine
// shared with other work, -threads=1 gives steadier comparisons: a parallel
// loop waits for its slowest thread, and a descheduled thread stalls it.
var benchThreads = flag.Int("threads", 2, "intra-op threads for benchmarks")

// cpuTime returns the CPU time this process has used, all threads together.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loop runs f b.N times and reports the CPU time per run besides the wall
// time, since the wall time on a loaded machine mostly measures the load.
func loop(b *testing.B, f func()) {
	start := cpuTime()
	for b.Loop() {
		f()
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e6, "cpu-ms/op")
}

// runner holds a session with pre-allocated inputs and outputs, the way the
// optimisation loop runs them.
type runner struct {
	s       *ortrt.Session
	in, out []ort.Value
}

// newRunner creates a session over g with the given outputs, allocating
// every input and output once. values supplies input tensors by name
// (shared between runners, such as saved forward outputs); other inputs
// are allocated with their declared shapes and element types.
func newRunner(b *testing.B, g *onnx.GraphProto, outputs []string, values map[string]ort.Value, shapes Shapes, types map[string]onnx.TensorProto_DataType) *runner {
	b.Helper()
	s := newSession(b, g, outputs, *benchThreads)
	r := &runner{s: s.s}
	alloc := func(name string) ort.Value {
		if v, ok := values[name]; ok {
			return v
		}
		var v ort.Value
		var err error
		switch types[name] {
		case onnx.TensorProto_INT64:
			v, err = ort.NewEmptyTensor[int64](ort.NewShape(shapes[name]...))
		case onnx.TensorProto_BOOL:
			v, err = ort.NewEmptyTensor[bool](ort.NewShape(shapes[name]...))
		default:
			t, e := ort.NewEmptyTensor[float32](ort.NewShape(shapes[name]...))
			if e == nil {
				for i := range t.GetData() {
					t.GetData()[i] = float32(i%7) * 0.1
				}
			}
			v, err = t, e
		}
		if err != nil {
			b.Fatalf("tensor %q %v: %v", name, shapes[name], err)
		}
		values[name] = v
		b.Cleanup(func() { v.Destroy() })
		return v
	}
	for _, name := range s.inputs {
		r.in = append(r.in, alloc(name))
	}
	for _, name := range outputs {
		r.out = append(r.out, alloc(name))
	}
	return r
}

func (r *runner) run(b *testing.B) {
	if err := r.s.Run(r.in, r.out); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkConvInputGrad compares input-gradient formulations of a 3x3,
// pad 1 convolution, 64->64 channels at 128x128: the forward itself, the
// flipped-weight Conv Differentiate builds, and ConvTranspose.
func BenchmarkConvInputGrad(b *testing.B) {
	initORT(b)
	const c, hw = 64, 128
	tg := newTestGraph(1, 1, c, hw, hw)
	y := tg.conv("x", c, c, []int64{3, 3}, true, ints("pads", 1, 1, 1, 1))
	shapes, err := InferShapes(tg.g, Shapes{"x": {1, c, hw, hw}})
	if err != nil {
		b.Fatal(err)
	}
	plan, err := Differentiate(tg.g, shapes, "x", []string{y})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range plan.Backward.GetNode() {
		if n.GetOpType() != "Conv" {
			b.Fatalf("backward holds %s; want a single Conv", n.GetOpType())
		}
	}
	w := tg.g.GetNode()[0].GetInput()[1]
	var wInit *onnx.TensorProto
	for _, t := range tg.g.GetInitializer() {
		if t.GetName() == w {
			wInit = t
		}
	}
	transposed := &onnx.GraphProto{
		Name:        "convtranspose",
		Initializer: []*onnx.TensorProto{wInit},
		Node: []*onnx.NodeProto{onnxgraph.Node("ConvTranspose", "", []string{"dy", w}, []string{"dx"},
			ints("pads", 1, 1, 1, 1))},
		Input: []*onnx.ValueInfoProto{onnxgraph.FloatValue("dy", 1, c, hw, hw)},
	}
	flops := float64(2 * c * c * 9 * hw * hw)
	shapes["dy"], shapes["dx"] = shapes[y], shapes["x"]
	shapes[plan.SeedInputs[0]], shapes[plan.InputGrad] = shapes[y], shapes["x"]
	for _, bc := range []struct {
		name    string
		g       *onnx.GraphProto
		outputs []string
	}{
		{"forward", tg.g, []string{y}},
		{"flipped-conv", plan.Backward, []string{plan.InputGrad}},
		{"ConvTranspose", transposed, []string{"dx"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := newRunner(b, bc.g, bc.outputs, map[string]ort.Value{}, shapes, nil)
			r.run(b)
			b.ResetTimer()
			loop(b, func() { r.run(b) })
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// vgg19 builds VGG19's convolutional layers up to relu5_1 with random
// weights and returns the ReLU outputs nst uses as style and content
// layers: relu1_1, relu2_1, relu3_1, relu4_1, relu4_2, relu5_1.
func vgg19(tg *testGraph, avgPool bool) []string {
	cfg := []int64{64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512}
	x, cin := "x", int64(3)
	var relus []string
	for _, c := range cfg {
		if c == 0 {
			op := "MaxPool"
			if avgPool {
				op = "AveragePool"
			}
			x = tg.op(op, []string{x}, ints("kernel_shape", 2, 2), ints("strides", 2, 2))
			continue
		}
		x = tg.op("Relu", []string{tg.conv(x, cin, c, []int64{3, 3}, true, ints("pads", 1, 1, 1, 1))})
		relus = append(relus, x)
		cin = c
	}
	// relu1_1, relu2_1, relu3_1, relu4_1, relu4_2, relu5_1
	return []string{relus[0], relus[2], relus[4], relus[8], relus[9], relus[12]}
}

// BenchmarkVGG19 times one forward (with the seeds and Saved as outputs,
// as the optimisation loop runs it) and one backward of VGG19 up to relu5_1
// with the six layers nst uses as seeds; forward-seeds-only is the
// original graph with the seeds alone as outputs, the cost without any
// backward bookkeeping.
func BenchmarkVGG19(b *testing.B) {
	initORT(b)
	for _, bc := range []struct {
		size int64
		avg  bool
	}{{128, false}, {256, false}, {256, true}, {512, false}} {
		pool := "maxpool"
		if bc.avg {
			pool = "avgpool"
		}
		b.Run(fmt.Sprintf("%d-%s", bc.size, pool), func(b *testing.B) {
			tg := newTestGraph(1, 1, 3, bc.size, bc.size)
			seeds := vgg19(tg, bc.avg)
			shapes, err := InferShapes(tg.g, Shapes{"x": {1, 3, bc.size, bc.size}})
			if err != nil {
				b.Fatal(err)
			}
			plan, err := Differentiate(tg.g, shapes, "x", seeds)
			if err != nil {
				b.Fatal(err)
			}
			for i, s := range plan.SeedInputs {
				shapes[s] = shapes[seeds[i]]
			}
			shapes[plan.InputGrad] = shapes["x"]
			types := map[string]onnx.TensorProto_DataType{}
			for _, in := range plan.Backward.GetInput() {
				types[in.GetName()] = onnx.TensorProto_DataType(in.GetType().GetTensorType().GetElemType())
				shapes[in.GetName()] = valueDims(in)
			}
			values := map[string]ort.Value{}
			outs := append(append([]string{}, seeds...), plan.Saved...)
			fwd := newRunner(b, plan.Forward, outs, values, shapes, types)
			bwd := newRunner(b, plan.Backward, []string{plan.InputGrad}, values, shapes, types)
			plain := newRunner(b, tg.g, seeds, values, shapes, types)
			fwd.run(b)
			bwd.run(b)
			plain.run(b)
			b.Run("forward-seeds-only", func(b *testing.B) {
				loop(b, func() { plain.run(b) })
			})
			b.Run("forward", func(b *testing.B) {
				loop(b, func() { fwd.run(b) })
			})
			b.Run("backward", func(b *testing.B) {
				loop(b, func() { bwd.run(b) })
			})
		})
	}
}

// BenchmarkReluGrad compares formulations of the ReLU gradient at
// [1,64,512,512], the size of VGG19's first layers at 512x512: from a BOOL
// mask the forward saved, and from the saved ReLU output y.
func BenchmarkReluGrad(b *testing.B) {
	initORT(b)
	shape := []int64{1, 64, 512, 512}
	zero := onnxgraph.Floats32("zero", nil, []float32{0})
	one := onnxgraph.Floats32("one", nil, []float32{1})
	toFloat := onnxgraph.Int("to", int64(onnx.TensorProto_FLOAT))
	for _, bc := range []struct {
		name  string
		nodes []*onnx.NodeProto
	}{
		{"mask/Mul-Cast", []*onnx.NodeProto{
			onnxgraph.Node("Cast", "", []string{"m"}, []string{"f"}, toFloat),
			onnxgraph.Node("Mul", "", []string{"dy", "f"}, []string{"dx"})}},
		{"mask/Where", []*onnx.NodeProto{
			onnxgraph.Node("Where", "", []string{"m", "dy", "zero"}, []string{"dx"})}},
		{"output/Mul-Cast-Greater", []*onnx.NodeProto{
			onnxgraph.Node("Greater", "", []string{"y", "zero"}, []string{"g"}),
			onnxgraph.Node("Cast", "", []string{"g"}, []string{"f"}, toFloat),
			onnxgraph.Node("Mul", "", []string{"dy", "f"}, []string{"dx"})}},
		{"output/Mul-Sign", []*onnx.NodeProto{
			onnxgraph.Node("Sign", "", []string{"y"}, []string{"f"}),
			onnxgraph.Node("Mul", "", []string{"dy", "f"}, []string{"dx"})}},
		{"output/Mul-Ceil-Min", []*onnx.NodeProto{
			onnxgraph.Node("Min", "", []string{"y", "one"}, []string{"c"}),
			onnxgraph.Node("Ceil", "", []string{"c"}, []string{"f"}),
			onnxgraph.Node("Mul", "", []string{"dy", "f"}, []string{"dx"})}},
		{"output/Where-Greater", []*onnx.NodeProto{
			onnxgraph.Node("Greater", "", []string{"y", "zero"}, []string{"g"}),
			onnxgraph.Node("Where", "", []string{"g", "dy", "zero"}, []string{"dx"})}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := &onnx.GraphProto{Name: "relu_grad", Node: bc.nodes, Initializer: []*onnx.TensorProto{zero, one},
				Input: []*onnx.ValueInfoProto{onnxgraph.FloatValue("dy", shape...)}}
			types := map[string]onnx.TensorProto_DataType{}
			if strings.HasPrefix(bc.name, "mask/") {
				g.Input = append(g.Input, onnxgraph.Value("m", onnx.TensorProto_BOOL, shape...))
				types["m"] = onnx.TensorProto_BOOL
			} else {
				g.Input = append(g.Input, onnxgraph.FloatValue("y", shape...))
			}
			shapes := Shapes{"dy": shape, "y": shape, "m": shape, "dx": shape}
			values := map[string]ort.Value{}
			r := newRunner(b, g, []string{"dx"}, values, shapes, types)
			// Half the mask set, in no pattern a branch predictor learns;
			// y in [-0.5, 0.5) clipped at 0 like a ReLU output.
			rng := rand.New(rand.NewPCG(1, 2))
			if m, ok := values["m"].(*ort.Tensor[bool]); ok {
				for i := range m.GetData() {
					m.GetData()[i] = rng.IntN(2) == 0
				}
			}
			if y, ok := values["y"].(*ort.Tensor[float32]); ok {
				for i := range y.GetData() {
					y.GetData()[i] = max(0, rng.Float32()-0.5)
				}
			}
			r.run(b)
			loop(b, func() { r.run(b) })
		})
	}
}

// BenchmarkGlobalPoolGrad compares formulations of GlobalAveragePool's
// input gradient, a [1,C,1,1] gradient spread over [1,C,H,W], at the size
// of an early squeeze-excitation block at 512x512 (96 channels at
// 128x128): Expand, a broadcasting Mul by a constant of ones, and Resize.
func BenchmarkGlobalPoolGrad(b *testing.B) {
	initORT(b)
	const c, hw = 96, 128
	ones := make([]float32, hw*hw)
	for i := range ones {
		ones[i] = 1
	}
	inits := []*onnx.TensorProto{
		onnxgraph.Int64s("shape", []int64{4}, []int64{1, c, hw, hw}),
		onnxgraph.Floats32("ones", []int64{1, 1, hw, hw}, ones),
		onnxgraph.Floats32("scales", []int64{4}, []float32{1, 1, hw, hw}),
	}
	for _, bc := range []struct {
		name string
		node *onnx.NodeProto
	}{
		{"Expand", onnxgraph.Node("Expand", "", []string{"dy", "shape"}, []string{"dx"})},
		{"Mul-ones", onnxgraph.Node("Mul", "", []string{"dy", "ones"}, []string{"dx"})},
		{"Resize", onnxgraph.Node("Resize", "", []string{"dy", "", "scales"}, []string{"dx"}, str("mode", "nearest"))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := &onnx.GraphProto{Name: "gap_grad", Node: []*onnx.NodeProto{bc.node}, Initializer: inits,
				Input: []*onnx.ValueInfoProto{onnxgraph.FloatValue("dy", 1, c, 1, 1)}}
			shapes := Shapes{"dy": {1, c, 1, 1}, "dx": {1, c, hw, hw}}
			r := newRunner(b, g, []string{"dx"}, map[string]ort.Value{}, shapes, nil)
			r.run(b)
			loop(b, func() { r.run(b) })
		})
	}
}
