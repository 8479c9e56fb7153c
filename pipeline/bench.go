package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/nst-project/nst/builtinimg"
	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/internal/gemm"
	"github.com/nst-project/nst/internal/ortrt"
	"github.com/nst-project/nst/models"
	"github.com/nst-project/nst/optim"
)

// BenchOptions configure Bench. The zero value benchmarks the built-in
// VGG19 at 256, 512 and 1024 pixels with the default threads.
type BenchOptions struct {
	// Sizes are the square image sizes in pixels, run in this order;
	// empty means 256, 512 and 1024.
	Sizes []int
	// Iterations is the number of timed L-BFGS iterations per size, after
	// the first (whose line search takes extra evaluations and whose
	// buffers are touched for the first time); 0 means 10. L-BFGS touches
	// the memory of its history pair by pair: the peak is a long run's
	// only once the iterations reach optimizer.history (10 by default).
	Iterations int
	// Model is model.path: "" for the built-in VGG19, or an ONNX file.
	Model string
	// Threads is runtime.threads (0: one per core).
	Threads int
	// Library is runtime.library ("" for the standard lookup).
	Library string
	// MatMulSize is n of the n×n×n MatMul that measures the machine's
	// matrix-multiply rate; 0 means 2048, negative skips it.
	MatMulSize int
	// GraphCache is the folder of the optimised-graph cache the runs use
	// (models.UseGraphCache); "" runs without it.
	GraphCache string
	// Progress, when set, receives a line as each size finishes.
	Progress io.Writer
}

// BenchReport is what Bench measured.
type BenchReport struct {
	ONNXRuntime string       `json:"onnxruntime"`
	Model       string       `json:"model"`
	Threads     int          `json:"threads"`
	CPUs        int          `json:"cpus"`
	Sizes       []SizeReport `json:"sizes"`
}

// MatMulRate is the rate of ONNX Runtime's float32 MatMul of two n×n
// matrices, the best of a few runs.
type MatMulRate struct {
	N       int     `json:"n"`
	Seconds float64 `json:"seconds"`
	GFLOPS  float64 `json:"gflops"`
}

// SizeReport is one image size's measurements. Times per iteration are
// means over the timed iterations.
type SizeReport struct {
	Width  int `json:"width"`
	Height int `json:"height"`
	// Startup is the time from the start of setting up the run (ONNX
	// Runtime loaded, images read, backbone loaded, networks prepared,
	// content and style targets computed) to the first iteration.
	Startup time.Duration `json:"startup_ns"`
	// StartupCPU is the process's CPU time over Startup, all threads.
	StartupCPU time.Duration `json:"startup_cpu_ns"`
	// StartupSplit divides Startup into its parts.
	StartupSplit StartupSplit `json:"startup_split"`
	// Cached says the network's sessions came from the graph cache.
	Cached bool `json:"cached"`
	// FirstIteration is the first iteration's time.
	FirstIteration time.Duration `json:"first_iteration_ns"`
	Iterations     int           `json:"iterations"`
	// Evals is the number of cost evaluations of the timed iterations.
	Evals int `json:"evals"`
	// Iteration splits the mean time of a timed iteration.
	Iteration Split `json:"iteration"`
	// CPU is the process's CPU time per iteration, all threads together;
	// on a loaded machine it stays near threads×Iteration.Total when the
	// run got its cores, and falls well below when it did not.
	CPU time.Duration `json:"cpu_ns"`
	// Faults is the minor page faults per iteration: memory touched for
	// the first time, or again after being given back to the system,
	// each fault 15-45 µs on the virtual machines nst was measured on.
	Faults int64 `json:"faults"`
	// GFLOP is the work of one evaluation: the backbone's convolutions
	// forward and their input gradients backward, and the Gram products
	// of the style cost and its gradient.
	GFLOP float64 `json:"gflop_per_eval"`
	// GFLOPS is the achieved rate, GFLOP×Evals over the timed iterations'
	// time.
	GFLOPS float64 `json:"gflops"`
	// MatMul is the machine's matrix-multiply rate, measured in the same
	// process right after the timed iterations, so that load on a shared
	// machine weighs on both alike; OfMatMul is GFLOPS's ratio to it.
	MatMul   *MatMulRate `json:"matmul,omitempty"`
	OfMatMul float64     `json:"of_matmul,omitempty"`
	// PeakRSS is the process's peak resident memory while this size ran
	// (VmHWM, reset before each size where the kernel allows), and
	// EstimatedPeak what EstimatePeak predicted for it.
	PeakRSS       int64 `json:"peak_rss_bytes"`
	EstimatedPeak int64 `json:"estimated_peak_bytes"`
}

