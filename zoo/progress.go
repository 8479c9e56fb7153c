package zoo

import (
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/term"
)

// Progress cadence: a terminal bar is redrawn a few times a second (smooth
// without flooding the terminal); a log gets a line per tenth of the file
// or every logEvery, whichever comes first, so a slow download still shows
// signs of life without filling a CI log.
const (
	barRedraw = 200 * time.Millisecond
	logEvery  = 10 * time.Second
	barWidth  = 24
)

// meter shows a download's progress and the fetcher's messages on w: a bar
// redrawn in place (bytes, percentage, rate, time left) when w is a
// terminal, plain lines otherwise. It is used by one goroutine at a time;
// write errors are ignored, as progress is only a courtesy.
type meter struct {
	w     io.Writer
	bar   bool
	label string // the file name
	total int64
	now   func() time.Time

	done    int64     // bytes of the file on disk so far
	got     int64     // bytes received by this fetch, for the rate
	started bool      // the rate clock runs
	firstAt time.Time // when it started

	drawn     bool // a bar is on screen, so a message needs a new line first
	drawnAt   time.Time
	loggedAt  time.Time
	loggedPct int64 // the tenth of the file last logged
}

// newMeter returns a meter for a file of total bytes called label, drawing
// a bar when w is a terminal. A nil w shows nothing.
func newMeter(w io.Writer, label string, total int64) *meter {
	if w == nil {
		w = io.Discard
	}
	return &meter{w: w, bar: isTerminal(w), label: label, total: total, now: time.Now}
}

// isTerminal reports whether w writes to a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// printf writes a message line, below the bar if one is drawn.
func (m *meter) printf(format string, args ...any) {
	if m.drawn {
		fmt.Fprintln(m.w)
		m.drawn = false
	}
	fmt.Fprintf(m.w, "zoo: "+format+"\n", args...)
}

// start begins (or, after a cut, continues) a transfer with have bytes
// already on disk. The rate counts only what this fetch receives, so a
// resumed download does not claim the earlier bytes as speed.
func (m *meter) start(have int64) {
	if !m.started {
		m.started, m.firstAt = true, m.now()
		m.loggedAt = m.firstAt
	}
	m.done = have
	m.loggedPct = m.tenth()
}

// add records n more bytes written and shows them when it is time to.
func (m *meter) add(n int) {
	m.done += int64(n)
	m.got += int64(n)
	now := m.now()
	if m.bar {
		if !m.drawn || now.Sub(m.drawnAt) >= barRedraw || m.done >= m.total {
			m.draw(now)
		}
		return
	}
	if t := m.tenth(); t > m.loggedPct || now.Sub(m.loggedAt) >= logEvery {
		m.loggedPct, m.loggedAt = t, now
		fmt.Fprintf(m.w, "zoo: %s: %s\n", m.label, m.status(now, " of ", ", "))
	}
}

// finish ends the bar's line, so that what follows starts on its own.
func (m *meter) finish() {
	if m.drawn {
		m.draw(m.now())
		fmt.Fprintln(m.w)
		m.drawn = false
	}
}

// tenth is the number of whole tenths of the file done.
func (m *meter) tenth() int64 {
	if m.total <= 0 {
		return 0
	}
	return m.done * 10 / m.total
}

// draw redraws the bar in place.
func (m *meter) draw(now time.Time) {
	filled := 0
	if m.total > 0 {
		filled = int(min(m.done, m.total) * barWidth / m.total)
	}
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", barWidth-filled)
	// \r returns to the line's start and ESC[K clears what a longer
	// previous line left behind.
	fmt.Fprintf(m.w, "\r%s [%s] %s\x1b[K", m.label, bar, m.status(now, "/", "  "))
	m.drawn, m.drawnAt = true, now
}

// status formats bytes done and total, the percentage, and, once it can
// be measured, the rate and time left: "1.5 MiB of 4.0 MiB (37%), 2.0
// MiB/s, ETA 1s" with of=" of " and sep=", ".
func (m *meter) status(now time.Time, of, sep string) string {
	pct := int64(0)
	if m.total > 0 {
		pct = min(m.done, m.total) * 100 / m.total
	}
	s := fmt.Sprintf("%s%s%s (%d%%)", formatBytes(m.done), of, formatBytes(m.total), pct)
	elapsed := now.Sub(m.firstAt).Seconds()
	if m.got > 0 && elapsed > 0 {
		rate := float64(m.got) / elapsed
		left := time.Duration(float64(max(m.total-m.done, 0)) / rate * float64(time.Second)).Round(time.Second)
		s += fmt.Sprintf("%s%s/s%sETA %s", sep, formatBytes(int64(rate)), sep, left)
	}
	return s
}

// formatBytes writes n in B, KiB, MiB or GiB with one decimal.
func formatBytes(n int64) string {
	const k = 1024
	switch {
	case n < k:
		return fmt.Sprintf("%d B", n)
	case n < k*k:
		return fmt.Sprintf("%.1f KiB", float64(n)/k)
	case n < k*k*k:
		return fmt.Sprintf("%.1f MiB", float64(n)/(k*k))
	default:
		return fmt.Sprintf("%.1f GiB", float64(n)/(k*k*k))
	}
}
