package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nst-project/nst/internal/atomicfile"
	"github.com/nst-project/nst/internal/runlock"
	"github.com/nst-project/nst/internal/sysmem"
	"github.com/nst-project/nst/optim"
	"github.com/nst-project/nst/record"
)

// runState is where a run stands: its folder, the steps taken, the image
// being optimised, the last image whose cost was finite, the optimiser,
// and the costs of the last step.
type runState struct {
	dir         string
	iter        int
	x, lastGood []float32
	opt         optim.Optimizer
	// replay says the step the run starts after was taken but not all of
	// it recorded (a resumed run interrupted between step and records).
	replay bool
	// row and cost are the last step's cost terms (costTerms order) and J;
	// row is nil until a step is taken in this process.
	row   []float64
	cost  float64
	start time.Time
	// totals are the costs of this scale's steps so far, for the
	// convergence test.
	totals []float64
	// unlock releases the run folder's lock, which a fresh run holds
	// while it runs so that others can tell it from a dead one (a resumed
	// run's is held by Resume); nil when there is none.
	unlock func()
}

// converged reports whether the cost fell by less than optimizer.tolerance
// over the last optimizer.window steps of the current scale, and records
// it in rec's manifest when it did.
func (e *experiment) converged(s *runState, rec *records) bool {
	o := e.cfg.Optimizer
	n := len(s.totals)
	if o.Tolerance <= 0 || n <= o.Window {
		return false
	}
	now, then := s.totals[n-1], s.totals[n-1-o.Window]
	change := (then - now) / math.Abs(now)
	if !(change < o.Tolerance) {
		return false
	}
	rec.manifest.Converged = append(rec.manifest.Converged, record.Convergence{
		Scale: e.scale, Iteration: s.iter, Change: change, Window: o.Window, Tolerance: o.Tolerance})
	return true
}

// begin opens the run's records and returns where the optimisation
// starts: for a fresh run (ck nil) a new folder, the config's initial
// image and a new optimiser; for a resumed one its checkpoint's folder,
// scale, image and optimiser state. t0 is when the run was launched.
func (e *experiment) begin(ctx context.Context, ck *loadedCheckpoint, t0 time.Time) (*records, *runState, error) {
	manifest := record.NewManifest(t0)
	manifest.AddPhase("prepare", time.Since(t0))
	e.recordSetup(manifest)
	var s *runState
	var err error
	if ck == nil {
		s, err = e.freshState()
	} else {
		s, err = e.resumedState(ctx, ck)
	}
	if err != nil {
		return nil, nil, err
	}
	if ck == nil {
		// A fresh run that fails before its first step (a full disk)
		// leaves no half-made folder: only what it wrote is in it.
		defer func() {
			if err != nil {
				os.RemoveAll(s.dir)
				s.unlock()
			}
		}()
	}
	resolved, err := e.cfg.Resolved()
	if err != nil {
		return nil, nil, err
	}
	if err = writeResolvedConfig(filepath.Join(s.dir, ResolvedConfigName), resolved, 0o644); err != nil {
		return nil, nil, fmt.Errorf("write resolved config: %w", err)
	}
	e.describe(manifest)
	w := e.cfg.Weights
	rec := &records{dir: s.dir, manifest: manifest, weights: map[string]float64{"content": w.Content, "style": w.Style, "tv": w.TV}, estimated: e.info.EstimatedPeak}
	if ck == nil {
		rec.costLog, err = record.CreateCostLog(rec.costsPath(), e.terms)
	} else {
		rec.costLog, rec.logged, err = e.reopenRecords(ck, s, manifest)
	}
	if err != nil {
		return nil, nil, err
	}
	s.start = time.Now()
	return rec, s, nil
}

// freshState makes a new run's folder under output.dir and its starting
// point. The initial image is made first, so that a missing init image
// leaves no folder behind.
func (e *experiment) freshState() (*runState, error) {
	x, err := e.initImage()
	if err != nil {
		return nil, err
	}
	opt, err := newOptimizer(e.cfg.Optimizer)
	if err != nil {
		return nil, err
	}
	dir, err := record.RunDir(e.cfg.Output.Dir)
	if err != nil {
		return nil, fmt.Errorf("%w; set output.dir (or --out) to a folder nst can create and write", err)
	}
	unlock, err := runlock.Lock(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("lock the run folder: %w", err)
	}
	return &runState{dir: dir, x: x, lastGood: slices.Clone(x), opt: opt, unlock: unlock}, nil
}

