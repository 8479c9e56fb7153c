package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nst-project/nst/internal/atomicfile"
	"github.com/nst-project/nst/internal/runlock"
	"github.com/nst-project/nst/internal/safefile"
)

// State is where an item stands.
type State string

// Item states.
const (
	// StatePending: the item's folder does not exist or is empty.
	StatePending State = "pending"
	// StateResumable: the folder holds outputs but no done.json; the run
	// was interrupted (or failed) and continues from its checkpoint.
	StateResumable State = "resumable"
	// StateDone: done.json exists; the item is skipped.
	StateDone State = "done"
	// StateRunning: the folder holds outputs but no done.json, and a live
	// process (another shard, on this machine) holds its run's lock; the
	// item is skipped. A run killed without a word holds no lock: its item
	// is resumable.
	StateRunning State = "running"
)

// Status is an item's state on disk.
type Status struct {
	Item Item
	// Dir is the item's run folder, OUTPUT/items/ID.
	Dir string
	// State is pending, resumable or done.
	State State
	// Done is the done marker's content when State is StateDone.
	Done *DoneMarker
}

// DoneMarker is the content of an item's done.json, written atomically
// once the item's outputs are complete.
type DoneMarker struct {
	ID        string   `json:"id"`
	Index     int      `json:"index"`
	Overrides []string `json:"overrides"`
	// Image is the final image, relative to the item's folder.
	Image string `json:"image"`
	// Costs are the final costs by name (total, content, style, tv, ...).
	// JSON has no NaN or infinity: such costs are named in NonFiniteCosts
	// instead.
	Costs          map[string]float64 `json:"costs,omitempty"`
	NonFiniteCosts []string           `json:"nonfinite_costs,omitempty"`
	Iterations     int                `json:"iterations"`
	// Shard is the shard that finished the item, as i/n.
	Shard    string    `json:"shard"`
	Host     string    `json:"host,omitempty"`
	Finished time.Time `json:"finished"`
	// Seconds is the time the Runner took, in the last attempt.
	Seconds float64 `json:"seconds"`
}

// ItemDir returns an item's run folder, OUTPUT/items/ID.
func (s *Sweep) ItemDir(it Item) string {
	return filepath.Join(s.Output, ItemsDir, it.ID)
}

// Status reads the state of every item of shard sh from the sweep folder;
// it writes nothing, so it serves nst sweep --list.
func (s *Sweep) Status(sh Shard) ([]Status, error) {
	if err := sh.check(); err != nil {
		return nil, err
	}
	var out []Status
	for _, it := range s.Select(sh) {
		st, err := itemStatus(s.ItemDir(it))
		if err != nil {
			return nil, err
		}
		st.Item = it
		out = append(out, st)
	}
	return out, nil
}

