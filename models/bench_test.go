package models

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nst-project/nst/internal/ortrt"
	"github.com/nst-project/nst/models/internal/trunks"
)

// ortrtOptions are the session settings of the benchmarks: the two cores
// of the machines nst is measured on.
var ortrtOptions = ortrt.SessionOptions{Threads: 2}

// gatysLayers are the layers Gatys et al. read: five style layers and the
// content layer.
var gatysLayers = []string{"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"}

// BenchmarkVGG19 times Forward and Backward of the synthetic VGG19 with the
// Gatys et al. layers and average pooling. The backward benchmark profiles
// its session and reports the time per run of each op type ONNX Runtime
// executed (ReorderInput and ReorderOutput are its layout conversions).
func BenchmarkVGG19(b *testing.B) {
	backbone, err := Synth("vgg19", 0)
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{256, 512} {
		img := randImage(size, size, 1)
		opts := Options{Layers: gatysLayers, Pooling: PoolingAvg, Height: size, Width: size, Preprocess: ImageNetPreprocess, Session: ortrtOptions}
		b.Run(fmt.Sprintf("%dpx/forward", size), func(b *testing.B) {
			net := prepare(b, backbone, opts)
			for b.Loop() {
				if _, err := net.Forward(img); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("%dpx/backward", size), func(b *testing.B) {
			profiled := opts
			profiled.Session = ortrtOptions
			profiled.Session.ProfilePrefix = filepath.Join(b.TempDir(), "nst")
			net, err := backbone.Prepare(profiled)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := net.Forward(img); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := net.Backward(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if err := net.Close(); err != nil {
				b.Fatal(err)
			}
			files, _ := filepath.Glob(profiled.Session.ProfilePrefix + "_backward_*.json")
			if len(files) != 1 {
				b.Fatalf("backward profiles: %v", files)
			}
			byOp, runs, err := opTimes(files[0])
			if err != nil {
				b.Fatal(err)
			}
			ops := make([]string, 0, len(byOp))
			for op := range byOp {
				ops = append(ops, op)
			}
			slices.SortFunc(ops, func(x, y string) int { return int(byOp[y] - byOp[x]) })
			var lines []string
			for _, op := range ops {
				perRun := byOp[op] / time.Duration(runs)
				lines = append(lines, fmt.Sprintf("%s %.1f ms", op, float64(perRun)/1e6))
				b.ReportMetric(float64(perRun)/1e6, op+"-ms/op")
			}
			b.Logf("backward time by op type over %d runs: %s", runs, strings.Join(lines, ", "))
		})
	}
}

// BenchmarkSynthVGG19 times building the built-in backbone, which the
// pipeline does at start-up.
func BenchmarkSynthVGG19(b *testing.B) {
	for b.Loop() {
		if _, err := Synth("vgg19", 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrepareVGG19 times Prepare of the synthetic VGG19 at 256x256:
// the cut, shape inference, the backward graph and both sessions.
func BenchmarkPrepareVGG19(b *testing.B) {
	backbone, err := Synth("vgg19", 0)
	if err != nil {
		b.Fatal(err)
	}
	opts := Options{Layers: gatysLayers, Pooling: PoolingAvg, Height: 256, Width: 256, Preprocess: ImageNetPreprocess, Session: ortrtOptions}
	for b.Loop() {
		net, err := backbone.Prepare(opts)
		if err != nil {
			b.Fatal(err)
		}
		if err := net.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// profileEvent is the part of an ONNX Runtime profile event nst reads.
type profileEvent struct {
	Cat  string `json:"cat"`
	Name string `json:"name"`
	Dur  int64  `json:"dur"` // microseconds
	Args struct {
		OpName string `json:"op_name"`
	} `json:"args"`
}

// opTimes sums an ONNX Runtime profile's kernel times by op type and counts
// the session runs it covers.
func opTimes(path string) (map[string]time.Duration, int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	var events []profileEvent
	if err := json.Unmarshal(data, &events); err != nil {
		return nil, 0, fmt.Errorf("parse profile %s: %w", path, err)
	}
	byOp := map[string]time.Duration{}
	runs := 0
	for _, e := range events {
		switch {
		case e.Cat == "Session" && e.Name == "model_run":
			runs++
		case e.Cat == "Node" && strings.HasSuffix(e.Name, "_kernel_time"):
			byOp[e.Args.OpName] += time.Duration(e.Dur) * time.Microsecond
		}
	}
	if runs == 0 {
		return nil, 0, fmt.Errorf("profile %s records no run", path)
	}
	return byOp, runs, nil
}

func TestOpTimesAggregatesKernels(t *testing.T) {
	profile := `[
{"cat":"Session","pid":1,"tid":1,"dur":900,"ts":1,"ph":"X","name":"model_loading_array","args":{}},
{"cat":"Node","pid":1,"tid":1,"dur":5,"ts":2,"ph":"X","name":"c1_fence_before","args":{"op_name":"Conv"}},
{"cat":"Node","pid":1,"tid":1,"dur":300,"ts":3,"ph":"X","name":"c1_kernel_time","args":{"op_name":"Conv","provider":"CPUExecutionProvider"}},
{"cat":"Node","pid":1,"tid":1,"dur":200,"ts":4,"ph":"X","name":"c2_kernel_time","args":{"op_name":"Conv"}},
{"cat":"Node","pid":1,"tid":1,"dur":40,"ts":5,"ph":"X","name":"r_kernel_time","args":{"op_name":"ReorderOutput"}},
{"cat":"Session","pid":1,"tid":1,"dur":600,"ts":6,"ph":"X","name":"model_run","args":{}},
{"cat":"Session","pid":1,"tid":1,"dur":600,"ts":7,"ph":"X","name":"model_run","args":{}}
]`
	p := filepath.Join(t.TempDir(), "p.json")
	if err := os.WriteFile(p, []byte(profile), 0o644); err != nil {
		t.Fatal(err)
	}
	byOp, runs, err := opTimes(p)
	if err != nil {
		t.Fatal(err)
	}
	if runs != 2 || byOp["Conv"] != 500*time.Microsecond || byOp["ReorderOutput"] != 40*time.Microsecond || len(byOp) != 2 {
		t.Errorf("runs %d, by op %v", runs, byOp)
	}
}

// BenchmarkArchitectures times one Forward and one Backward, together, of
// each torchvision trunk at torchvision's widths and depths with random
// weights (package trunks) at 224x224, on the layers the export script
// recommends (content and style), with average pooling as nst runs by
// default; forward-ms/op is the Forward's share. The costs' own work
// (Gram matrices) is not included.
func BenchmarkArchitectures(b *testing.B) {
	const side = 224
	img := randImage(side, side, 1)
	for _, arch := range append([]string{"vgg19"}, trunks.Archs...) {
		b.Run(arch, func(b *testing.B) {
			// VGG19 is the built-in backbone with Gatys et al.'s layers,
			// for comparison.
			backbone, err := Synth("vgg19", 0)
			layers := gatysLayers
			if arch != "vgg19" {
				path, taps := writeTrunk(b, arch, trunks.Options{Seed: 1})
				if backbone, err = Load(path); err != nil {
					b.Fatal(err)
				}
				content, style := trunks.Recommended(arch, taps)
				layers = slices.Clone(style)
				if !slices.Contains(layers, content) {
					layers = append(layers, content)
				}
			}
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			net := prepare(b, backbone, Options{Layers: layers, Pooling: PoolingAvg, Height: side, Width: side, Preprocess: ImageNetPreprocess, Session: ortrtOptions})
			prepared := time.Since(start)
			var forward time.Duration
			run := func() {
				start := time.Now()
				if _, err := net.Forward(img); err != nil {
					b.Fatal(err)
				}
				forward += time.Since(start)
				if _, err := net.Backward(); err != nil {
					b.Fatal(err)
				}
			}
			run()
			forward = 0
			cpu := cpuTime()
			for b.Loop() {
				run()
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/1e6, "cpu-ms/op")
			b.ReportMetric(float64(forward)/float64(b.N)/1e6, "forward-ms/op")
			b.ReportMetric(prepared.Seconds(), "prepare-s")
			b.ReportMetric(float64(backbone.WeightBytes(""))/1e6, "weights-MB")
			b.ReportMetric(float64(net.ConvFLOPs())/1e9, "conv-GFLOP")
		})
	}
}

// cpuTime returns the CPU time this process has used, all threads together.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
