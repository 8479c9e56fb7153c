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
	"github.com/nst-project/nst/internal/safefile"
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
	if errors.Is(err, ErrNoCheckpoint) {
		return nil, fmt.Errorf("resume %s: %w%s", dir, err, withoutCheckpoint(dir))
	}
	if err != nil {
		return nil, fmt.Errorf("resume %s: %w", dir, err)
	}
	configPath := filepath.Join(dir, ResolvedConfigName)
	raw, err := safefile.ReadFile(configPath, safefile.MaxConfigBytes)
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
	res, err := run(ctx, cfg, o, ck)
	if res == nil && errors.Is(err, ErrInterrupted) {
		// Stopped while preparing: the checkpoint is still the one to use.
		return nil, fmt.Errorf("%w while resuming; the checkpoint is unchanged, resume again with: nst run --resume %s", ErrInterrupted, shellQuote(dir))
	}
	return res, err
}

// resumedState checks that e, prepared from the run's config, is the
// experiment ck was taken in, moves it to ck's scale, and returns the
// state ck holds.
func (e *experiment) resumedState(ctx context.Context, ck *loadedCheckpoint) (*runState, error) {
	dir := ck.dir
	if err := ck.matches(e); err != nil {
		return nil, fmt.Errorf("resume %s: %w", dir, err)
	}
	if ck.Scale >= len(e.sched) {
		return nil, fmt.Errorf("resume %s: the checkpoint is at scale %d, the config has %d", dir, ck.Scale+1, len(e.sched))
	}
	if ck.Scale != e.scale {
		if err := e.enterScale(ctx, ck.Scale); err != nil {
			if cancelled(err) {
				return nil, fmt.Errorf("%w before the first iteration", ErrInterrupted)
			}
			return nil, fmt.Errorf("resume %s: scale %d: %w", dir, ck.Scale+1, err)
		}
	}
	if ck.Width != e.width || ck.Height != e.height || ck.Channels != e.color.channels() {
		return nil, fmt.Errorf("resume %s: the checkpoint holds a %dx%d image with %d channels, the config gives %dx%d with %d", dir, ck.Width, ck.Height, ck.Channels, e.width, e.height, e.color.channels())
	}
	opt, err := newOptimizer(e.cfg.Optimizer)
	if err != nil {
		return nil, err
	}
	if err := opt.UnmarshalBinary(ck.state); err != nil {
		return nil, fmt.Errorf("resume %s: %w", dir, err)
	}
	return &runState{dir: dir, iter: ck.Iteration, x: slices.Clone(ck.x), lastGood: slices.Clone(ck.x), opt: opt}, nil
}

// reopenRecords continues a resumed run's records: the earlier manifest's
// start and phase times carry into manifest, costs.csv is reopened after
// the checkpoint's iteration, and s.replay is set when the checkpoint's
// step still lacks its row or intermediate image. It returns the last
// iteration costs.csv holds.
func (e *experiment) reopenRecords(ck *loadedCheckpoint, s *runState, manifest *record.Manifest) (*record.CostLog, int, error) {
	path := filepath.Join(s.dir, record.CostsCSVName)
	table, err := record.ReadCosts(path)
	if err != nil {
		return nil, 0, fmt.Errorf("resume %s: %w", s.dir, err)
	}
	logged := 0
	totals, _ := table.Column("total")
	for i, it := range table.Iterations {
		if it <= ck.Iteration {
			logged = it
			// The convergence test looks back over this scale's steps.
			if it > e.sched.start(e.scale) && i < len(totals) {
				s.totals = append(s.totals, totals[i])
			}
		}
	}
	// An interrupt can land between a step and its row, so one row may be
	// missing (it is computed again); more means the log was damaged.
	// Only a step of the current scale can have gone unrecorded.
	if logged < ck.Iteration-1 {
		return nil, 0, fmt.Errorf("resume %s: %s ends at iteration %d, the checkpoint is at %d", s.dir, path, logged, ck.Iteration)
	}
	if logged < ck.Iteration && ck.Iteration <= e.sched.start(e.scale) {
		return nil, 0, fmt.Errorf("resume %s: costs.csv lacks iteration %d", s.dir, ck.Iteration)
	}
	if prev, err := record.ReadManifest(filepath.Join(s.dir, record.ManifestName)); err == nil && !prev.Start.IsZero() {
		current := manifest.Phases
		manifest.Start = prev.Start
		manifest.Phases = slices.Clone(prev.Phases)
		for _, p := range current {
			manifest.AddPhase(p.Name, time.Duration(p.Seconds*float64(time.Second)))
		}
	}
	if s.iter > e.sched.start(e.scale) {
		n := e.cfg.Output.SaveEvery
		_, statErr := os.Stat(e.imagePath(s.dir, e.iterImageName(s.iter)))
		imageMissing := n > 0 && s.iter%n == 0 && s.iter < e.sched.end(e.scale) && errors.Is(statErr, fs.ErrNotExist)
		s.replay = logged < s.iter || imageMissing
	}
	log, err := record.ResumeCostLog(path, e.terms, ck.Iteration)
	return log, logged, err
}