// writeResolvedConfig writes a run's config.yaml; tests replace it to make
// the write fail as on a full disk.
var writeResolvedConfig = atomicfile.WriteFile

// records are what a run writes beside its image as it goes: a costs.csv
// row per step, and at the end the cost plot and the manifest.
type records struct {
	dir      string
	manifest *record.Manifest
	costLog  *record.CostLog
	// logged is the last iteration costs.csv has a row for.
	logged int
	// weights are α, β and the tv weight, for the cost plot.
	weights map[string]float64
	// estimated is the run's estimated peak memory, for the manifest.
	estimated int64
}

func (r *records) costsPath() string { return filepath.Join(r.dir, record.CostsCSVName) }

// Observe appends a row to costs.csv for each step not logged yet.
func (r *records) Observe(ev *Event) error {
	if t := ev.Info.Tiling; (ev.Kind == EventStart || ev.Kind == EventScale) && t != nil && !slices.ContainsFunc(r.manifest.Tiled, func(p record.Tiling) bool { return p.Scale == t.Scale }) {
		r.manifest.Tiled = append(r.manifest.Tiled, *t)
	}
	if ev.Kind != EventIteration || ev.Iteration <= r.logged {
		return nil
	}
	r.logged = ev.Iteration
	return r.costLog.Append(ev.Iteration, ev.Costs)
}

// close finishes the records of a run that took iter steps and ended with
// the final costs (nil when none were computed) and runErr: it closes the
// cost log, plots it and writes the manifest. It returns the first error.
func (r *records) close(writeStart time.Time, iter int, final []record.Cost, runErr error) error {
	err := r.costLog.Close()
	if table, terr := record.ReadCosts(r.costsPath()); terr == nil && len(table.Iterations) > 0 {
		err = cmp.Or(err, record.PlotCosts(filepath.Join(r.dir, record.CostsPNGName), table, record.PlotOptions{Title: filepath.Base(r.dir), Weights: r.weights}))
	}
	r.manifest.AddPhase("write", time.Since(writeStart))
	r.manifest.Memory = &record.Memory{Estimated: r.estimated, Measured: sysmem.PeakRSS()}
	r.manifest.Finish(time.Now(), iter, final, runErr)
	return cmp.Or(err, r.manifest.Write(filepath.Join(r.dir, record.ManifestName)))
}

// imageSaver writes the intermediate image of every output.save_every-th
// step, except a scale's last, whose image the scale or the run saves. An
// image already there (written before an interruption) is kept.
type imageSaver struct{ e *experiment }

func (o *imageSaver) Observe(ev *Event) error {
	e := o.e
	n := e.cfg.Output.SaveEvery
	if ev.Kind != EventIteration || n <= 0 || ev.Iteration%n != 0 || ev.Iteration >= e.sched.end(e.scale) {
		return nil
	}
	name := e.iterImageName(ev.Iteration)
	if st, err := os.Stat(e.imagePath(ev.Dir, name)); err == nil && st.Mode().IsRegular() {
		return nil
	}
	_, err := e.saveImage(ev.Dir, name, ev.x)
	return err
}

// progressReporter shows each scale's progress on w (nothing when w is
// nil), ending a scale's report at its last planned iteration, before the
// next scale prepares (minutes of targets at print sizes), or where the
// scale or run ends earlier.
type progressReporter struct {
	w   io.Writer
	e   *experiment
	bar record.Progress
}

func newProgressReporter(w io.Writer, e *experiment) *progressReporter {
	return &progressReporter{w: w, e: e}
}

func (p *progressReporter) Observe(ev *Event) error {
	switch ev.Kind {
	case EventStart, EventScale:
		p.finish()
		if p.w != nil {
			p.bar = p.e.progress(p.w, ev.Dir)
		}
	case EventIteration:
		if p.bar != nil {
			p.bar.Update(ev.ScaleIteration, ev.Cost)
			if ev.ScaleIteration >= ev.ScaleIterations {
				p.finish()
			}
		}
	case EventFinish:
		p.finish()
	}
	return nil
}

