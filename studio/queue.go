package studio

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nst-project/nst/pipeline"
)

// Run states, as the API reports them.
const (
	StateQueued   = "queued"   // waiting for the one run slot
	StateRunning  = "running"  // optimising
	StateStopping = "stopping" // asked to stop; saving its checkpoint
	StateStopped  = "stopped"  // stopped early; resumable
	StateDone     = "done"     // completed
	StateFailed   = "failed"   // ended with an error
)

// imageWait bounds how long an image request waits for the run to hand
// over its next image.
const imageWait = 3 * time.Second

// job is one run the studio started: queued, running or ended. It is the
// run's observer; its fields are guarded by mu.
type job struct {
	id      string
	name    string
	created time.Time

	mu         sync.Mutex
	cfg        *pipeline.Config
	state      string
	resume     bool // the next start resumes dir
	dir        string
	errMsg     string
	iteration  int
	iterations int
	terms      []string
	iters      []int       // the iteration of each row of history
	history    [][]float64 // costs after each step, in terms order
	runStart   time.Time   // when this process's part of the run began
	startIter  int         // the iteration it began at
	finalImage string
	cancel     context.CancelFunc
	// changed is closed, and replaced, whenever anything above changes.
	changed chan struct{}

	// want asks the run for its image at the next event; the run then
	// computes it once into snap (see Observe), so that a run nobody
	// watches never pays for it.
	want     atomic.Bool
	snap     *image.NRGBA
	snapIter int
	snapVer  int // counts snapshots, so that a cached PNG can be matched
	pngBytes []byte
	pngVer   int

	// stepDelay slows every step down (tests that watch a run in a
	// browser); zero in use.
	stepDelay time.Duration

	// units, when set, makes the job a contact sheet of units
	// (pipeline.UnitsTop) instead of a run; it takes the CPU in turn
	// with the runs.
	units *unitsWork
}

// notify wakes everyone waiting on j.changed; j.mu is held.
func (j *job) notify() {
	close(j.changed)
	j.changed = make(chan struct{})
}

// Observe records a run's event; it implements pipeline.Observer.
func (j *job) Observe(ev *pipeline.Event) error {
	if ev.Kind == pipeline.EventIteration && j.stepDelay > 0 {
		time.Sleep(j.stepDelay)
	}
	var img *image.NRGBA
	if j.want.Load() && ev.Kind != pipeline.EventStart {
		img = ev.Image() // on the run's goroutine: ev is only valid now
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if img != nil {
		j.want.Store(false)
		j.snap, j.snapIter = img, ev.Iteration
		j.snapVer++
	}
	j.iterations = ev.Iterations
	switch ev.Kind {
	case pipeline.EventStart:
		j.dir = ev.Dir
		j.terms = slices.Clone(ev.Terms)
		j.iteration, j.startIter, j.runStart = ev.Iteration, ev.Iteration, time.Now()
	case pipeline.EventIteration:
		j.iteration = ev.Iteration
		// A resumed run replays the step its checkpoint holds: keep one
		// row per iteration.
		if n := len(j.iters); n > 0 && j.iters[n-1] >= ev.Iteration {
			break
		}
		j.iters = append(j.iters, ev.Iteration)
		j.history = append(j.history, slices.Clone(ev.Costs))
	}
	j.notify()
	return nil
}

// queue runs jobs one at a time, in the order they were queued.
type queue struct {
	ctx  context.Context
	log  *slog.Logger
	wake chan struct{}
	done chan struct{}

	mu      sync.Mutex
	jobs    []*job
	byID    map[string]*job
	pending []*job
	next    int
	// stepDelay is given to every job (see job.stepDelay).
	stepDelay time.Duration
}

// newQueue starts the queue's worker, which stops when ctx is done.
func newQueue(ctx context.Context, log *slog.Logger) *queue {
	q := &queue{ctx: ctx, log: log, wake: make(chan struct{}, 1), done: make(chan struct{}), byID: map[string]*job{}}
	go q.work()
	return q
}

func (q *queue) wait() { <-q.done }

// add queues a fresh run of cfg and returns its job.
func (q *queue) add(cfg *pipeline.Config) *job {
	return q.enqueue("r", &job{name: filepath.Base(cfg.Output.Dir), cfg: cfg, stepDelay: q.stepDelay})
}

// addResume queues the resumption of the stopped run in folder dir, which
// this server did not start (the gallery's resume).
func (q *queue) addResume(dir string) *job {
	return q.enqueue("r", &job{name: filepath.Base(dir), resume: true, dir: dir, stepDelay: q.stepDelay})
}

// addUnits queues the contact sheet w and returns its job.
func (q *queue) addUnits(w *unitsWork) *job {
	return q.enqueue("u", &job{name: w.label, units: w})
}

// enqueue gives j the next id (prefix and a number) and puts it at the end
// of the waiting line.
func (q *queue) enqueue(prefix string, j *job) *job {
	q.mu.Lock()
	q.next++
	j.id, j.created, j.state, j.changed = fmt.Sprintf("%s%d", prefix, q.next), time.Now(), StateQueued, make(chan struct{})
	q.jobs = append(q.jobs, j)
	q.byID[j.id] = j
	q.pending = append(q.pending, j)
	q.mu.Unlock()
	q.poke()
	return j
}

func (q *queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *queue) get(id string) *job {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.byID[id]
}

func (q *queue) list() []*job {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.jobs)
}

