package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"time"

	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/internal/atomicfile"
	"github.com/nst-project/nst/internal/ortrt"
	"github.com/nst-project/nst/optim"
	"github.com/nst-project/nst/record"
)

// ErrInterrupted is returned when a run stops because its context was
// cancelled (Ctrl-C, SIGTERM); what it had done is saved first.
var ErrInterrupted = errors.New("interrupted")

// RunOptions are the parts of a run that are not part of the experiment.
type RunOptions struct {
	// Progress receives the progress bar (on a terminal) or log lines;
	// nil means none.
	Progress io.Writer

	// resume, set by Resume, continues a stopped run instead of starting
	// one.
	resume *resumePoint
}

// Result says where a finished run put its outputs.
type Result struct {
	// Dir is the run's own folder.
	Dir string
	// Image is the final image's path.
	Image string
	// Iterations is the number of optimiser steps taken.
	Iterations int
	// Total is the final cost J.
	Total float64
}

// Run performs the experiment cfg describes and records it in a new folder
// under cfg.Output.Dir: the final image, intermediate images, config.yaml,
// manifest.json, costs.csv and costs.png.
func Run(ctx context.Context, cfg *Config, o RunOptions) (*Result, error) {
	start := time.Now()
	manifest := record.NewManifest(start)
	e, err := newExperiment(ctx, cfg)
	if err != nil {
		return nil, interrupted(err)
	}
	defer e.Close()
	manifest.AddPhase("prepare", time.Since(start))
	e.recordSetup(manifest)

	dir, err := o.resume.runDir(cfg.Output.Dir)
	if err != nil {
		return nil, err
	}
	res := &Result{Dir: dir}
	resolved, err := cfg.Resolved()
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "config.yaml"), resolved, 0o644); err != nil {
		return nil, fmt.Errorf("write resolved config: %w", err)
	}
	e.describe(manifest)

	terms := e.costTerms()
	costLog, err := o.resume.openCostLog(e, manifest, filepath.Join(dir, record.CostsCSVName), terms)
	if err != nil {
		return nil, err
	}
	defer costLog.Close()

	x, err := e.initImage()
	if err != nil {
		return nil, err
	}
	opt, err := newOptimizer(cfg.Optimizer)
	if err != nil {
		return nil, err
	}
	row := make([]float64, len(terms))
	x, iter, err := o.resume.restore(ctx, e, x, opt, costLog, row, dir)
	if err != nil {
		return nil, err
	}
	slog.Info("run", "dir", dir, "size", fmt.Sprintf("%dx%d", e.width, e.height), "optimizer", opt.Name(), "iterations", e.totalIterations(), "scales", len(e.scales), "estimated_peak_MB", e.peak>>20)

	progress := e.progress(o.Progress, dir)
	loopStart := time.Now()
	lastGood := append([]float32(nil), x...)
	var runErr error
	for iter < e.totalIterations() {
		if iter >= e.scaleEnd() {
			// The scale is done: the next one starts from its result.
			progress.Finish()
			progress = nopProgress{}
			next, err := e.nextScale(ctx, dir, x)
			if err != nil {
				runErr = err
				break
			}
			x, lastGood = next, slices.Clone(next)
			if opt, err = newOptimizer(cfg.Optimizer); err != nil {
				runErr = err
				break
			}
			progress = e.progress(o.Progress, dir)
			continue
		}
		step, err := opt.Step(ctx, x, e.evaluate)
		if errors.Is(err, optim.ErrConverged) {
			if !e.lastScale() {
				slog.Info("optimiser converged; moving to the next scale", "iteration", iter)
				iter = e.scaleEnd()
				continue
			}
			slog.Info("optimiser converged; stopping early", "iteration", iter)
			break
		}
		if err != nil {
			runErr = err
			break
		}
		iter = e.scaleStart() + step.Iter
		res.Total = step.Cost
		copy(lastGood, x)
		if err := e.costsAt(ctx, x, step.Cost); err != nil {
			runErr = err
			break
		}
		if err := costLog.Append(iter, e.costRow(row)); err != nil {
			runErr = err
			break
		}
		progress.Update(iter-e.scaleStart(), step.Cost)
		if n := cfg.Output.SaveEvery; n > 0 && iter%n == 0 && iter < e.scaleEnd() {
			if _, err := e.saveImage(dir, e.iterImageName(iter), x); err != nil {
				runErr = err
				break
			}
		}
	}
	progress.Finish()
	if runErr == nil {
		// Scales without iterations, or skipped after convergence, still
		// bring the result to the output's size.
		lastGood, runErr = e.finishScales(ctx, dir, lastGood)
	}
	manifest.AddPhase("optimize", time.Since(loopStart))
	e.recordTiming(manifest)
	res.Iterations = iter

	// Whatever happened, keep the last image whose cost was finite.
	writeStart := time.Now()
	name := "final"
	if runErr != nil {
		name = "last"
	}
	img, saveErr := e.saveResult(dir, name, lastGood)
	res.Image = img
	if err := costLog.Close(); err != nil && saveErr == nil {
		saveErr = err
	}
	if table, err := record.ReadCosts(filepath.Join(dir, record.CostsCSVName)); err == nil && len(table.Iterations) > 0 {
		if err := record.PlotCosts(filepath.Join(dir, record.CostsPNGName), table, record.PlotOptions{Title: filepath.Base(dir)}); err != nil && saveErr == nil {
			saveErr = err
		}
	}
	manifest.AddPhase("write", time.Since(writeStart))
	manifest.Finish(time.Now(), iter, e.finalCosts(terms, row), runErr)
	if err := manifest.Write(filepath.Join(dir, record.ManifestName)); err != nil && saveErr == nil {
		saveErr = err
	}
	if err := o.resume.conclude(e, dir, iter, lastGood, opt, img, runErr, saveErr); err != nil {
		return res, err
	}
	return res, nil
}