// Split divides time among the parts of an iteration.
type Split struct {
	// Forward and Backward are the network's passes in ONNX Runtime.
	Forward  time.Duration `json:"forward_ns"`
	Backward time.Duration `json:"backward_ns"`
	// Costs are the content, style and total-variation costs and their
	// gradients.
	Costs time.Duration `json:"costs_ns"`
	// Step is the optimiser's own work: search directions, line search
	// bookkeeping and updates of the image.
	Step time.Duration `json:"step_ns"`
	// Other is the rest: preprocessing, copies and the loop itself.
	Other time.Duration `json:"other_ns"`
	Total time.Duration `json:"total_ns"`
}

// DefaultBenchSizes are the sizes Bench runs when none are given.
var DefaultBenchSizes = []int{256, 512, 1024}

// Bench runs the style-transfer loop as nst run does (the built-in
// builtin:village scene as content, builtin:swirls as style, both read from
// PNG files as a user's images are, VGG19's Gatys et al. layers, L-BFGS)
// at each size and measures where the time
// and memory go. Sizes run one after another in this process; for start-up
// times that include loading ONNX Runtime and peaks that nothing before
// inflated, run each size in a process of its own (nst bench does).
func Bench(ctx context.Context, o BenchOptions) (*BenchReport, error) {
	sizes := o.Sizes
	if len(sizes) == 0 {
		sizes = DefaultBenchSizes
	}
	iters := cmp.Or(o.Iterations, 10)
	if iters < 0 {
		return nil, fmt.Errorf("bench: %d iterations, want at least 1", iters)
	}
	for _, s := range sizes {
		if s < 16 {
			return nil, fmt.Errorf("bench: size %d, want at least 16 pixels", s)
		}
	}
	dir, err := os.MkdirTemp("", "nst-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)

	rep := &BenchReport{Model: o.Model, Threads: o.Threads, CPUs: runtime.NumCPU()}
	if rep.Model == "" {
		rep.Model = models.BuiltinPrefix + "vgg19"
	}
	for _, size := range sizes {
		cfg, err := benchConfig(dir, o, size)
		if err != nil {
			return nil, err
		}
		s, err := benchSize(ctx, cfg, iters)
		if err != nil {
			return nil, fmt.Errorf("bench %dx%d: %w", size, size, err)
		}
		if o.MatMulSize >= 0 {
			n := cmp.Or(o.MatMulSize, 2048)
			if s.MatMul, err = MeasureMatMul(n, o.Library, o.Threads); err != nil {
				return nil, err
			}
			s.OfMatMul = s.GFLOPS / s.MatMul.GFLOPS
		}
		rep.Sizes = append(rep.Sizes, *s)
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "%dx%d: %.3f s/iteration, start-up %.2f s, peak %d MB\n", s.Width, s.Height, s.Iteration.Total.Seconds(), s.Startup.Seconds(), s.PeakRSS>>20)
		}
	}
	rep.ONNXRuntime = ortrt.Version()
	return rep, nil
}