// position returns j's place in the waiting line (0 first), or -1.
func (q *queue) position(j *job) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Index(q.pending, j)
}

// errNotResumable and errNotRunning answer stop and resume at the wrong
// time.
var (
	errNotResumable = errors.New("only a stopped run can be resumed")
	errNotRunning   = errors.New("the run has ended; nothing to stop")
)

// stop stops j: a queued run leaves the queue, a running one is cancelled
// and leaves its checkpoint.
func (q *queue) stop(j *job) error {
	q.mu.Lock()
	if i := slices.Index(q.pending, j); i >= 0 {
		q.pending = slices.Delete(q.pending, i, i+1)
		q.mu.Unlock()
		j.mu.Lock()
		j.state = StateStopped
		j.notify()
		j.mu.Unlock()
		return nil
	}
	q.mu.Unlock()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != StateRunning || j.cancel == nil {
		if j.state == StateStopping {
			return nil
		}
		return errNotRunning
	}
	j.state = StateStopping
	j.cancel()
	j.notify()
	return nil
}

// resume queues a stopped run again: it continues from its checkpoint, or
// starts afresh when it stopped before it had one (a contact sheet always
// does).
func (q *queue) resume(j *job) error {
	j.mu.Lock()
	if j.state != StateStopped {
		j.mu.Unlock()
		return errNotResumable
	}
	j.state = StateQueued
	j.resume = j.dir != ""
	j.errMsg = ""
	j.notify()
	j.mu.Unlock()
	q.mu.Lock()
	q.pending = append(q.pending, j)
	q.mu.Unlock()
	q.poke()
	return nil
}

// work runs the queued jobs one after the other until q.ctx is done.
func (q *queue) work() {
	defer close(q.done)
	for {
		q.mu.Lock()
		var j *job
		if len(q.pending) > 0 {
			j = q.pending[0]
			q.pending = q.pending[1:]
		}
		q.mu.Unlock()
		if j == nil {
			select {
			case <-q.ctx.Done():
				return
			case <-q.wake:
				continue
			}
		}
		q.run(j)
		if q.ctx.Err() != nil {
			return
		}
	}
}

