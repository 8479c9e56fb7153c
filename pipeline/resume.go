package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/optim"
	"github.com/nst-project/nst/record"
)

// ResolvedConfigName is the file, in a run folder, holding the run's
// resolved config; a resumed run reads it back.
const ResolvedConfigName = "config.yaml"

// Resume continues the run in dir from the checkpoint it left when it was
// interrupted or could not write, in the same folder, and finishes it. The
// experiment is dir's config.yaml, unchanged: a resumed run ends with the
// same final image, bit for bit, and the same costs.csv values (apart from
// the seconds column) as a run that was never stopped. The config, model
// and input images must be those the run started with.
func Resume(ctx context.Context, dir string, o RunOptions) (*Result, error) {
	unlock, err := lockRunDir(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	ck, err := loadCheckpoint(dir)
	if err != nil {
		return nil, fmt.Errorf("resume %s: %w", dir, err)
	}
	configPath := filepath.Join(dir, ResolvedConfigName)
	raw, err := os.ReadFile(configPath)
	if err != nil {
		return nil, fmt.Errorf("resume %s: read the run's config: %w", dir, err)
	}
	if record.SHA256Hex(raw) != ck.ConfigSHA256 {
		return nil, fmt.Errorf("resume %s: %s changed since the run stopped; put back the original, or start a new run with nst run -c %s", dir, configPath, configPath)
	}
	cfg, err := LoadConfig(configPath, nil)
	if err != nil {
		return nil, fmt.Errorf("resume %s: %w", dir, err)
	}
	resolved, err := cfg.Resolved()
	if err != nil {
		return nil, fmt.Errorf("resume %s: %w", dir, err)
	}
	if !bytes.Equal(resolved, raw) {
		return nil, fmt.Errorf("resume %s: the environment changes the run's config (%s); unset it to resume", dir, strings.Join(nstVariables(), ", "))
	}
	o.resume = &resumePoint{dir: dir, loadedCheckpoint: ck}
	res, err := Run(ctx, cfg, o)
	if res == nil && errors.Is(err, ErrInterrupted) {
		// Stopped while preparing: the checkpoint is still the one to use.
		return nil, o.resume.interrupted()
	}
	return res, err
}

// resumePoint is where a resumed run continues. Its methods, called by Run,
// do what a fresh run does when the receiver is nil.
type resumePoint struct {
	dir string
	*loadedCheckpoint
	// logged is the last iteration costs.csv holds a row for, at most
	// Iteration.
	logged int
}

// runDir returns the folder a run writes into: a fresh one under base, or
// the resumed run's own.
func (r *resumePoint) runDir(base string) (string, error) {
	if r == nil {
		dir, err := record.RunDir(base)
		if err != nil {
			return "", fmt.Errorf("%w; set output.dir (or --out) to a folder nst can create and write", err)
		}
		return dir, nil
	}
	return r.dir, nil
}

// openCostLog starts the run's cost log. A resumed run first checks that e
// is the experiment its checkpoint belongs to, carries the earlier
// manifest's start and phase times into manifest, and reopens the log after
// the checkpoint's iteration.
func (r *resumePoint) openCostLog(e *experiment, manifest *record.Manifest, path string, terms []string) (*record.CostLog, error) {
	if r == nil {
		return record.CreateCostLog(path, terms)
	}
	if err := r.matches(e); err != nil {
		return nil, fmt.Errorf("resume %s: %w", r.dir, err)
	}
	table, err := record.ReadCosts(path)
	if err != nil {
		return nil, fmt.Errorf("resume %s: %w", r.dir, err)
	}
	r.logged = 0
	for _, it := range table.Iterations {
		if it <= r.Iteration {
			r.logged = it
		}
	}
	// An interrupt can land between a step and its row, so one row may be
	// missing (it is computed again); more means the log was damaged.
	if r.logged < r.Iteration-1 {
		return nil, fmt.Errorf("resume %s: %s ends at iteration %d, the checkpoint is at %d", r.dir, path, r.logged, r.Iteration)
	}
	if prev, err := record.ReadManifest(filepath.Join(r.dir, record.ManifestName)); err == nil && !prev.Start.IsZero() {
		current := manifest.Phases
		manifest.Start = prev.Start
		manifest.Phases = slices.Clone(prev.Phases)
		for _, p := range current {
			manifest.AddPhase(p.Name, time.Duration(p.Seconds*float64(time.Second)))
		}
	}
	return record.ResumeCostLog(path, terms, r.Iteration)
}

// matches checks that e, prepared from the run's config, is the experiment
// the checkpoint was taken in.
func (r *resumePoint) matches(e *experiment) error {
	if d := e.backbone.Digest(); d != r.ModelSHA256 {
		return fmt.Errorf("the model %s changed since the run stopped (sha256 %s, was %s); put back the original to resume", e.backbone.Describe(), d, r.ModelSHA256)
	}
	for _, in := range r.Inputs {
		i := slices.IndexFunc(e.inputs, func(x record.Input) bool { return x.Role == in.Role })
		switch {
		case i < 0:
			return fmt.Errorf("the %s image %s is no longer part of the config", in.Role, in.Path)
		case e.inputs[i].SHA256 != in.SHA256:
			return fmt.Errorf("the %s image %s changed since the run stopped (sha256 %s, was %s); put back the original to resume", in.Role, in.Path, e.inputs[i].SHA256, in.SHA256)
		}
	}
	if len(e.inputs) != len(r.Inputs) {
		return fmt.Errorf("the config names %d input images, the checkpoint %d", len(e.inputs), len(r.Inputs))
	}
	if name := e.cfg.Optimizer.Name; name != r.Optimizer {
		return fmt.Errorf("the checkpoint holds %s state, the config names %s", r.Optimizer, name)
	}
	return nil
}

// restore moves e to the checkpoint's scale, and returns the checkpoint's
// image, to continue from in place of x, and the iteration the run
// continues after; opt takes the checkpoint's state. A fresh run (nil
// receiver) continues from x after iteration 0. What the stopped run had
// not recorded of its last step, its costs.csv row or intermediate image,
// is recorded now, as the run would have: the costs are evaluated again at
// the image, which is deterministic, into a scratch gradient, so the
// optimiser's state is untouched.
func (r *resumePoint) restore(ctx context.Context, e *experiment, x []float32, opt optim.Optimizer, costLog *record.CostLog, row []float64, dir string) ([]float32, int, error) {
	if r == nil {
		return x, 0, nil
	}
	if r.Scale >= len(e.scales) {
		return nil, 0, fmt.Errorf("resume %s: the checkpoint is at scale %d, the config has %d", r.dir, r.Scale+1, len(e.scales))
	}
	if r.Scale != e.scale {
		if err := e.enterScale(ctx, r.Scale); err != nil {
			if cancelled(err) {
				return nil, 0, r.interrupted()
			}
			return nil, 0, fmt.Errorf("resume %s: scale %d: %w", r.dir, r.Scale+1, err)
		}
	}
	if r.Width != e.width || r.Height != e.height || r.Channels != e.channels() {
		return nil, 0, fmt.Errorf("resume %s: the checkpoint holds a %dx%d image with %d channels, the config gives %dx%d with %d", r.dir, r.Width, r.Height, r.Channels, e.width, e.height, e.channels())
	}
	if err := opt.UnmarshalBinary(r.state); err != nil {
		return nil, 0, fmt.Errorf("resume %s: %w", r.dir, err)
	}
	x, iter := slices.Clone(r.x), r.Iteration
	// Only a step of the current scale can have gone unrecorded.
	if iter <= e.scaleStart() {
		if r.logged < iter {
			return nil, 0, fmt.Errorf("resume %s: costs.csv lacks iteration %d", r.dir, iter)
		}
		return x, iter, nil
	}
	if r.logged < iter {
		scratch := make([]float32, len(x))
		if _, err := e.evaluate(ctx, x, scratch); err != nil {
			if cancelled(err) {
				return nil, 0, r.interrupted()
			}
			return nil, 0, fmt.Errorf("resume %s: costs of iteration %d: %w", r.dir, iter, err)
		}
		if err := costLog.Append(iter, e.costRow(row)); err != nil {
			return nil, 0, err
		}
	}
	if n := e.cfg.Output.SaveEvery; n > 0 && iter%n == 0 && iter < e.scaleEnd() {
		name := e.iterImageName(iter)
		if _, err := os.Stat(e.imagePath(dir, name)); errors.Is(err, fs.ErrNotExist) {
			if _, err := e.saveImage(dir, name, x); err != nil {
				return nil, 0, err
			}
		}
	}
	return x, iter, nil
}

// interrupted is the error of a resume interrupted before its first step:
// the checkpoint is still the one to resume from.
func (r *resumePoint) interrupted() error {
	return fmt.Errorf("%w while resuming; the checkpoint is unchanged, resume again with: nst run --resume %s", ErrInterrupted, shellQuote(r.dir))
}

// conclude turns how a run left its loop into Run's error, and leaves a
// checkpoint when the run can be continued: after an interrupt, a failed
// write (a full disk) or a failing evaluation, but not after divergence,
// which a resumed run would only repeat. runErr stopped the loop after iter
// completed steps; img is the image saved then ("" when that failed too)
// and saveErr the first error writing the records. A resumed run that
// finishes removes its checkpoint and the image its interruption left.
func (r *resumePoint) conclude(e *experiment, dir string, iter int, x []float32, opt optim.Optimizer, img string, runErr, saveErr error) error {
	if runErr == nil && saveErr == nil {
		if r == nil {
			return nil
		}
		if err := os.Remove(e.imagePath(dir, "last")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove the interrupted run's last image: %w", err)
		}
		return removeCheckpoint(dir)
	}

	var msg strings.Builder
	cause := runErr
	switch {
	case cancelled(runErr):
		cause = ErrInterrupted
		fmt.Fprintf(&msg, "%v after %d iterations", ErrInterrupted, iter)
	case errors.Is(runErr, ErrDiverged):
		fmt.Fprintf(&msg, "run stopped at iteration %d: %v", iter+1, runErr)
	case isWriteError(runErr):
		fmt.Fprintf(&msg, "run stopped after iteration %d: %v; %s", iter, runErr, earlierOutputs(dir))
	case runErr != nil:
		fmt.Fprintf(&msg, "run stopped at iteration %d: %v", iter+1, runErr)
	default:
		// The optimisation finished; only its records failed.
		cause = saveErr
		fmt.Fprintf(&msg, "%v; %s", saveErr, earlierOutputs(dir))
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
		c := checkpoint{
			Iteration: iter, Scale: e.scale, Width: e.width, Height: e.height, Channels: e.channels(),
			ModelSHA256: e.backbone.Digest(), Inputs: e.inputs,
		}
		err := configSHA256(dir, &c)
		if err == nil {
			err = saveCheckpoint(dir, c, x, opt)
		}
		if err != nil {
			fmt.Fprintf(&msg, "; it cannot be resumed: %v", err)
		} else {
			fmt.Fprintf(&msg, "; resume with: nst run --resume %s", shellQuote(dir))
		}
	}
	return &stopError{msg: msg.String(), cause: cause}
}

// stopError is the error of a run that stopped early: a message saying
// what happened and what is left, over the cause errors.Is looks for.
type stopError struct {
	msg   string
	cause error
}

func (e *stopError) Error() string { return e.msg }
func (e *stopError) Unwrap() error { return e.cause }

// earlierOutputs says what became of the files a run wrote before a write
// failed: every write is atomic, so they are intact, unless the folder
// itself went away.
func earlierOutputs(dir string) string {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Sprintf("the run folder %s is gone", dir)
	}
	return fmt.Sprintf("earlier outputs in %s are intact", dir)
}

