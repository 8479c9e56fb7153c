// Command shardprobe stands in for nst in tests of the Slurm and
// Kubernetes set-ups: it takes nst's sweep command line,
//
//	shardprobe sweep -c SWEEP.yaml [--shard i/n] [--shards N]
//
// picks its shard as nst does (sweep.ResolveShard, from the flags or the
// SLURM_ARRAY_* / JOB_COMPLETION_INDEX variables) and runs it with
// sweep.Run, but each item only writes a small PNG as its final image and
// a marker file markers/ID.TASK.PID in the sweep folder, so that a test
// can count how often each item ran. An item's resolved config, hashed
// for its id, is the base file's bytes followed by the overrides.
//
// PROBE_SLEEP (a Go duration) makes every item take that long, so that
// array tasks overlap.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nst-project/nst/sweep"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "shardprobe:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || args[0] != "sweep" {
		return errors.New("usage: shardprobe sweep -c SWEEP.yaml [--shard i/n] [--shards N]")
	}
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	file := fs.String("c", "", "sweep file")
	shardFlag := fs.String("shard", "", "shard i/n")
	shards := fs.Int("shards", 0, "shard count (with JOB_COMPLETION_INDEX)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *file == "" {
		return errors.New("missing -c SWEEP.yaml")
	}
	var sleep time.Duration
	if v := os.Getenv("PROBE_SLEEP"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("PROBE_SLEEP: %w", err)
		}
		sleep = d
	}
	sh, err := sweep.ResolveShard(*shardFlag, *shards, os.Getenv)
	if err != nil {
		return err
	}
	s, err := sweep.Load(*file, sweep.Options{Resolve: resolve})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	task := os.Getenv("SLURM_ARRAY_JOB_ID") + "_" + os.Getenv("SLURM_ARRAY_TASK_ID") + os.Getenv("JOB_COMPLETION_INDEX")
	rep, err := s.Run(ctx, sh, func(ctx context.Context, job sweep.Job) (sweep.Result, error) {
		return runItem(ctx, s.Output, job, task, sleep)
	}, os.Stderr)
	if rep != nil {
		fmt.Printf("shard %s: %d items, %d ran, %d resumed, %d skipped, %d failed\n",
			sh, rep.Selected, len(rep.Ran), len(rep.Resumed), len(rep.Skipped), len(rep.Failed))
	}
	return err
}

func resolve(base string, overrides []string) ([]byte, error) {
	b, err := os.ReadFile(base)
	if err != nil {
		return nil, err
	}
	return append(b, strings.Join(overrides, "\n")...), nil
}

// runItem writes the item's marker and a 4x4 image whose colour encodes
// the item's position.
func runItem(ctx context.Context, output string, job sweep.Job, task string, sleep time.Duration) (sweep.Result, error) {
	markers := filepath.Join(output, "markers")
	if err := os.MkdirAll(markers, 0o755); err != nil {
		return sweep.Result{}, err
	}
	name := fmt.Sprintf("%s.%s.%d", job.Item.ID, task, os.Getpid())
	if err := os.WriteFile(filepath.Join(markers, name), []byte(job.Shard.String()+"\n"), 0o644); err != nil {
		return sweep.Result{}, err
	}
	select {
	case <-time.After(sleep):
	case <-ctx.Done():
		return sweep.Result{}, ctx.Err()
	}
	if err := os.MkdirAll(job.Dir, 0o755); err != nil {
		return sweep.Result{}, err
	}
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	c := color.RGBA{uint8(40 * job.Item.Index), 100, 200, 255}
	for y := range 4 {
		for x := range 4 {
			img.SetRGBA(x, y, c)
		}
	}
	path := filepath.Join(job.Dir, "final.png")
	f, err := os.Create(path)
	if err != nil {
		return sweep.Result{}, err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return sweep.Result{}, err
	}
	if err := f.Close(); err != nil {
		return sweep.Result{}, err
	}
	return sweep.Result{Image: path, Costs: map[string]float64{"total": float64(job.Item.Index)}, Iterations: 1}, nil
}
