package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/nst-project/nst/pipeline"
	"github.com/nst-project/nst/sweep"
)

func newSweepCmd() *cobra.Command {
	var config, shard string
	var shards, cell int
	var list, sheetOnly bool
	cmd := &cobra.Command{
		Use:   "sweep -c SWEEP.yaml [--list] [--shard i/n | --shards n] | sweep sheet DIR",
		Short: "Run a grid of experiments: here, as shards, on Slurm or Kubernetes",
		Long: `Sweep runs one experiment (the sweep file's base config) over every
combination of the values its grid lists, each item in its own folder
OUTPUT/items/ID, with a stable ID. Items already done are skipped and
interrupted ones resume, so running the same command again finishes a sweep.
A local sweep ends with a contact sheet, OUTPUT/sheet.png and sheet.json.

--shard i/n runs the items whose position modulo n is i. Without it nst reads
SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT (a Slurm job array:
scripts/slurm/sweep.sbatch) or, with --shards n, JOB_COMPLETION_INDEX (a
Kubernetes Indexed Job: deploy/kubernetes/sweep-job.yaml). Sweep files are
described in configs/README.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if config == "" {
				return usageError{errors.New("missing -c SWEEP.yaml; try -c configs/sweeps/demo.yaml")}
			}
			sw, err := sweep.Load(config, sweep.Options{ValidKey: pipeline.CheckKey, Resolve: resolveItem})
			if err != nil {
				return err
			}
			sh, err := sweep.ResolveShard(shard, shards, os.Getenv)
			if err != nil {
				return usageError{err}
			}
			if list {
				return sw.List(cmd.OutOrStdout(), sh)
			}
			if sheetOnly {
				return writeSheet(cmd, sw.Output, cell)
			}
			rep, err := sw.Run(cmd.Context(), sh, runItem, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if len(rep.Failed) > 0 {
				return fmt.Errorf("sweep %s: %d of %d items failed, the first %s: %w", config, len(rep.Failed), rep.Selected, rep.Failed[0].ID, rep.Failed[0].Err)
			}
			if sh.Count == 1 {
				return writeSheet(cmd, sw.Output, cell)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&config, "config", "c", "", "sweep file (YAML)")
	cmd.Flags().StringVar(&shard, "shard", "", "run shard `i/n` of the items")
	cmd.Flags().IntVar(&shards, "shards", 0, "shard count, with JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs)")
	cmd.Flags().BoolVar(&list, "list", false, "list the items, their ids, folders and states, and run nothing")
	cmd.Flags().BoolVar(&sheetOnly, "sheet", false, "only write the contact sheet of the finished items")
	cmd.Flags().IntVar(&cell, "cell", sweep.DefaultCell, "contact sheet cell size in pixels")
	sheet := &cobra.Command{
		Use:   "sheet DIR",
		Short: "Lay a sweep's finished results out as a labelled contact sheet",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return writeSheet(cmd, args[0], cell)
		},
	}
	sheet.Flags().IntVar(&cell, "cell", sweep.DefaultCell, "cell size in pixels")
	cmd.AddCommand(sheet)
	return cmd
}

// writeSheet writes dir's contact sheets and says where they are.
func writeSheet(cmd *cobra.Command, dir string, cell int) error {
	idx, err := sweep.Sheet(dir, sweep.SheetOptions{Cell: cell})
	if err != nil {
		return err
	}
	for _, s := range idx {
		fmt.Fprintln(cmd.OutOrStdout(), filepath.Join(dir, s.Image))
		if len(s.Missing) > 0 {
			fmt.Fprintf(cmd.ErrOrStderr(), "sheet %s: %d items missing: %v\n", s.Image, len(s.Missing), s.Missing)
		}
	}
	return nil
}

// resolveItem is an item's config as the sweep hashes it for its id.
func resolveItem(base string, overrides []string) ([]byte, error) {
	cfg, err := pipeline.LoadConfig(base, overrides)
	if err != nil {
		return nil, err
	}
	return cfg.Fingerprint()
}

// runItem runs one sweep item in its folder, or resumes it there.
func runItem(ctx context.Context, job sweep.Job) (sweep.Result, error) {
	start := time.Now()
	var res *pipeline.Result
	var err error
	if job.Resume {
		res, err = pipeline.Resume(ctx, job.Dir, pipeline.RunOptions{})
		if errors.Is(err, pipeline.ErrNoCheckpoint) {
			// Killed without a checkpoint (SIGKILL): start the item afresh,
			// keeping what it left beside it.
			aside := fmt.Sprintf("%s.killed-%d", job.Dir, start.Unix())
			if err := os.Rename(job.Dir, aside); err != nil {
				return sweep.Result{}, fmt.Errorf("move the unfinished item aside: %w", err)
			}
			job.Resume = false
		}
	}
	if !job.Resume {
		cfg, err2 := pipeline.LoadConfig(job.Base, job.Item.Overrides)
		if err2 != nil {
			return sweep.Result{}, err2
		}
		cfg.Output.Dir = job.Dir
		res, err = pipeline.Run(ctx, cfg, pipeline.RunOptions{})
	}
	if err != nil {
		return sweep.Result{}, err
	}
	return sweep.Result{Image: res.Image, Costs: map[string]float64{"total": res.Total}, Iterations: res.Iterations}, nil
}
