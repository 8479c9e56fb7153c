// Package bench measures where a style transfer's time and memory go: it
// runs the loop nst run runs, through pipeline.Run, at several sizes and
// reports the split of an iteration, the start-up, the peak memory beside
// the estimate nst checks runs against, and the machine's MatMul rate.
package bench

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/nst-project/nst/builtinimg"
	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/internal/gemm"
	"github.com/nst-project/nst/internal/ortrt"
	"github.com/nst-project/nst/internal/sysmem"
	"github.com/nst-project/nst/models"
	"github.com/nst-project/nst/pipeline"
	"github.com/nst-project/nst/record"
)

// Options configure Bench. The zero value benchmarks the built-in
// VGG19 at 256, 512 and 1024 pixels with the default threads.
type Options struct {
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
	// Tile is runtime.tile: "" or auto (tiles only where the whole image
	// does not fit), off, or a tile side in pixels.
	Tile string
	// Optimizer is optimizer.name ("" for L-BFGS) and History L-BFGS's
	// pair count (0 for the default): print sizes need a shorter history
	// or Adam to fit.
	Optimizer string
	History   int
	// Progress, when set, receives a line as each size finishes.
	Progress io.Writer
	// MaxMemory is the memory, in bytes, the sizes and the MatMul must fit
	// in (runtime.max_memory); 0 means what the system has available.
	MaxMemory int64
}

// Report is what Bench measured.
type Report struct {
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
	StartupSplit pipeline.StartupSplit `json:"startup_split"`
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
	// Tiling describes the tiled evaluation; nil when the image was
	// evaluated whole.
	Tiling *record.Tiling `json:"tiling,omitempty"`
}

// Split divides time among the parts of an iteration.
type Split struct {
	// Forward and Backward are the network's passes in ONNX Runtime.
	Forward  time.Duration `json:"forward_ns"`
	Backward time.Duration `json:"backward_ns"`
	// Costs are the content, style and total-variation costs and their
	// gradients.
	Costs time.Duration `json:"costs_ns"`
	// Step is the rest: the optimiser's own work (search directions, line
	// search bookkeeping, updates of the image) and the loop's.
	Step  time.Duration `json:"step_ns"`
	Total time.Duration `json:"total_ns"`
}

// DefaultIterations is the timed iteration count per size when none is
// given: 10 fill L-BFGS's default history, so the peak is a long run's.
const DefaultIterations = 10

// DefaultSizes are the sizes Run runs when none are given.
var DefaultSizes = []int{256, 512, 1024}