// configSHA256 records the hash of dir's resolved config in c.
func configSHA256(dir string, c *checkpoint) error {
	raw, err := os.ReadFile(filepath.Join(dir, ResolvedConfigName))
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	c.ConfigSHA256 = record.SHA256Hex(raw)
	return nil
}

// isWriteError reports whether err comes from the file system (a full disk,
// a folder that vanished or became read-only) rather than from the
// computation.
func isWriteError(err error) bool {
	var pathErr *fs.PathError
	var errno syscall.Errno
	return errors.As(err, &pathErr) || errors.As(err, &errno)
}

// saveImageFile writes a run's images; tests replace it to make writes
// fail as they do on a full disk.
var saveImageFile = imageio.Save

// imagePath is where saveImage puts the image called name.
func (e *experiment) imagePath(dir, name string) string {
	ext := e.cfg.Output.Format
	if ext == "jpeg" {
		ext = "jpg"
	}
	return filepath.Join(dir, name+"."+ext)
}

// shellQuote quotes a path for a POSIX shell when it needs it, so that the
// resume command a message suggests can be pasted as it is.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:,@%=", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// checkRunDir checks that dir names an existing folder.
func checkRunDir(dir string) error {
	st, err := os.Stat(dir)
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		err = pathErr.Err
	}
	switch {
	case err != nil:
		return fmt.Errorf("resume %s: %w", dir, err)
	case !st.IsDir():
		return fmt.Errorf("resume %s: not a folder; give the run folder nst run printed or named when it stopped", dir)
	}
	return nil
}
