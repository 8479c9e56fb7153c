package autodiff

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/nst-project/nst/internal/onnxgraph"
	"github.com/nst-project/nst/internal/ortrt"
)

func TestProfileTmp(t *testing.T) {
	initORT(t)
	size := int64(256)
	tg := newTestGraph(1, 1, 3, size, size)
	seeds := vgg19(tg, os.Getenv("AVG") != "")
	shapes, _ := InferShapes(tg.g, Shapes{"x": {1, 3, size, size}})
	plan, err := Differentiate(tg.g, shapes, "x", seeds)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	prof := func(name string, g *onnx.GraphProto, outs []string, feeds map[string]ort.Value) map[string]ort.Value {
		g = proto.Clone(g).(*onnx.GraphProto)
		g.Output = nil
		for _, o := range outs {
			g.Output = append(g.Output, &onnx.ValueInfoProto{Name: o, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: int32(outputType(g, o))}}}})
		}
		var ins []string
		for _, in := range g.GetInput() {
			ins = append(ins, in.GetName())
		}
		bts, _ := onnxgraph.Marshal(onnxgraph.Model(g))
		s, err := ortrt.NewSession(bts, ins, outs, ortrt.SessionOptions{Threads: 2, ProfilePrefix: filepath.Join(dir, name)})
		if err != nil {
			t.Fatal(err)
		}
		in := make([]ort.Value, len(ins))
		for i, n := range ins {
			in[i] = feeds[n]
		}
		var out []ort.Value
		for r := 0; r < 6; r++ {
			out = make([]ort.Value, len(outs))
			if err := s.Run(in, out); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		m := map[string]ort.Value{}
		for i, n := range outs {
			m[n] = out[i]
		}
		return m
	}
	x := tensor(t, []int64{1, 3, size, size}, tg.uniform(3*size*size, -1, 1))
	res := prof("fwd", plan.Forward, append(append([]string{}, seeds...), plan.Saved...), map[string]ort.Value{"x": x})
	prof("plain", tg.g, seeds, map[string]ort.Value{"x": x})
	feeds := map[string]ort.Value{}
	for i, s := range plan.SeedInputs {
		feeds[s] = res[seeds[i]]
	}
	for _, s := range plan.Saved {
		feeds[s] = res[s]
	}
	prof("bwd", plan.Backward, []string{plan.InputGrad}, feeds)
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		var ev []struct {
			Cat  string `json:"cat"`
			Name string `json:"name"`
			Dur  int64  `json:"dur"`
			Ts   int64  `json:"ts"`
			Args map[string]any `json:"args"`
		}
		json.Unmarshal(b, &ev)
		byOp := map[string]int64{}
		var runs int64
		var total int64
		firstEnd := int64(1) << 62
		for _, e := range ev {
			if e.Cat == "Session" && e.Name == "model_run" && e.Ts+e.Dur < firstEnd {
				firstEnd = e.Ts + e.Dur
			}
		}
		for _, e := range ev {
			if e.Ts < firstEnd {
				continue
			}
			if e.Cat == "Session" && e.Name == "model_run" {
				runs++
				total += e.Dur
			}
			if e.Cat == "Node" && strings.HasSuffix(e.Name, "_kernel_time") {
				op, _ := e.Args["op_name"].(string)
				byOp[op] += e.Dur
			}
		}
		type kv struct {
			k string
			v int64
		}
		var l []kv
		for k, v := range byOp {
			l = append(l, kv{k, v})
		}
		sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v })
		fmt.Printf("%s: %d runs, %.1f ms/run\n", filepath.Base(f), runs, float64(total)/float64(runs)/1000)
		for _, e := range l {
			fmt.Printf("   %-20s %8.2f ms/run\n", e.k, float64(e.v)/float64(runs)/1000)
		}
	}
}