// itemStatus reads one item folder.
func itemStatus(dir string) (Status, error) {
	st := Status{Dir: dir, State: StatePending}
	raw, err := safefile.ReadFile(filepath.Join(dir, DoneName), safefile.MaxConfigBytes)
	if err == nil {
		var d DoneMarker
		if err := json.Unmarshal(raw, &d); err != nil {
			return st, fmt.Errorf("%s: %w (delete it to run the item again)", filepath.Join(dir, DoneName), err)
		}
		st.State, st.Done = StateDone, &d
		return st, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return st, fmt.Errorf("item %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return st, fmt.Errorf("item %s: %w", dir, err)
	case len(entries) > 0 && runlock.Held(dir):
		st.State = StateRunning
	case len(entries) > 0:
		st.State = StateResumable
	}
	return st, nil
}

// List prints the items of shard sh with their states (Status, then
// WriteList): what nst sweep --list shows. It writes nothing to the sweep
// folder.
func (s *Sweep) List(w io.Writer, sh Shard) error {
	st, err := s.Status(sh)
	if err != nil {
		return err
	}
	return s.WriteList(w, sh, st)
}

// WriteList prints the items of statuses as a table: position, state, id
// and settings, under a summary line.
func (s *Sweep) WriteList(w io.Writer, sh Shard, statuses []Status) error {
	counts := map[State]int{}
	for _, st := range statuses {
		counts[st.State]++
	}
	scope := fmt.Sprintf("%d items", len(s.Items))
	if sh.Count > 1 {
		scope = fmt.Sprintf("shard %s: %d of %d items", sh, len(statuses), len(s.Items))
	}
	var axes []string
	for _, ax := range s.Axes {
		axes = append(axes, fmt.Sprintf("%s (%d)", ax.Key, len(ax.Values)))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	running := ""
	if n := counts[StateRunning]; n > 0 {
		running = fmt.Sprintf(", %d running", n)
	}
	fmt.Fprintf(tw, "sweep %s: %s (%d done, %d resumable, %d pending%s)\n", s.File, scope,
		counts[StateDone], counts[StateResumable], counts[StatePending], running)
	fmt.Fprintf(tw, "base %s, output %s\n", s.Base, s.Output)
	fmt.Fprintf(tw, "axes, the last fastest: %s\n\n", strings.Join(axes, ", "))
	fmt.Fprintln(tw, "#\tSTATE\tID\tSETTINGS")
	for _, st := range statuses {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", st.Item.Index, st.State, st.Item.ID, strings.Join(st.Item.Overrides, " "))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write list: %w", err)
	}
	return nil
}

// Job is one item for a Runner to run.
type Job struct {
	Item Item
	// Base is the base experiment config (Sweep.Base).
	Base string
	// Dir is the item's run folder: the run must write exactly there (its
	// parent exists; Dir itself may not).
	Dir string
	// Resume is true when Dir holds an interrupted run, to be continued
	// from its checkpoint; false when Dir is missing or empty.
	Resume bool
	// Shard is the shard running the item.
	Shard Shard
}

// Result is what a Runner reports of a finished item.
type Result struct {
	// Image is the final image's path (absolute, or relative to the
	// working folder); it must lie in Job.Dir.
	Image string
	// Costs are the final costs by name, recorded in done.json.
	Costs map[string]float64
	// Iterations is the number of optimiser steps taken.
	Iterations int
}

// Runner runs one item to completion: it loads Job.Base with
// Job.Item.Overrides applied, runs it in Job.Dir (or resumes the run there)
// and returns once every output is written. An error leaves the item
// resumable; a cancelled ctx must stop it (after saving a checkpoint).
type Runner func(ctx context.Context, job Job) (Result, error)

// Report says what Run did.
type Report struct {
	Shard Shard
	// Selected is the number of items in the shard.
	Selected int
	// Ran and Resumed hold the ids of the items finished now, started
	// afresh and continued; Skipped those that were done already.
	Ran, Resumed, Skipped []string
	// Failed holds the items whose Runner returned an error.
	Failed []Failure
	// Left holds the items not reached because ctx was cancelled.
	Left []string
}

// Failure is an item that failed.
type Failure struct {
	ID  string
	Err error
}

// Run runs the items of shard sh that are not done, one after another, and
// marks each finished one with done.json. Before any work it records the
// plan in OUTPUT/sweep.json, or checks it against the one there: every
// shard of a sweep must see the same items and the same shard count.
//
// A failed item does not stop the others; Run then returns an error naming
// every failure. A cancelled ctx stops Run after the current item (which the
// Runner saves, so it is resumable). log receives one line per item; nil
// means none.
func (s *Sweep) Run(ctx context.Context, sh Shard, run Runner, log io.Writer) (*Report, error) {
	if log == nil {
		log = io.Discard
	}
	if err := sh.check(); err != nil {
		return nil, err
	}
	if err := s.claimRecord(sh); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(s.Output, ItemsDir), 0o755); err != nil {
		return nil, fmt.Errorf("sweep %s: %w", s.File, err)
	}
	host, _ := os.Hostname()
	items := s.Select(sh)
	rep := &Report{Shard: sh, Selected: len(items)}
	for n, it := range items {
		if ctx.Err() != nil {
			for _, left := range items[n:] {
				rep.Left = append(rep.Left, left.ID)
			}
			break
		}
		prefix := fmt.Sprintf("sweep %s: item %d (%d of %d in shard %s) %s", s.File, it.Index, n+1, len(items), sh, it.ID)
		dir := s.ItemDir(it)
		st, err := itemStatus(dir)
		if err != nil {
			rep.Failed = append(rep.Failed, Failure{it.ID, err})
			fmt.Fprintf(log, "%s: %v\n", prefix, err)
			continue
		}
		if st.State == StateDone {
			rep.Skipped = append(rep.Skipped, it.ID)
			fmt.Fprintf(log, "%s: done already, skipped\n", prefix)
			continue
		}
		if st.State == StateRunning {
			rep.Skipped = append(rep.Skipped, it.ID)
			fmt.Fprintf(log, "%s: running in another process, skipped\n", prefix)
			continue
		}
		resume := st.State == StateResumable
		verb := "running"
		if resume {
			verb = "resuming"
		}
		fmt.Fprintf(log, "%s: %s %s\n", prefix, verb, strings.Join(it.Overrides, " "))
		start := time.Now()
		res, err := run(ctx, Job{Item: it, Base: s.Base, Dir: dir, Resume: resume, Shard: sh})
		if err == nil {
			err = writeDone(dir, it, res, sh, host, start)
		}
		if err != nil {
			if ctx.Err() != nil {
				// Interrupted, not failed: the item stays resumable.
				fmt.Fprintf(log, "%s: interrupted: %v\n", prefix, err)
				for _, left := range items[n:] {
					rep.Left = append(rep.Left, left.ID)
				}
				break
			}
			rep.Failed = append(rep.Failed, Failure{it.ID, err})
			fmt.Fprintf(log, "%s: failed: %v\n", prefix, err)
			continue
		}
		if resume {
			rep.Resumed = append(rep.Resumed, it.ID)
		} else {
			rep.Ran = append(rep.Ran, it.ID)
		}
		fmt.Fprintf(log, "%s: done in %s\n", prefix, time.Since(start).Round(time.Millisecond))
	}
	return rep, rep.err(s.File)
}

