package record

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Progress reports how far a run has got.
type Progress interface {
	// Update reports that iteration iter (counted towards the total given
	// at creation) is done and the cost is now cost.
	Update(iter int, cost float64)
	// Finish ends the report; call it once, also when the run stops early.
	Finish()
}

// progressMode chooses how progress is shown.
type progressMode int

// Progress modes.
const (
	// modeAuto draws a bar when the writer is a terminal and logs
	// lines otherwise (a pipe, a file, a CI log).
	modeAuto progressMode = iota
	// modeBar always draws a bar.
	modeBar
	// modeLog always logs lines.
	modeLog
)

// progressOptions controls newProgress.
type progressOptions struct {
	Mode progressMode
	// Every logs a line at least every Every iterations; zero means a
	// tenth of the total. Only for log lines.
	Every int
	// Interval also logs a line when this much time has passed since the
	// last one, so a slow run still shows signs of life; zero means 10 s.
	// Only for log lines.
	Interval time.Duration
	// Logger receives the log lines; nil means a text logger on the writer.
	Logger *slog.Logger
}

// NewProgress reports progress towards total iterations on w: a progress bar
// with iteration/total, cost, iterations per second and estimated time left
// when w is a terminal, else a log line every tenth of the run or every 10 s.
// label names the run in the output.
func NewProgress(w io.Writer, total int, label string) Progress {
	return newProgress(w, total, label, progressOptions{})
}

// newProgress is NewProgress with explicit options.
func newProgress(w io.Writer, total int, label string, o progressOptions) Progress {
	mode := o.Mode
	if mode == modeAuto {
		mode = modeLog
		if isTerminal(w) {
			mode = modeBar
		}
	}
	rate := rateMeter{total: total, now: time.Now}
	if mode == modeBar {
		return newBar(w, total, label, rate)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(w, nil))
	}
	every := o.Every
	if every <= 0 {
		every = max(1, total/10)
	}
	interval := o.Interval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	return &logProgress{logger: logger, label: label, every: every, interval: interval, rate: rate}
}

// isTerminal reports whether w writes to a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// rateMeter measures iterations per second from the first update on, so
// that a resumed run's earlier iterations do not inflate the rate.
type rateMeter struct {
	total     int
	now       func() time.Time
	started   bool
	firstIter int
	firstAt   time.Time
	iter      int
	cost      float64
}

// update records iteration iter, reached at now, and returns the rate (0
// until measurable) and the estimated time left (negative when unknown).
func (m *rateMeter) update(now time.Time, iter int, cost float64) (perSecond float64, left time.Duration) {
	if !m.started {
		m.started, m.firstIter, m.firstAt = true, iter, now
	}
	m.iter, m.cost = iter, cost
	return m.estimate(now)
}

func (m *rateMeter) estimate(now time.Time) (perSecond float64, left time.Duration) {
	elapsed := now.Sub(m.firstAt).Seconds()
	done := m.iter - m.firstIter
	if done <= 0 || elapsed <= 0 {
		return 0, -1
	}
	perSecond = float64(done) / elapsed
	remaining := max(m.total-m.iter, 0)
	return perSecond, time.Duration(float64(remaining) / perSecond * float64(time.Second)).Round(time.Second)
}

// logProgress writes progress as structured log lines.
type logProgress struct {
	logger   *slog.Logger
	label    string
	every    int
	interval time.Duration
	rate     rateMeter
	lastIter int
	lastAt   time.Time
	logged   bool
	finished bool
}

func (p *logProgress) Update(iter int, cost float64) {
	now := p.rate.now()
	perSecond, left := p.rate.update(now, iter, cost)
	if p.logged && iter-p.lastIter < p.every && now.Sub(p.lastAt) < p.interval && iter < p.rate.total {
		return
	}
	p.logged, p.lastIter, p.lastAt = true, iter, now
	attrs := []any{
		slog.String("run", p.label),
		slog.Int("iteration", iter),
		slog.Int("total", p.rate.total),
		slog.Float64("cost", cost),
	}
	if perSecond > 0 {
		attrs = append(attrs, slog.String("rate", fmt.Sprintf("%.3g it/s", perSecond)), slog.Duration("eta", left))
	}
	p.logger.Info("progress", attrs...)
}

func (p *logProgress) Finish() {
	if p.finished {
		return
	}
	p.finished = true
	if !p.rate.started {
		p.logger.Info("progress finished", slog.String("run", p.label), slog.Int("iteration", 0), slog.Int("total", p.rate.total))
		return
	}
	elapsed := p.rate.now().Sub(p.rate.firstAt).Round(time.Millisecond)
	p.logger.Info("progress finished",
		slog.String("run", p.label),
		slog.Int("iteration", p.rate.iter),
		slog.Int("total", p.rate.total),
		slog.Float64("cost", p.rate.cost),
		slog.Duration("elapsed", elapsed))
}

// barRedraw is how often the bar is redrawn at most: a few times a second
// looks smooth and keeps terminal writes out of fast loops.
const barRedraw = 100 * time.Millisecond

// barProgress draws a progress bar. The library shows the bar and the
// iteration count; cost, rate and time left go in the description because
// the library's own rate counts a resumed run's starting point as progress.
type barProgress struct {
	bar      *progressbar.ProgressBar
	w        io.Writer
	label    string
	rate     rateMeter
	drawn    bool
	drawnAt  time.Time
	finished bool
}

func newBar(w io.Writer, total int, label string, rate rateMeter) *barProgress {
	b := &barProgress{w: w, label: label, rate: rate}
	b.bar = progressbar.NewOptions(max(total, 1),
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(label),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetWidth(30),
	)
	return b
}

func (b *barProgress) Update(iter int, cost float64) {
	now := b.rate.now()
	b.rate.update(now, iter, cost)
	if b.drawn && now.Sub(b.drawnAt) < barRedraw && iter < b.rate.total {
		return
	}
	b.drawn, b.drawnAt = true, now
	b.draw(now)
}

// draw shows the latest state. The library throttles nothing here (its
// throttle would drop the second of the two redraws below), so Update does.
func (b *barProgress) draw(now time.Time) {
	desc := b.label
	if b.rate.started {
		desc = fmt.Sprintf("%s  cost %.4g", b.label, b.rate.cost)
		if perSecond, left := b.rate.estimate(now); perSecond > 0 {
			desc += fmt.Sprintf("  %.3g it/s  ETA %s", perSecond, left)
		}
	}
	b.bar.Set(min(max(b.rate.iter, 0), b.bar.GetMax()))
	b.bar.Describe(desc)
}

func (b *barProgress) Finish() {
	if b.finished {
		return
	}
	b.finished = true
	b.draw(b.rate.now())
	if b.rate.iter < b.rate.total {
		// Stopped early: keep the bar where it is rather than fill it.
		b.bar.Exit()
	} else {
		b.bar.Finish()
	}
	fmt.Fprintln(b.w)
}