// benchConfig is the experiment Bench runs at one size: a square content
// image (builtin:village is 3:2) and builtin:swirls as the style, written
// into dir as PNG files, since a user's run reads its images where drawing
// the swirls would add 0.25 s to the start-up; everything else as a config
// that sets nothing.
func benchConfig(dir string, o BenchOptions, size int) (*Config, error) {
	village, err := builtinimg.Load(builtinimg.Prefix + "village")
	if err != nil {
		return nil, err
	}
	square, err := imageio.Resize(village, size, size)
	if err != nil {
		return nil, err
	}
	content := filepath.Join(dir, fmt.Sprintf("village-%d.png", size))
	if err := imageio.Save(content, square, "png", 0); err != nil {
		return nil, fmt.Errorf("bench content image: %w", err)
	}
	swirls, err := builtinimg.Load(builtinimg.Prefix + "swirls")
	if err != nil {
		return nil, err
	}
	style := filepath.Join(dir, "swirls.png")
	if err := imageio.Save(style, swirls, "png", 0); err != nil {
		return nil, fmt.Errorf("bench style image: %w", err)
	}
	// The config goes through LoadConfig, so that it gets every default a
	// config file gets.
	// A file's architecture is whatever it is; the layer names say
	// whether it serves.
	arch := "vgg19"
	if o.Model != "" {
		arch = "auto"
	}
	yaml := fmt.Sprintf("content: %q\nstyle:\n  - {path: %q, weight: 1}\nsize: %d\nmodel: {path: %q, arch: %s}\nruntime: {threads: %d, library: %q, graph_cache: %t}\noutput: {dir: %q}\n",
		content, style, size, o.Model, arch, o.Threads, o.Library, o.GraphCache != "", dir)
	path := filepath.Join(dir, fmt.Sprintf("bench-%d.yaml", size))
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		return nil, fmt.Errorf("bench config: %w", err)
	}
	cfg, err := LoadConfig(path, nil)
	if err != nil {
		return nil, fmt.Errorf("bench config: %w", err)
	}
	cfg.Runtime.GraphCacheDir = o.GraphCache
	return cfg, nil
}