// err summarises the failures and interruption of a run, or returns nil.
func (r *Report) err(file string) error {
	var errs []error
	for _, f := range r.Failed {
		errs = append(errs, fmt.Errorf("item %s: %w", f.ID, f.Err))
	}
	if len(r.Failed) > 0 {
		errs = append([]error{fmt.Errorf("sweep %s shard %s: %d of %d items failed (run again to retry them)", file, r.Shard, len(r.Failed), r.Selected)}, errs...)
	}
	if len(r.Left) > 0 {
		errs = append(errs, fmt.Errorf("sweep %s shard %s: interrupted with %d items left (run again to continue)", file, r.Shard, len(r.Left)))
	}
	return errors.Join(errs...)
}

// writeDone checks the Runner's result and writes the item's done.json.
func writeDone(dir string, it Item, res Result, sh Shard, host string, start time.Time) error {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("mark done: %w", err)
	}
	img, err := filepath.Abs(res.Image)
	if err != nil || res.Image == "" {
		return fmt.Errorf("mark done: the run reported no final image")
	}
	rel, err := filepath.Rel(absDir, img)
	if err != nil || rel == "." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || rel == ".." {
		return fmt.Errorf("mark done: the final image %s is not inside the item's folder %s", res.Image, dir)
	}
	if _, err := os.Stat(img); err != nil {
		return fmt.Errorf("mark done: final image: %w", err)
	}
	d := DoneMarker{
		ID: it.ID, Index: it.Index, Overrides: it.Overrides, Image: rel,
		Iterations: res.Iterations, Shard: sh.String(), Host: host,
		Finished: time.Now().UTC(), Seconds: time.Since(start).Seconds(),
	}
	for _, k := range slices.Sorted(maps.Keys(res.Costs)) {
		v := res.Costs[k]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			d.NonFiniteCosts = append(d.NonFiniteCosts, k)
			continue
		}
		if d.Costs == nil {
			d.Costs = map[string]float64{}
		}
		d.Costs[k] = v
	}
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Errorf("mark done: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, DoneName), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("mark done: %w", err)
	}
	return nil
}
