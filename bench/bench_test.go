package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nst-project/nst/models"
)

// benchSpec has one layer of every name the default config reads
// (relu1_1 ... relu5_1, relu4_2), with few channels, so a benchmark run
// takes a fraction of a second.
var benchSpec = models.SynthSpec{Blocks: [][]int{{4}, {4}, {8}, {8, 8}, {8}}}

// TestBenchReportsTheSplit runs Bench on a small backbone and checks what
// it reports against what it must be.
func TestBenchReportsTheSplit(t *testing.T) {
	var model bytes.Buffer
	if err := models.WriteSynthFrom(&model, benchSpec, 1); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bench.onnx")
	if err := os.WriteFile(path, model.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	rep, err := Run(context.Background(), Options{Sizes: []int{32}, Iterations: 2, Model: path, Threads: 1, MatMulSize: 64, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Sizes) != 1 {
		t.Fatalf("report %+v", rep)
	}
	s := rep.Sizes[0]
	if s.MatMul == nil || s.MatMul.N != 64 || s.MatMul.GFLOPS <= 0 || s.OfMatMul != s.GFLOPS/s.MatMul.GFLOPS {
		t.Errorf("matmul %+v, of it %g", s.MatMul, s.OfMatMul)
	}
	if s.Width != 32 || s.Height != 32 || s.Iterations != 2 || s.Evals < 2 {
		t.Errorf("size %dx%d, %d iterations, %d evaluations", s.Width, s.Height, s.Iterations, s.Evals)
	}
	// Convolutions forward and backward: 3x3 kernels, padding 1, at
	// 32, 16, 8, 4 and 2 pixels; plus a Gram and its gradient per style
	// layer, 2·C²·M each.
	convs := []struct{ in, out, side int64 }{{3, 4, 32}, {4, 4, 16}, {4, 8, 8}, {8, 8, 4}, {8, 8, 4}, {8, 8, 2}}
	var flops int64
	for _, c := range convs {
		flops += 2 * 2 * 9 * c.in * c.out * c.side * c.side
	}
	for _, g := range []struct{ c, side int64 }{{4, 32}, {4, 16}, {8, 8}, {8, 4}, {8, 2}} {
		flops += 2 * 2 * g.c * g.c * g.side * g.side
	}
	if got := s.GFLOP * 1e9; got < float64(flops)*0.999 || got > float64(flops)*1.001 {
		t.Errorf("GFLOP per evaluation %g, want %g", s.GFLOP, float64(flops)/1e9)
	}
	sp := s.Iteration
	if sp.Forward <= 0 || sp.Backward <= 0 || sp.Costs <= 0 || sp.Step < 0 || sp.Forward+sp.Backward+sp.Costs+sp.Step != sp.Total {
		t.Errorf("split %+v does not add up", sp)
	}
	if s.Startup <= 0 || s.FirstIteration <= 0 || s.GFLOPS <= 0 || s.OfMatMul <= 0 || s.EstimatedPeak <= 0 {
		t.Errorf("report %+v", s)
	}
	st := s.StartupSplit
	if st.Inputs <= 0 || st.Backbone <= 0 || st.Sessions <= 0 || st.Targets <= 0 || st.Inputs+st.Backbone+st.Sessions+st.Targets > s.Startup {
		t.Errorf("start-up split %+v of %v", st, s.Startup)
	}
	if _, err := os.Stat("/proc/self/status"); err == nil && s.PeakRSS <= 0 {
		t.Errorf("peak memory %d", s.PeakRSS)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"32x32", "two 64x64 matrices", "s/iter", "sessions"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, text.String())
		}
	}
	if !strings.Contains(progress.String(), "32x32:") {
		t.Errorf("progress %q", progress.String())
	}
}

func TestBenchRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{{Sizes: []int{8}}, {Iterations: -1}} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("Run(%+v) accepted", o)
		}
	}
}
