package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/internal/ortrt"
	"github.com/nst-project/nst/internal/sysmem"
	"github.com/nst-project/nst/losses"
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
	// Observers receive the run's events (see Event), after the run's own
	// records (costs.csv, intermediate images, progress) have taken them.
	Observers []Observer
	// Terms are costs the caller adds to J, each a column of costs.csv
	// after tv (video's temporal consistency, say).
	Terms []Term
	// Start, when set, is the starting image instead of what init says;
	// it is resized to the run's first scale.
	Start *image.NRGBA
}

// Term is a cost a caller adds to J.
type Term struct {
	// Name names the term in costs.csv and events: letters, digits and
	// underscores.
	Name string
	// Eval returns the term's value at x, weighted as it enters J, and adds
	// its gradient into grad. x is the optimiser's variable at the current
	// scale, c×h×w values in [C,H,W] order (C is 3, or 1 with color:
	// luminance).
	Eval func(x []float32, c, h, w int, grad []float32) (float64, error)
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
// manifest.json, costs.csv and costs.png. Every step is reported to
// o.Observers. A run that stops early (Ctrl-C, a failed write) leaves a
// checkpoint that Resume continues from.
func Run(ctx context.Context, cfg *Config, o RunOptions) (*Result, error) {
	return run(ctx, cfg, o, nil)
}

// run prepares cfg, finds where to begin (a fresh start, or the checkpoint
// ck of a stopped run) and runs the optimisation from there.
func run(ctx context.Context, cfg *Config, o RunOptions, ck *loadedCheckpoint) (*Result, error) {
	t0 := time.Now()
	e, err := newExperiment(ctx, cfg, o.Progress)
	if err != nil {
		return nil, interrupted(err)
	}
	defer e.Close()
	if err := e.useTerms(o.Terms); err != nil {
		return nil, err
	}
	if o.Start != nil && (e.audio != nil || e.volume != nil) {
		return nil, errors.New("a starting image does not apply to an audio or volume run")
	}
	e.start = o.Start
	rec, s, err := e.begin(ctx, ck, t0)
	if err != nil {
		return nil, err
	}
	if s.unlock != nil {
		defer s.unlock()
	}
	defer rec.costLog.Close()
	saver := &checkpointer{e: e, s: s}
	obs := append(observers{rec, &imageSaver{e: e}, newProgressReporter(o.Progress, e), saver}, o.Observers...)
	slog.Info("run", "dir", s.dir, "size", e.sizeLabel(), "optimizer", s.opt.Name(), "iterations", e.sched.total(), "scales", len(e.sched), "estimated_peak_MB", e.info.EstimatedPeak>>20)

	loopStart := time.Now()
	runErr := e.optimize(ctx, s, rec, obs)
	rec.manifest.AddPhase("optimize", time.Since(loopStart))
	e.recordTiming(rec.manifest)
	return e.conclude(s, rec, saver, obs, runErr)
}

// optimize takes the steps of the schedule from s to its end, moving to
// the next scale when one is done, and reports each to obs. s keeps the
// last image whose cost was finite; the error says why it stopped early.
func (e *experiment) optimize(ctx context.Context, s *runState, rec *records, obs Observer) error {
	if err := obs.Observe(e.event(EventStart, s)); err != nil {
		return err
	}
	if s.replay {
		// The checkpoint's step was taken but not all of it recorded.
		if err := e.reevaluate(ctx, s.x); err != nil {
			return err
		}
		if err := obs.Observe(e.event(EventIteration, s)); err != nil {
			return err
		}
		if e.stopsAfterStep(s, rec) {
			return nil
		}
	}
	for {
		if s.iter >= e.sched.end(e.scale) {
			if e.lastScale() {
				return nil
			}
			if err := e.nextScale(ctx, s); err != nil {
				return err
			}
			if err := obs.Observe(e.event(EventScale, s)); err != nil {
				return err
			}
			continue
		}
		step, err := s.opt.Step(ctx, s.x, e.evaluate)
		if errors.Is(err, optim.ErrConverged) {
			if e.endScale(s, "optimiser converged") {
				return nil
			}
			continue
		}
		if err != nil {
			return err
		}
		s.iter = e.sched.start(e.scale) + step.Iter
		copy(s.lastGood, s.x)
		if err := e.costsAt(ctx, s.x, step.Cost); err != nil {
			return err
		}
		if err := obs.Observe(e.event(EventIteration, s)); err != nil {
			return err
		}
		if e.stopsAfterStep(s, rec) {
			return nil
		}
	}
}

// stopsAfterStep adds the step just taken to the convergence test and
// reports whether the run ends there; a converged earlier scale moves on
// to the next.
func (e *experiment) stopsAfterStep(s *runState, rec *records) bool {
	s.totals = append(s.totals, s.cost)
	return e.converged(s, rec) && e.endScale(s, "the cost stopped falling")
}

// endScale ends the current scale before its planned iterations (why says
// why) and reports whether that ends the run: the last scale's end does,
// an earlier one moves on to the next scale.
func (e *experiment) endScale(s *runState, why string) bool {
	if e.lastScale() {
		slog.Info(why+"; stopping early", "iteration", s.iter)
		return true
	}
	slog.Info(why+"; moving to the next scale", "iteration", s.iter)
	s.iter = e.sched.end(e.scale)
	return false
}

// conclude saves the run's result (the last good image, as "final", or as
// "last" when the run stopped early), closes its records and reports the
// finish; runErr is why the optimisation stopped early.
func (e *experiment) conclude(s *runState, rec *records, ck *checkpointer, obs Observer, runErr error) (*Result, error) {
	writeStart := time.Now()
	name := "final"
	if runErr != nil {
		name = "last"
	}
	img, saveErr := e.saveResult(s.dir, name, s.lastGood)
	ev := e.event(EventFinish, s)
	res := &Result{Dir: s.dir, Image: img, Iterations: s.iter, Total: s.cost}
	saveErr = cmp.Or(saveErr, rec.close(writeStart, s.iter, e.finalCosts(s.row), runErr))
	ev.Err = runErr
	if runErr == nil {
		ev.Err = saveErr
	}
	if err := obs.Observe(ev); err != nil && saveErr == nil {
		saveErr = err
	}
	if runErr == nil && saveErr == nil {
		return res, nil
	}
	return res, stopMessage(s, img, runErr, saveErr, ck.err)
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
// Manifest.Finish) already records it.
func cancelled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

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
func costTerms(spec losses.Spec) []string {
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
	if err := e.reevaluate(ctx, x); err != nil {
		return fmt.Errorf("cost terms of the accepted point: %w", err)
	}
	return nil
}

// reevaluate computes the costs at x into e.costs, with a scratch gradient,
// so that the optimiser's state is untouched.
func (e *experiment) reevaluate(ctx context.Context, x []float32) error {
	if len(e.scratch) != len(x) {
		e.scratch = make([]float32, len(x))
	}
	_, err := e.evaluate(ctx, x, e.scratch)
	return err
}

// costRow fills row with the last evaluation's costs, in costTerms order.
func (e *experiment) costRow(row []float64) []float64 {
	c := e.costs
	row = row[:0]
	row = append(row, c.Content...)
	row = append(row, c.Style...)
	row = append(row, c.TV)
	row = append(row, e.extraCosts...)
	return append(row, c.ContentTotal, c.StyleTotal, c.Total)
}

// useTerms adds the caller's cost terms to the evaluation and to the
// columns of costs.csv, after tv.
func (e *experiment) useTerms(terms []Term) error {
	if len(terms) == 0 {
		return nil
	}
	names := slices.Clone(e.terms[:len(e.terms)-3])
	for _, t := range terms {
		if t.Name == "" || strings.IndexFunc(t.Name, func(r rune) bool {
			return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}) >= 0 || slices.Contains(e.terms, t.Name) || t.Eval == nil {
			return fmt.Errorf("cost term %q: want a new name of letters, digits and underscores, and an Eval function", t.Name)
		}
		names = append(names, t.Name)
	}
	e.extra = terms
	e.extraCosts = make([]float64, len(terms))
	e.terms = append(names, "content", "style", "total")
	return nil
}

func (e *experiment) finalCosts(row []float64) []record.Cost {
	if row == nil {
		return nil
	}
	out := make([]record.Cost, len(e.terms))
	for i, t := range e.terms {
		out[i] = record.Cost{Name: t, Value: row[i]}
	}
	return out
}

// saveImage writes the optimiser's variable x as an image (see
// experiment.rgb), clamped to [0,1] and rounded to 8 bits, as
// dir/name.<format>; an audio run's as a spectrogram, dir/name.png.
func (e *experiment) saveImage(dir, name string, x []float32) (string, error) {
	if e.audio != nil {
		return e.saveSpectrogram(dir, name, x)
	}
	if e.volume != nil {
		return e.saveVolumeMontage(dir, name, x)
	}
	return e.saveRGB(dir, name, e.color.rgb(x))
}

// saveResult writes the run's result for the variable x (see
// experiment.result) as saveImage does; an audio run's as a WAV file (see
// saveAudioResult).
func (e *experiment) saveResult(dir, name string, x []float32) (string, error) {
	if e.audio != nil {
		return e.saveAudioResult(dir, name, x)
	}
	if e.volume != nil {
		return e.saveVolumeResult(dir, name, x)
	}
	return e.saveRGB(dir, name, e.color.result(x))
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
	if m.Threads == 0 {
		// ONNX Runtime's default: one intra-op thread per usable core.
		m.Threads, _ = sysmem.CPULimit()
	}
	m.Seed = e.cfg.Seed
	m.Model = record.Model{Description: e.backbone.Describe(), Path: e.cfg.Model.Path, SHA256: e.backbone.Digest()}
	m.Inputs = append(m.Inputs, e.inputs...)
}

// recordSetup adds the split of the preparation to the manifest's phases.
func (e *experiment) recordSetup(m *record.Manifest) {
	m.AddPhase("inputs", e.info.Startup.Inputs)
	m.AddPhase("backbone", e.info.Startup.Backbone)
	m.AddPhase("sessions", e.info.Startup.Sessions)
	m.AddPhase("targets", e.info.Startup.Targets)
}

// recordTiming adds the evaluation's split to the manifest's phases.
func (e *experiment) recordTiming(m *record.Manifest) {
	m.AddPhase("forward", e.timing.Forward)
	m.AddPhase("costs", e.timing.Costs)
	m.AddPhase("backward", e.timing.Backward)
}
