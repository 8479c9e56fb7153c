package pipeline

import (
	"image"
	"time"

	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/record"
)

// EventKind says what happened in a run.
type EventKind int

// The events of a run, in the order they come: one EventStart, then
// EventIteration after every accepted step, EventScale where a
// coarse-to-fine run moves to its next size, and one EventFinish.
const (
	// EventStart: the run is prepared and about to take its first step
	// (or, resumed, its first step after the checkpoint).
	EventStart EventKind = iota
	// EventIteration: a step was accepted; Costs describe the image.
	EventIteration
	// EventScale: the run moved to scale Scale; Width and Height are its.
	EventScale
	// EventFinish: the run ended; Err says why it ended early, if it did.
	EventFinish
)

func (k EventKind) String() string {
	switch k {
	case EventStart:
		return "start"
	case EventIteration:
		return "iteration"
	case EventScale:
		return "scale"
	case EventFinish:
		return "finish"
	}
	return "unknown"
}

// Event is what a run reports to its observers. The same value is reused
// from one event to the next: an observer that keeps something copies it.
type Event struct {
	Kind EventKind
	// Dir is the run's folder.
	Dir string
	// Iteration is the number of steps taken in the whole run; Iterations
	// the number planned.
	Iteration, Iterations int
	// Scale is the index of the current scale, Scales their number (1 for
	// a run at one size); ScaleIteration counts the steps taken at this
	// scale, ScaleIterations those planned for it.
	Scale, Scales                   int
	ScaleIteration, ScaleIterations int
	// Width and Height are the image's size at the current scale.
	Width, Height int
	// Terms names the cost terms and Costs holds their values after the
	// last step (see costs.csv); Cost is the total J.
	Terms []string
	Costs []float64
	Cost  float64
	// Elapsed is the time since the first step of this process.
	Elapsed time.Duration
	// Err, at EventFinish, is why the run stopped early (nil when it
	// completed).
	Err error
	// Timing adds up where evaluation time went since the run started in
	// this process.
	Timing Timing
	// Info describes the prepared run at the current scale.
	Info *RunInfo

	e *experiment
	x []float32
}

// Timing splits the time of a run's evaluations.
type Timing struct {
	// Forward and Backward are the network's passes in ONNX Runtime;
	// Costs the content, style and total-variation costs and gradients.
	Forward, Costs, Backward time.Duration
	// Evaluations counts the evaluations (an L-BFGS step may take more
	// than one).
	Evaluations int
}

// RunInfo describes a prepared run at its current scale.
type RunInfo struct {
	// Startup divides the time from the start to the first scale's
	// targets.
	Startup StartupSplit
	// EstimatedPeak is the peak memory estimated for the largest scale, in
	// bytes.
	EstimatedPeak int64
	// GraphCached says the current scale's sessions came from the graph
	// cache.
	GraphCached bool
	// EvalFLOPs counts one evaluation's floating-point operations at the
	// current scale: the convolutions forward and backward and the Gram
	// products of the style costs and their gradients.
	EvalFLOPs int64
	// Tiling describes the current scale's tiled evaluation; nil when the
	// scale is evaluated whole.
	Tiling *record.Tiling
}

// Image returns the image the run holds now, as it would be saved (colour
// mode applied, clamped to [0,1]; an audio run's spectrogram picture). It is computed on each call.
func (ev *Event) Image() *image.NRGBA {
	if ev.e == nil || ev.x == nil {
		return nil
	}
	if ev.e.audio != nil {
		return ev.e.spectrogramImage(ev.x)
	}
	if ev.e.volume != nil {
		return ev.e.volumeImage(ev.x)
	}
	return imageio.FromTensor(ev.e.color.result(ev.x), ev.Width, ev.Height)
}

// Observer receives a run's events. An error returned from an observer
// stops the run as a failed write would: the run saves its last image and
// a checkpoint, and returns the error.
type Observer interface {
	Observe(ev *Event) error
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(ev *Event) error

// Observe calls f(ev).
func (f ObserverFunc) Observe(ev *Event) error { return f(ev) }

// observers sends each event to every observer in turn, stopping at the
// first error.
type observers []Observer

func (obs observers) Observe(ev *Event) error {
	for _, o := range obs {
		if err := o.Observe(ev); err != nil {
			return err
		}
	}
	return nil
}