// matches checks that e, prepared from the run's config, is the experiment
// the checkpoint was taken in.
func (ck *loadedCheckpoint) matches(e *experiment) error {
	if d := e.backbone.Digest(); d != ck.ModelSHA256 {
		return fmt.Errorf("the model %s changed since the run stopped (sha256 %s, was %s); put back the original to resume", e.backbone.Describe(), d, ck.ModelSHA256)
	}
	for _, in := range ck.Inputs {
		i := slices.IndexFunc(e.inputs, func(x record.Input) bool { return x.Role == in.Role })
		switch {
		case i < 0:
			return fmt.Errorf("the %s image %s is no longer part of the config", in.Role, in.Path)
		case e.inputs[i].SHA256 != in.SHA256:
			return fmt.Errorf("the %s image %s changed since the run stopped (sha256 %s, was %s); put back the original to resume", in.Role, in.Path, e.inputs[i].SHA256, in.SHA256)
		}
	}
	if len(e.inputs) != len(ck.Inputs) {
		return fmt.Errorf("the config names %d input images, the checkpoint %d", len(e.inputs), len(ck.Inputs))
	}
	if name := e.cfg.Optimizer.Name; name != ck.Optimizer {
		return fmt.Errorf("the checkpoint holds %s state, the config names %s", ck.Optimizer, name)
	}
	return nil
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
	raw, err := safefile.ReadFile(filepath.Join(dir, ResolvedConfigName), safefile.MaxConfigBytes)
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

// resultPath is where saveResult puts the result called name: an audio
// run's WAV, else the image.
func (e *experiment) resultPath(dir, name string) string {
	if e.audio != nil {
		return filepath.Join(dir, name+".wav")
	}
	if e.volume != nil {
		return filepath.Join(dir, name+".npy")
	}
	return e.imagePath(dir, name)
}

// resultFiles lists the files saveResult writes for the result called
// name and for it alone: resultPath's, and a volume run's montage of it.
func (e *experiment) resultFiles(dir, name string) []string {
	files := []string{e.resultPath(dir, name)}
	if e.volume != nil {
		files = append(files, filepath.Join(dir, name+"_montage.png"))
	}
	return files
}

// imagePath is where saveImage puts the image called name.
func (e *experiment) imagePath(dir, name string) string {
	if e.audio != nil || e.volume != nil {
		return filepath.Join(dir, name+".png")
	}
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

// withoutCheckpoint says what a run folder without a checkpoint holds, for
// Resume's error, which the caller makes while holding the folder's lock.
// A manifest that still says "running" belongs to a run whose process was
// killed (no live run could hold its lock meanwhile): it is rewritten to
// say interrupted. The run's latest image, if any, is offered as the start
// of a new run (init: image).
func withoutCheckpoint(dir string) string {
	path := filepath.Join(dir, record.ManifestName)
	m, err := record.ReadManifest(path)
	if err != nil {
		return ""
	}
	var what string
	switch m.Status {
	case record.StatusCompleted:
		return "; the run completed"
	case record.StatusRunning:
		m.Status = record.StatusInterrupted
		_ = m.Write(path) // a read-only folder keeps its manifest
		what = "; the run's process was killed before it could save one (its manifest said running; now interrupted)"
	default:
		what = "; the run ended: " + strings.TrimSpace(m.Status)
	}
	latest := latestImage(dir)
	config := filepath.Join(dir, ResolvedConfigName)
	if latest == "" {
		return what + "; it left no image to restart from: start again with nst run -c " + shellQuote(config)
	}
	return fmt.Sprintf("%s; restart from its latest image with: nst run -c %s --set init=image --set init_image=%s",
		what, shellQuote(config), shellQuote(latest))
}

// latestImage is the newest image a run folder holds to restart from: the
// last image an interrupted run saved, else its intermediate image of the
// highest iteration, else "".
func latestImage(dir string) string {
	for _, ext := range []string{".png", ".jpg"} {
		if p := filepath.Join(dir, "last"+ext); isRegular(p) {
			return p
		}
	}
	var best string
	for _, ext := range []string{".png", ".jpg"} {
		matches, _ := filepath.Glob(filepath.Join(dir, "iter_*"+ext))
		for _, m := range matches {
			// iter_00040 < iter_100000: longer names are later iterations.
			if isRegular(m) && (best == "" || len(m) > len(best) || len(m) == len(best) && m > best) {
				best = m
			}
		}
	}
	return best
}

// isRegular reports whether path names a regular file.
func isRegular(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
