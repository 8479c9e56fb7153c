package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/nst-project/nst/bench"
	"github.com/nst-project/nst/internal/atomicfile"
	"github.com/nst-project/nst/models"
)

func newBenchCmd() *cobra.Command {
	var (
		o         bench.Options
		jsonPath  string
		inProcess bool
		profile   string
		force     bool
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
	f.StringVar(&o.MaxMemory, "max-memory", "", "runtime.max_memory, such as 8GB (empty: the memory available); with --tile auto a lower limit tiles a size that fits whole")
	f.StringVar(&o.Optimizer, "optimizer", "", "optimizer.name: lbfgs or adam (empty: the default)")
	f.IntVar(&o.History, "history", 0, "optimizer.history, L-BFGS's pairs (0: the default); print sizes need fewer")
	f.StringVar(&jsonPath, "json", "", "also write the report as JSON to this file (- for stdout instead of the table)")
	f.BoolVar(&force, "force", false, "replace the --json file if it exists")
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
			"--tile", o.Tile, "--max-memory", o.MaxMemory, "--optimizer", o.Optimizer, "--history", strconv.Itoa(o.History)}
		child := exec.CommandContext(cmd.Context(), exe, args...)
		var out bytes.Buffer
		child.Stdout, child.Stderr = &out, cmd.ErrOrStderr()
		if err := child.Run(); err != nil {
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