// Run runs the style-transfer loop as nst run does (the built-in
// builtin:village scene as content, builtin:swirls as style, both read from
// PNG files as a user's images are, VGG19's Gatys et al. layers, L-BFGS)
// at each size and measures where the time
// and memory go. Sizes run one after another in this process; for start-up
// times that include loading ONNX Runtime and peaks that nothing before
// inflated, run each size in a process of its own (nst bench does).
func Run(ctx context.Context, o Options) (*Report, error) {
	sizes := o.Sizes
	if len(sizes) == 0 {
		sizes = DefaultSizes
	}
	iters := cmp.Or(o.Iterations, DefaultIterations)
	if iters < 0 {
		return nil, fmt.Errorf("bench: %d iterations, want at least 1", iters)
	}
	for _, s := range sizes {
		if s < 16 {
			return nil, fmt.Errorf("bench: size %d, want at least 16 pixels", s)
		}
	}
	if err := Check(ctx, o); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "nst-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)

	rep := &Report{Model: o.Model, Threads: o.Threads, CPUs: runtime.NumCPU()}
	if rep.Model == "" {
		rep.Model = models.BuiltinPrefix + "vgg19"
	}
	for _, size := range sizes {
		cfg, err := benchConfig(dir, o, size, iters)
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

// benchConfig is the experiment Run runs at one size: a square content
// image (builtin:village is 3:2) and builtin:swirls as the style, written
// into dir as PNG files, as a user's images are read; every other key at
// its default. The run takes iters+1 steps.
func benchConfig(dir string, o Options, size, iters int) (*pipeline.Config, error) {
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
	cfg := o.runConfig(content, style)
	cfg.Size = size
	cfg.Optimizer.Iterations = iters + 1
	cfg.Output.Dir = filepath.Join(dir, fmt.Sprintf("run-%d", size))
	cfg.Output.SaveEvery = 0
	if err := cfg.Complete(); err != nil {
		return nil, fmt.Errorf("bench config: %w", err)
	}
	return &cfg, nil
}

// runConfig is the config of o's runs with the content and style images
// given, every key Options does not set at its default; the size, the
// iterations and the output are the caller's.
func (o Options) runConfig(content, style string) pipeline.Config {
	cfg := pipeline.Default()
	cfg.Content = content
	cfg.Style = []pipeline.StyleConfig{{Path: style, Weight: 1, Scale: 1}}
	cfg.Model.Path = o.Model
	if o.Model != "" {
		// A file's architecture is whatever it is; the layer names say
		// whether it serves.
		cfg.Model.Arch = "auto"
	}
	cfg.Runtime.Threads, cfg.Runtime.Library = o.Threads, o.Library
	cfg.Runtime.GraphCache, cfg.Runtime.GraphCacheDir = o.GraphCache != "", o.GraphCache
	if o.Tile != "" {
		cfg.Runtime.Tile = pipeline.TileSide(o.Tile)
	}
	if o.MaxMemory > 0 {
		// With Tile auto, a limit below the whole estimate tiles the run.
		cfg.Runtime.MaxMemory = strconv.FormatInt(o.MaxMemory, 10)
	}
	if o.Optimizer != "" {
		cfg.Optimizer.Name = o.Optimizer
	}
	if o.History != 0 {
		cfg.Optimizer.History = o.History
	}
	return cfg
}

// sizeMeter is the observer that takes a size's measurements from the
// run's events: the start-up to the first step, the first step, then iters
// timed steps.
type sizeMeter struct {
	iters       int
	start       time.Time
	startCPU    time.Duration
	first       time.Time
	timed       time.Time
	timedCPU    time.Duration
	timedFaults int64
	timedEval   pipeline.Timing
	rep         SizeReport
}

func (m *sizeMeter) Observe(ev *pipeline.Event) error {
	switch {
	case ev.Kind == pipeline.EventStart:
		m.first = time.Now()
		m.rep = SizeReport{Width: ev.Width, Height: ev.Height, Startup: m.first.Sub(m.start), StartupCPU: sysmem.ProcessCPU() - m.startCPU,
			StartupSplit: ev.Info.Startup, Cached: ev.Info.GraphCached, Iterations: m.iters, EstimatedPeak: ev.Info.EstimatedPeak,
			GFLOP: float64(ev.Info.EvalFLOPs) / 1e9, Tiling: ev.Info.Tiling}
	case ev.Kind == pipeline.EventIteration && ev.Iteration == 1:
		m.rep.FirstIteration = time.Since(m.first)
		m.timed, m.timedCPU, m.timedFaults, m.timedEval = time.Now(), sysmem.ProcessCPU(), sysmem.MinorFaults(), ev.Timing
	case ev.Kind == pipeline.EventIteration && ev.Iteration == m.iters+1:
		total := time.Since(m.timed)
		n := time.Duration(m.iters)
		m.rep.CPU = (sysmem.ProcessCPU() - m.timedCPU) / n
		m.rep.Faults = (sysmem.MinorFaults() - m.timedFaults) / int64(m.iters)
		t := ev.Timing
		m.rep.Evals = t.Evaluations - m.timedEval.Evaluations
		sp := Split{
			Forward:  (t.Forward - m.timedEval.Forward) / n,
			Backward: (t.Backward - m.timedEval.Backward) / n,
			Costs:    (t.Costs - m.timedEval.Costs) / n,
			Total:    total / n,
		}
		sp.Step = sp.Total - sp.Forward - sp.Backward - sp.Costs
		m.rep.Iteration = sp
		m.rep.GFLOPS = m.rep.GFLOP * float64(m.rep.Evals) / total.Seconds()
		m.rep.PeakRSS = sysmem.PeakRSS()
	}
	return nil
}

// benchSize runs one size: set-up, a first iteration, then iters timed
// iterations.
func benchSize(ctx context.Context, cfg *pipeline.Config, iters int) (*SizeReport, error) {
	// Memory the previous size left behind goes back to the system before
	// the peak is reset, so that it does not count again.
	runtime.GC()
	debug.FreeOSMemory()
	sysmem.ResetPeakRSS()

	m := &sizeMeter{iters: iters, start: time.Now(), startCPU: sysmem.ProcessCPU()}
	res, err := pipeline.Run(ctx, cfg, pipeline.RunOptions{Observers: []pipeline.Observer{m}})
	if err != nil {
		return nil, err
	}
	if res.Iterations < iters+1 {
		return nil, fmt.Errorf("the optimiser converged after %d iterations, before the benchmark ended; use fewer iterations", res.Iterations)
	}
	return &m.rep, nil
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
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "nst bench: %s, ONNX Runtime %s, %d threads (0 = one per core) on %d CPUs\n", r.Model, r.ONNXRuntime, r.Threads, r.CPUs)
	fmt.Fprintf(&b, "\n%-9s %8s %8s %8s %8s %8s %8s %7s %6s %7s %7s %6s %8s %8s %8s %8s\n",
		"size", "s/iter", "forward", "backward", "costs", "step", "cpu-s", "faults", "evals", "GFLOP/s", "MM-GF/s", "of-MM", "start-s", "first-s", "peak-MB", "est-MB")
	matmul := ""
	for _, s := range r.Sizes {
		mm, of := "-", "-"
		if s.MatMul != nil {
			mm, of = fmt.Sprintf("%.0f", s.MatMul.GFLOPS), fmt.Sprintf("%.0f%%", 100*s.OfMatMul)
			matmul = fmt.Sprintf("MM-GF/s: ONNX Runtime's MatMul of two %dx%d matrices, best of 5, right after the size's iterations.\n", s.MatMul.N, s.MatMul.N)
		}
		sp := s.Iteration
		fmt.Fprintf(&b, "%-9s %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f %7d %6.2f %7.0f %7s %6s %8s %8.2f %8d %8d\n",
			fmt.Sprintf("%dx%d", s.Width, s.Height), sp.Total.Seconds(), sp.Forward.Seconds(), sp.Backward.Seconds(),
			sp.Costs.Seconds(), sp.Step.Seconds(), s.CPU.Seconds(), s.Faults,
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
	for _, s := range r.Sizes {
		if t := s.Tiling; t != nil {
			fmt.Fprintf(&b, "\n%s: tiled, %d tiles of %d px, each evaluated on a %s crop (margin %d px)", t.Size, t.Tiles, t.Side, t.Crop, t.Margin)
		}
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
