package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nst-project/nst/bench"
	"github.com/nst-project/nst/internal/atomicfile"
	"github.com/nst-project/nst/internal/sysmem"
	"github.com/nst-project/nst/models"
	"github.com/nst-project/nst/pipeline"
)

func newBenchCmd() *cobra.Command {
	var (
		o         bench.Options
		jsonPath  string
		inProcess bool
		profile   string
		force     bool
		maxMemory string
	)
	cmd := &cobra.Command{
		Use:   "bench [--sizes 256,512,1024] [--iterations N] [--model FILE] [--tile auto|off|N]",
		Short: "Measure speed and memory of style transfer on this machine",
		Long: `Bench runs the style-transfer loop as nst run does (builtin:village as
content, builtin:swirls as style, both read from PNG files as a user's
images are, the Gatys et al. layers, L-BFGS) at each
size and prints, per iteration: the seconds spent in the network's forward
and backward passes, the costs, the optimiser's step and the rest; the
evaluations per iteration; the achieved GFLOP/s and its share of the
machine's matrix-multiply rate (ONNX Runtime MatMul 2048^3, measured in the
same process right after the size's iterations); the time from start to the
first iteration, split into reading the images, loading the backbone,
making the ONNX Runtime sessions and the content and style images' forward
passes; and the peak resident memory next to the estimate nst checks before
a run.

Each size runs in a process of its own, so that its start-up includes
loading ONNX Runtime and its peak memory is its own. On a machine shared
with other work, compare cpu-s (CPU seconds per iteration, all threads)
with threads x s/iter to see how much of the machine the run got.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Iterations < 1 {
				return usageError{fmt.Errorf("--iterations %d: want at least 1", o.Iterations)}
			}
			if maxMemory != "" {
				var err error
				if o.MaxMemory, err = sysmem.ParseMemory(maxMemory); err != nil {
					return usageError{fmt.Errorf("--max-memory %q: %w", maxMemory, err)}
				}
			}
			if jsonPath != "" && jsonPath != "-" {
				if err := checkOutputs(force, nil, jsonPath); err != nil {
					return err
				}
			}
			var rep *bench.Report
			var err error
			if profile != "" && !inProcess {
				return usageError{fmt.Errorf("--cpuprofile needs --in-process")}
			}
			// Refuse what would not fit before any work, in this process:
			// a child that ran out of memory would only say it died.
			if !inProcess {
				if err := bench.Check(cmd.Context(), o); err != nil {
					return err
				}
			}
			if inProcess {
				if profile != "" {
					f, err := os.Create(profile)
					if err != nil {
						return err
					}
					defer f.Close()
					if err := pprof.StartCPUProfile(f); err != nil {
						return fmt.Errorf("--cpuprofile: %w", err)
					}
					defer pprof.StopCPUProfile()
				}
				rep, err = bench.Run(cmd.Context(), o)
			} else {
				rep, err = benchIsolated(cmd, o)
			}
			if err != nil {
				return err
			}
			if jsonPath == "-" {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(rep)
			}
			if jsonPath != "" {
				js, err := json.MarshalIndent(rep, "", "  ")
				if err != nil {
					return err
				}
				if err := atomicfile.WriteFile(jsonPath, append(js, '\n'), 0o644); err != nil {
					return fmt.Errorf("write %s: %w", jsonPath, err)
				}
			}
			return rep.WriteText(cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&o.Sizes, "sizes", bench.DefaultSizes, "square image sizes in pixels")
	f.IntVar(&o.Iterations, "iterations", bench.DefaultIterations, "timed iterations per size, after the first (the default fills L-BFGS's default history, so the peak is a long run's)")
	f.StringVar(&o.Model, "model", "", "ONNX backbone (model.path); empty for the built-in VGG19")
	f.IntVar(&o.Threads, "threads", 0, "ONNX Runtime intra-op threads (runtime.threads); 0 for one per core")
	f.StringVar(&o.Library, "library", "", "ONNX Runtime library (runtime.library)")
	f.IntVar(&o.MatMulSize, "matmul", 2048, "n of the n^3 MatMul measuring the machine's rate; -1 to skip")
	f.StringVar(&o.GraphCache, "graph-cache", models.DefaultCacheDir(), "folder of the optimised-graph cache; empty to run without it")
	f.StringVar(&o.Tile, "tile", "", "runtime.tile: auto (tiles only where the whole image does not fit), off, or a tile side in pixels")
	f.StringVar(&o.Optimizer, "optimizer", "", "optimizer.name: lbfgs or adam (empty: the default)")
	f.IntVar(&o.History, "history", 0, "optimizer.history, L-BFGS's pairs (0: the default); print sizes need fewer")
	f.StringVar(&jsonPath, "json", "", "also write the report as JSON to this file (- for stdout instead of the table)")
	f.BoolVar(&force, "force", false, "replace the --json file if it exists")
	f.StringVar(&maxMemory, "max-memory", "", "memory the sizes and the MatMul must fit in, such as 8GB (runtime.max_memory); default: what the system has available. With --tile auto a lower limit tiles a size that would fit whole")
	f.BoolVar(&inProcess, "in-process", false, "run every size in this process instead of one process per size")
	f.StringVar(&profile, "cpuprofile", "", "write a CPU profile (go tool pprof) of an --in-process run to this file")
	return cmd
}

// benchIsolated runs each size in a child nst bench --in-process and
// measures the matrix-multiply rate in this process, between them.
func benchIsolated(cmd *cobra.Command, o bench.Options) (*bench.Report, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench: find nst's executable for the per-size processes: %w (or use --in-process)", err)
	}
	var rep *bench.Report
	for _, size := range o.Sizes {
		args := []string{"bench", "--in-process", "--json", "-", "--matmul", strconv.Itoa(o.MatMulSize),
			"--sizes", strconv.Itoa(size), "--iterations", strconv.Itoa(o.Iterations),
			"--threads", strconv.Itoa(o.Threads), "--model", o.Model, "--library", o.Library, "--graph-cache", o.GraphCache,
			"--tile", o.Tile, "--optimizer", o.Optimizer, "--history", strconv.Itoa(o.History)}
		if o.MaxMemory > 0 {
			args = append(args, "--max-memory", strconv.FormatInt(o.MaxMemory, 10))
		}
		child := exec.CommandContext(cmd.Context(), exe, args...)
		var out bytes.Buffer
		stderr := &crashFilter{w: cmd.ErrOrStderr()}
		child.Stdout, child.Stderr = &out, stderr
		err := child.Run()
		if len(stderr.line) > 0 {
			stderr.flush()
		}
		if err != nil {
			if cmd.Context().Err() != nil {
				return nil, fmt.Errorf("%w: bench %dx%d stopped", pipeline.ErrInterrupted, size, size)
			}
			if stderr.crash != "" {
				return nil, fmt.Errorf("bench %dx%d: the measuring process died (%s); try smaller --sizes or --matmul", size, size, stderr.crash)
			}
			if strings.Contains(err.Error(), "signal: killed") {
				return nil, fmt.Errorf("bench %dx%d: the measuring process was killed (out of memory?); try smaller --sizes or --matmul", size, size)
			}
			return nil, fmt.Errorf("bench %dx%d: %w", size, size, err)
		}
		var r bench.Report
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("bench %dx%d: read the report: %w", size, size, err)
		}
		if rep == nil {
			rep = &r
		} else {
			rep.Sizes = append(rep.Sizes, r.Sizes...)
		}
		s := r.Sizes[len(r.Sizes)-1]
		fmt.Fprintf(cmd.ErrOrStderr(), "%dx%d: %.3f s/iteration, start-up %.2f s, peak %d MB\n", s.Width, s.Height, s.Iteration.Total.Seconds(), s.Startup.Seconds(), s.PeakRSS>>20)
	}
	if rep == nil {
		return nil, usageError{fmt.Errorf("--sizes: give at least one size")}
	}
	return rep, nil
}

// crashFilter passes a child's stderr through line by line until the Go
// runtime starts a crash report ("fatal error: runtime: out of memory",
// or a panic), which it keeps to itself: bench says in one line that the
// child died, instead of pages of goroutine stacks.
type crashFilter struct {
	w     io.Writer
	line  []byte
	crash string // the crash's first line, once one began
}

func (f *crashFilter) Write(p []byte) (int, error) {
	for _, c := range p {
		f.line = append(f.line, c)
		if c == '\n' {
			f.flush()
		}
	}
	return len(p), nil
}

func (f *crashFilter) flush() {
	line := string(f.line)
	f.line = f.line[:0]
	if f.crash == "" && (strings.HasPrefix(line, "fatal error: ") || strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "runtime: out of memory")) {
		f.crash = strings.TrimSpace(line)
	}
	if f.crash == "" {
		f.w.Write([]byte(line))
	}
}