// run runs (or resumes) j, or draws its contact sheet, and records how
// it ended.
func (q *queue) run(j *job) {
	ctx, cancel := context.WithCancel(q.ctx)
	defer cancel()
	j.mu.Lock()
	j.state, j.cancel = StateRunning, cancel
	cfg, resume, dir, units := j.cfg, j.resume, j.dir, j.units
	j.notify()
	j.mu.Unlock()

	opts := pipeline.RunOptions{Observers: []pipeline.Observer{j}}
	var res *pipeline.Result
	var err error
	switch {
	case units != nil:
		q.log.Info("studio: units", "run", j.id, "sheet", units.opts.Sheet)
		if _, err = pipeline.UnitsTop(ctx, units.cfg, units.opts); err == nil {
			res = &pipeline.Result{Dir: filepath.Dir(units.opts.Sheet), Image: units.opts.Sheet}
		}
	case resume:
		q.log.Info("studio: resume", "run", j.id, "dir", dir)
		res, err = pipeline.Resume(ctx, dir, opts)
	default:
		q.log.Info("studio: run", "run", j.id, "dir", cfg.Output.Dir)
		res, err = pipeline.Run(ctx, cfg, opts)
	}

	j.mu.Lock()
	defer j.mu.Unlock()
	j.cancel = nil
	if res != nil {
		j.dir, j.finalImage = res.Dir, res.Image
	}
	switch {
	case err == nil:
		j.state = StateDone
	case errors.Is(err, pipeline.ErrInterrupted) || ctx.Err() != nil:
		j.state = StateStopped
	default:
		j.state, j.errMsg = StateFailed, err.Error()
		q.log.Warn("studio: run failed", "run", j.id, "err", err)
	}
	j.notify()
}

// Status is what the API reports about a run.
type Status struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	State string `json:"state"`
	// Folder is the run's folder, relative to the runs folder ("" before
	// it starts).
	Folder     string `json:"folder"`
	Iteration  int    `json:"iteration"`
	Iterations int    `json:"iterations"`
	// Costs are the latest costs by term (null where not finite).
	Costs map[string]*float64 `json:"costs,omitempty"`
	// Queue is the run's place in the waiting line (0 next), -1 when it
	// is not waiting.
	Queue int    `json:"queue"`
	Error string `json:"error,omitempty"`
	// ElapsedS is the time since this part of the run began; ETAS the
	// estimated time left (0 when unknown).
	ElapsedS float64 `json:"elapsed_s"`
	ETAS     float64 `json:"eta_s"`
	// Image is the URL of the run's current image, with a version that
	// changes with it.
	Image   string    `json:"image"`
	Created time.Time `json:"created"`
	// Kind is "run", or "units" for a contact sheet of units; a sheet's
	// Sheet and Listing are the URLs its files will have once it is done.
	Kind    string `json:"kind"`
	Sheet   string `json:"sheet,omitempty"`
	Listing string `json:"listing,omitempty"`
}

// status describes j; runs is the runs folder. j.mu is held.
func (j *job) status(runs string) Status {
	st := Status{ID: j.id, Name: j.name, State: j.state, Iteration: j.iteration, Iterations: j.iterations,
		Error: j.errMsg, Created: j.created, Queue: -1,
		Image: fmt.Sprintf("/api/runs/%s/image?v=%d", j.id, j.iteration), Kind: "run"}
	if j.units != nil {
		st.Kind, st.Sheet, st.Listing = "units", j.units.url(), j.units.listingURL()
	}
	if j.dir != "" {
		if rel, err := filepath.Rel(runs, j.dir); err == nil {
			st.Folder = filepath.ToSlash(rel)
		}
	}
	if n := len(j.history); n > 0 {
		st.Costs = costMap(j.terms, j.history[n-1])
	}
	if j.state == StateRunning && !j.runStart.IsZero() {
		el := time.Since(j.runStart)
		st.ElapsedS = el.Seconds()
		if done := j.iteration - j.startIter; done > 0 && j.iterations > j.iteration {
			st.ETAS = (el / time.Duration(done) * time.Duration(j.iterations-j.iteration)).Seconds()
		}
	}
	return st
}

// costMap names a row of costs; non-finite values become null, which JSON
// can carry.
func costMap(terms []string, row []float64) map[string]*float64 {
	m := make(map[string]*float64, len(terms))
	for i, t := range terms {
		if i >= len(row) {
			break
		}
		v := row[i]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			m[t] = nil
			continue
		}
		m[t] = &v
	}
	return m
}