// benchSize runs one size: set-up, a first iteration, then iters timed
// iterations.
func benchSize(ctx context.Context, cfg *Config, iters int) (*SizeReport, error) {
	// Memory the previous size left behind goes back to the system before
	// the peak is reset, so that it does not count again.
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()

	start, startCPU := time.Now(), processCPU()
	e, err := newExperiment(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	x, err := e.initImage()
	if err != nil {
		return nil, err
	}
	opt, err := newOptimizer(cfg.Optimizer)
	if err != nil {
		return nil, err
	}
	var evalTime time.Duration
	objective := func(ctx context.Context, x, grad []float32) (float64, error) {
		t := time.Now()
		v, err := e.evaluate(ctx, x, grad)
		evalTime += time.Since(t)
		return v, err
	}
	step := func() error {
		_, err := opt.Step(ctx, x, objective)
		if errors.Is(err, optim.ErrConverged) {
			return fmt.Errorf("the optimiser converged before the benchmark ended; use fewer iterations: %w", err)
		}
		return err
	}
	first, firstCPU := time.Now(), processCPU()
	if err := step(); err != nil {
		return nil, err
	}
	rep := &SizeReport{Width: e.width, Height: e.height, Startup: first.Sub(start), StartupCPU: firstCPU - startCPU, StartupSplit: e.setup, Cached: e.net.Cached(), FirstIteration: time.Since(first), Iterations: iters}

	e.timing = timing{}
	evalTime = 0
	cpu0, faults0 := processCPU(), minorFaults()
	t0 := time.Now()
	for range iters {
		if err := step(); err != nil {
			return nil, err
		}
	}
	total := time.Since(t0)
	rep.CPU = (processCPU() - cpu0) / time.Duration(iters)
	rep.Faults = (minorFaults() - faults0) / int64(iters)
	rep.Evals = e.timing.evals

	per := func(d time.Duration) time.Duration { return d / time.Duration(iters) }
	sp := Split{
		Forward:  per(e.timing.forward),
		Backward: per(e.timing.backward),
		Costs:    per(e.timing.costs),
		Step:     per(total - evalTime),
		Total:    per(total),
	}
	sp.Other = sp.Total - sp.Forward - sp.Backward - sp.Costs - sp.Step
	rep.Iteration = sp
	rep.GFLOP = float64(e.evalFLOPs()) / 1e9
	rep.GFLOPS = rep.GFLOP * float64(rep.Evals) / total.Seconds()
	rep.PeakRSS = peakRSS()
	if rep.EstimatedPeak, err = experimentPeak(e); err != nil {
		return nil, err
	}
	return rep, nil
}

// evalFLOPs counts one evaluation's floating-point operations: the
// convolutions forward and backward (the input gradient of a convolution
// costs what the convolution does) and, per style layer of C channels over
// M positions, the Gram product and its gradient's product, 2·C²·M each.
func (e *experiment) evalFLOPs() int64 {
	flops := 2 * e.net.ConvFLOPs()
	spec := e.objective.Spec()
	for _, a := range e.acts {
		for _, l := range spec.Style {
			if l.Name == a.Name {
				flops += 2 * 2 * int64(a.C) * int64(a.C) * int64(a.H) * int64(a.W)
			}
		}
	}
	return flops
}

// MeasureMatMul times ONNX Runtime's MatMul of two n×n float32 matrices
// with the given intra-op threads (0: one per core) and returns the best
// of five runs after a warm-up. library is runtime.library.
func MeasureMatMul(n int, library string, threads int) (*MatMulRate, error) {
	if n <= 0 {
		return nil, fmt.Errorf("matmul size %d, want positive", n)
	}
	if err := ortrt.Init(library); err != nil {
		return nil, err
	}
	k, err := gemm.NewORT(ortrt.SessionOptions{Threads: threads})
	if err != nil {
		return nil, err
	}
	defer k.Close()
	a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range a {
		a[i] = float32(i%17) / 17
		b[i] = float32(i%13) / 13
	}
	best := time.Duration(1<<63 - 1)
	for i := range 6 {
		t := time.Now()
		if err := k.MatMul(c, a, b, n, n, n); err != nil {
			return nil, err
		}
		if d := time.Since(t); i > 0 && d < best {
			best = d
		}
	}
	flops := 2 * float64(n) * float64(n) * float64(n)
	return &MatMulRate{N: n, Seconds: best.Seconds(), GFLOPS: flops / best.Seconds() / 1e9}, nil
}

// WriteText writes the report as the table nst bench prints.
func (r *BenchReport) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "nst bench: %s, ONNX Runtime %s, %d threads (0 = one per core) on %d CPUs\n", r.Model, r.ONNXRuntime, r.Threads, r.CPUs)
	fmt.Fprintf(&b, "\n%-9s %8s %8s %8s %8s %8s %8s %8s %7s %6s %7s %7s %6s %8s %8s %8s %8s\n",
		"size", "s/iter", "forward", "backward", "costs", "step", "other", "cpu-s", "faults", "evals", "GFLOP/s", "MM-GF/s", "of-MM", "start-s", "first-s", "peak-MB", "est-MB")
	matmul := ""
	for _, s := range r.Sizes {
		mm, of := "-", "-"
		if s.MatMul != nil {
			mm, of = fmt.Sprintf("%.0f", s.MatMul.GFLOPS), fmt.Sprintf("%.0f%%", 100*s.OfMatMul)
			matmul = fmt.Sprintf("MM-GF/s: ONNX Runtime's MatMul of two %dx%d matrices, best of 5, right after the size's iterations.\n", s.MatMul.N, s.MatMul.N)
		}
		sp := s.Iteration
		fmt.Fprintf(&b, "%-9s %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f %7d %6.2f %7.0f %7s %6s %8s %8.2f %8d %8d\n",
			fmt.Sprintf("%dx%d", s.Width, s.Height), sp.Total.Seconds(), sp.Forward.Seconds(), sp.Backward.Seconds(),
			sp.Costs.Seconds(), sp.Step.Seconds(), sp.Other.Seconds(), s.CPU.Seconds(), s.Faults,
			float64(s.Evals)/float64(max(s.Iterations, 1)), s.GFLOPS, mm, of, startup(s), s.FirstIteration.Seconds(),
			s.PeakRSS>>20, s.EstimatedPeak>>20)
	}
	fmt.Fprintf(&b, "\n%-9s %8s %8s %8s %8s %8s %8s\n", "start-up", "inputs", "backbone", "sessions", "targets", "other", "start-s")
	for _, s := range r.Sizes {
		sp := s.StartupSplit
		other := s.Startup - sp.Inputs - sp.Backbone - sp.Sessions - sp.Targets
		fmt.Fprintf(&b, "%-9s %8.3f %8.3f %8.3f %8.3f %8.3f %8s\n", fmt.Sprintf("%dx%d", s.Width, s.Height),
			sp.Inputs.Seconds(), sp.Backbone.Seconds(), sp.Sessions.Seconds(), sp.Targets.Seconds(), other.Seconds(), startup(s))
	}
	b.WriteString("\nstart-s: seconds from start to the first iteration; * marks sessions opened from the graph cache.\n")
	b.WriteString(matmul)
	_, err := io.WriteString(w, b.String())
	return err
}

// startup formats a size's start-up time, starred when cached.
func startup(s SizeReport) string {
	mark := ""
	if s.Cached {
		mark = "*"
	}
	return fmt.Sprintf("%.2f%s", s.Startup.Seconds(), mark)
}