// interrupted maps a cancelled context to ErrInterrupted.
func interrupted(err error) error {
	if cancelled(err) {
		return fmt.Errorf("%w before the first iteration", ErrInterrupted)
	}
	return err
}

// cancelled reports whether err comes from a context that is done. A
// deadline counts as an interruption too, as the manifest's status (see
// record.ExitStatus) already records it.
func cancelled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

type nopProgress struct{}

func (nopProgress) Update(int, float64) {}
func (nopProgress) Finish()             {}

// newOptimizer builds the optimiser the config names.
func newOptimizer(c Optimizer) (optim.Optimizer, error) {
	switch c.Name {
	case "adam":
		a := optim.DefaultAdamConfig()
		a.LR = c.LR
		return optim.NewAdam(a)
	case "lbfgs":
		l := optim.DefaultLBFGSConfig()
		l.History, l.LR = c.History, c.LR
		return optim.NewLBFGS(l)
	}
	return nil, fmt.Errorf("optimizer.name %q: want lbfgs or adam", c.Name)
}

// costTerms names the columns of costs.csv: every layer's raw cost, the raw
// total variation, then the weighted content and style totals and J.
func (e *experiment) costTerms() []string {
	spec := e.objective.Spec()
	var terms []string
	for _, l := range spec.Content {
		terms = append(terms, "content:"+l.Name)
	}
	for _, l := range spec.Style {
		terms = append(terms, "style:"+l.Name)
	}
	return append(terms, "tv", "content", "style", "total")
}

// costsAt makes e.costs describe x, whose cost the optimiser reported as
// total. An L-BFGS line search can end by rejecting its last trial point
// and keeping an earlier one, which leaves e.costs with the rejected
// point's terms; x is then evaluated again (into a scratch gradient, so the
// optimiser's state is untouched), so that costs.csv and the manifest
// describe the image the run holds. Evaluation is deterministic, so the
// exact comparison only fails in that case, and costs one evaluation then.
func (e *experiment) costsAt(ctx context.Context, x []float32, total float64) error {
	if e.costs.Total == total {
		return nil
	}
	if e.scratch == nil {
		e.scratch = make([]float32, len(x))
	}
	if _, err := e.evaluate(ctx, x, e.scratch); err != nil {
		return fmt.Errorf("cost terms of the accepted point: %w", err)
	}
	return nil
}

// costRow fills row with the last evaluation's costs, in costTerms order.
func (e *experiment) costRow(row []float64) []float64 {
	c := e.costs
	row = row[:0]
	row = append(row, c.Content...)
	row = append(row, c.Style...)
	return append(row, c.TV, c.ContentTotal, c.StyleTotal, c.Total)
}

func (e *experiment) finalCosts(terms []string, row []float64) []record.Cost {
	if e.timing.evals == 0 {
		return nil
	}
	out := make([]record.Cost, len(terms))
	for i, t := range terms {
		out[i] = record.Cost{Name: t, Value: row[i]}
	}
	return out
}

// saveImage writes the optimiser's variable x as an image (see
// experiment.rgb), clamped to [0,1] and rounded to 8 bits, as
// dir/name.<format>.
func (e *experiment) saveImage(dir, name string, x []float32) (string, error) {
	return e.saveRGB(dir, name, e.rgb(x))
}

// saveResult writes the run's result for the variable x (see
// experiment.result) as saveImage does.
func (e *experiment) saveResult(dir, name string, x []float32) (string, error) {
	return e.saveRGB(dir, name, e.result(x))
}

// saveRGB writes the RGB tensor rgb of the current size as saveImage does.
func (e *experiment) saveRGB(dir, name string, rgb []float32) (string, error) {
	ext := e.cfg.Output.Format
	if ext == "jpeg" {
		ext = "jpg"
	}
	path := filepath.Join(dir, name+"."+ext)
	if err := saveImageFile(path, imageio.FromTensor(rgb, e.width, e.height), e.cfg.Output.Format, e.cfg.Output.JPEGQuality); err != nil {
		return "", err
	}
	return path, nil
}

// describe records the inputs, model and settings in the manifest.
func (e *experiment) describe(m *record.Manifest) {
	m.ONNXRuntime = ortrt.Version()
	m.Threads = e.cfg.Runtime.Threads
	m.Seed = e.cfg.Seed
	m.Model = record.Model{Description: e.backbone.Describe(), Path: e.cfg.Model.Path, SHA256: e.backbone.Digest()}
	m.Inputs = append(m.Inputs, e.inputs...)
}

// recordSetup adds the split of the preparation to the manifest's phases.
func (e *experiment) recordSetup(m *record.Manifest) {
	m.AddPhase("inputs", e.setup.Inputs)
	m.AddPhase("backbone", e.setup.Backbone)
	m.AddPhase("sessions", e.setup.Sessions)
	m.AddPhase("targets", e.setup.Targets)
}

// recordTiming adds the evaluation's split to the manifest's phases.
func (e *experiment) recordTiming(m *record.Manifest) {
	m.AddPhase("forward", e.timing.forward)
	m.AddPhase("costs", e.timing.costs)
	m.AddPhase("backward", e.timing.backward)
}