func (p *progressReporter) finish() {
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
}

// checkpointer leaves a checkpoint when a run stops early in a way a
// resumed run can continue: after an interrupt, a failed write (a full
// disk) or a failing evaluation, but not after divergence, which a resumed
// run would only repeat. When a run completes it removes the checkpoint
// and the "last" image an earlier interruption left, so that the folder
// cannot be resumed a second time.
type checkpointer struct {
	e *experiment
	s *runState
	// err is why the checkpoint could not be saved.
	err error
}

func (c *checkpointer) Observe(ev *Event) error {
	if ev.Kind != EventFinish {
		return nil
	}
	e := c.e
	if ev.Err == nil {
		for _, last := range e.resultFiles(ev.Dir, "last") {
			if err := os.Remove(last); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove the interrupted run's last image: %w", err)
			}
		}
		return removeCheckpoint(ev.Dir)
	}
	if errors.Is(ev.Err, ErrDiverged) {
		return nil
	}
	ck := checkpoint{
		Iteration: c.s.iter, Scale: e.scale, Width: e.width, Height: e.height, Channels: e.color.channels(),
		ModelSHA256: e.backbone.Digest(), Inputs: e.inputs,
	}
	c.err = configSHA256(ev.Dir, &ck)
	if c.err == nil {
		c.err = saveCheckpoint(ev.Dir, ck, c.s.lastGood, c.s.opt)
	}
	return nil
}

// event fills the experiment's event value for kind from s. An iteration
// event first takes the current costs into s.
func (e *experiment) event(kind EventKind, s *runState) *Event {
	if kind == EventIteration {
		s.row, s.cost = e.costRow(s.row), e.costs.Total
	}
	x := s.x
	if kind == EventFinish {
		x = s.lastGood
	}
	e.ev = Event{
		Kind: kind, Dir: s.dir,
		Iteration: s.iter, Iterations: e.sched.total(),
		Scale: e.scale, Scales: len(e.sched),
		ScaleIteration: s.iter - e.sched.start(e.scale), ScaleIterations: e.sched[e.scale].Iterations,
		Width: e.width, Height: e.height,
		Terms: e.terms, Costs: s.row, Cost: s.cost,
		Elapsed: time.Since(s.start),
		Timing:  e.timing,
		Info:    &e.info,
		e:       e, x: x,
	}
	return &e.ev
}

// stopMessage is the error of a run that stopped early after s.iter steps:
// what happened, where the last image is (img, "" when it could not be
// saved), and how to resume (ckErr: why the checkpoint could not be saved).
func stopMessage(s *runState, img string, runErr, saveErr, ckErr error) error {
	var msg strings.Builder
	cause := runErr
	switch {
	case cancelled(runErr):
		cause = ErrInterrupted
		fmt.Fprintf(&msg, "%v after %d iterations", ErrInterrupted, s.iter)
	case errors.Is(runErr, ErrDiverged):
		fmt.Fprintf(&msg, "run stopped at iteration %d: %v", s.iter+1, runErr)
	case isWriteError(runErr):
		fmt.Fprintf(&msg, "run stopped after iteration %d: %v; %s", s.iter, runErr, earlierOutputs(s.dir))
	case runErr != nil:
		fmt.Fprintf(&msg, "run stopped at iteration %d: %v", s.iter+1, runErr)
	default:
		// The optimisation finished; only its records failed.
		cause = saveErr
		fmt.Fprintf(&msg, "%v; %s", saveErr, earlierOutputs(s.dir))
	}
	if runErr != nil {
		switch {
		case img != "" && errors.Is(runErr, ErrDiverged):
			fmt.Fprintf(&msg, "; the last good image is %s", img)
		case img != "":
			fmt.Fprintf(&msg, "; the last image is %s", img)
		case saveErr != nil:
			fmt.Fprintf(&msg, "; the last image could not be saved either: %v", saveErr)
		}
	}
	if !errors.Is(runErr, ErrDiverged) {
		if ckErr != nil {
			fmt.Fprintf(&msg, "; it cannot be resumed: %v", ckErr)
		} else {
			fmt.Fprintf(&msg, "; resume with: nst run --resume %s", shellQuote(s.dir))
		}
	}
	return &stopError{msg: msg.String(), cause: cause}
}
