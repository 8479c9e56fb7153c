package record

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nst-project/nst/internal/safefile"
)

// Fixed columns around the cost terms in a cost log.
const (
	iterationColumn = "iteration"
	secondsColumn   = "seconds"
)

// CostLog appends one CSV row per iteration to a cost log: the iteration, one
// column per cost term, and the seconds since the log was started. Each row
// reaches the operating system in a single write, so a crash loses at most
// the row being written. A CostLog is not safe for concurrent use.
type CostLog struct {
	f        *os.File
	path     string
	terms    int
	lastIter int
	haveRows bool
	start    time.Time
	offset   float64 // seconds recorded before this log was (re)opened
	row      []byte  // reused so that Append does not allocate
	now      func() time.Time
}

// CreateCostLog starts a cost log at path, replacing any file there, with
// the header "iteration,<terms...>,seconds". Term names must be non-empty,
// distinct, free of commas, quotes and line breaks, and must not be
// "iteration" or "seconds".
func CreateCostLog(path string, terms []string) (*CostLog, error) {
	if err := checkTerms(terms); err != nil {
		return nil, fmt.Errorf("create cost log %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create cost log: %w", err)
	}
	if _, err := f.WriteString(header(terms)); err != nil {
		f.Close()
		return nil, fmt.Errorf("create cost log %s: %w", path, err)
	}
	return newCostLog(f, path, len(terms), 0), nil
}

// ResumeCostLog reopens the cost log at path to continue a run that resumes
// after iteration lastIter. The header must name exactly terms, in order.
// Rows after lastIter (written after the checkpoint the run resumes from) and
// a partial last row left by a crash are cut off. The seconds column
// continues from the last kept row.
func ResumeCostLog(path string, terms []string, lastIter int) (*CostLog, error) {
	if err := checkTerms(terms); err != nil {
		return nil, fmt.Errorf("resume cost log %s: %w", path, err)
	}
	// The log is read whole: it must be a regular file within
	// safefile.MaxCostLogBytes (checked before the open, so that a named
	// pipe cannot block it, and on the opened file).
	if _, err := safefile.StatFile(path, safefile.MaxCostLogBytes); err != nil {
		return nil, fmt.Errorf("resume cost log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("resume cost log: %w", err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() || st.Size() > safefile.MaxCostLogBytes {
		f.Close()
		if err == nil {
			_, err = safefile.StatFile(path, safefile.MaxCostLogBytes)
		}
		return nil, fmt.Errorf("resume cost log: %w", err)
	}
	l, err := resume(f, path, terms, lastIter)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("resume cost log %s: %w", path, err)
	}
	return l, nil
}

func resume(f *os.File, path string, terms []string, lastIter int) (*CostLog, error) {
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	want := header(terms)
	if !bytes.HasPrefix(data, []byte(want)) {
		first, _, _ := strings.Cut(string(data), "\n")
		return nil, fmt.Errorf("header %q does not match this run's cost terms %q", first, strings.TrimSuffix(want, "\n"))
	}
	keep := len(want)
	var kept row
	for rest := data[keep:]; len(rest) > 0; {
		line, after, complete := bytes.Cut(rest, []byte("\n"))
		if !complete {
			break // a partial row from a crash
		}
		r, err := parseRow(line, len(terms))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", bytes.Count(data[:keep], []byte("\n"))+1, err)
		}
		if r.iter > lastIter {
			break
		}
		kept = r
		keep += len(line) + 1
		rest = after
	}
	if err := f.Truncate(int64(keep)); err != nil {
		return nil, err
	}
	if _, err := f.Seek(int64(keep), io.SeekStart); err != nil {
		return nil, err
	}
	l := newCostLog(f, path, len(terms), kept.seconds)
	if keep > len(want) {
		l.lastIter, l.haveRows = kept.iter, true
	}
	return l, nil
}

func newCostLog(f *os.File, path string, terms int, offset float64) *CostLog {
	return &CostLog{
		f:      f,
		path:   path,
		terms:  terms,
		start:  time.Now(),
		offset: offset,
		row:    make([]byte, 0, 32+24*terms),
		now:    time.Now,
	}
}

// Append writes the row for iteration iter with costs in the order of the
// log's terms. Iterations must increase from row to row.
func (l *CostLog) Append(iter int, costs []float64) error {
	if len(costs) != l.terms {
		return fmt.Errorf("append to cost log %s: %d costs for %d terms", l.path, len(costs), l.terms)
	}
	if l.haveRows && iter <= l.lastIter {
		return fmt.Errorf("append to cost log %s: iteration %d after %d", l.path, iter, l.lastIter)
	}
	seconds := l.offset + l.now().Sub(l.start).Seconds()
	b := strconv.AppendInt(l.row[:0], int64(iter), 10)
	for _, c := range costs {
		b = append(b, ',')
		// Shortest representation that parses back to the same float64.
		b = strconv.AppendFloat(b, c, 'g', -1, 64)
	}
	b = append(b, ',')
	b = strconv.AppendFloat(b, seconds, 'f', 3, 64)
	b = append(b, '\n')
	l.row = b
	if _, err := l.f.Write(b); err != nil {
		return fmt.Errorf("append to cost log %s: %w", l.path, err)
	}
	l.lastIter, l.haveRows = iter, true
	return nil
}

// Close flushes the log to stable storage and closes it.
func (l *CostLog) Close() error {
	err := l.f.Sync()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("close cost log %s: %w", l.path, err)
	}
	return nil
}

// CostTable is a cost log read back into memory.
type CostTable struct {
	Terms      []string    // cost term names, in column order
	Iterations []int       // one per row
	Seconds    []float64   // one per row
	Values     [][]float64 // Values[row][term]
}

// Column returns the values of the named term, one per row, and whether the
// table has that term.
func (t *CostTable) Column(term string) ([]float64, bool) {
	j := slices.Index(t.Terms, term)
	if j < 0 {
		return nil, false
	}
	col := make([]float64, len(t.Values))
	for i, row := range t.Values {
		col[i] = row[j]
	}
	return col, true
}

// ReadCosts reads the cost log at path. A partial last row (from a crash) is
// ignored.
func ReadCosts(path string) (*CostTable, error) {
	data, err := safefile.ReadFile(path, safefile.MaxCostLogBytes)
	if err != nil {
		return nil, fmt.Errorf("read cost log: %w", err)
	}
	t, err := parseCosts(data)
	if err != nil {
		return nil, fmt.Errorf("read cost log %s: %w", path, err)
	}
	return t, nil
}

func parseCosts(data []byte) (*CostTable, error) {
	head, rest, ok := bytes.Cut(data, []byte("\n"))
	if !ok {
		return nil, errors.New("no header line")
	}
	cols := strings.Split(string(head), ",")
	if len(cols) < 2 || cols[0] != iterationColumn || cols[len(cols)-1] != secondsColumn {
		return nil, fmt.Errorf("header %q is not iteration,<terms...>,seconds", head)
	}
	t := &CostTable{Terms: cols[1 : len(cols)-1]}
	for n := 2; len(rest) > 0; n++ {
		line, after, complete := bytes.Cut(rest, []byte("\n"))
		if !complete {
			break
		}
		r, err := parseRow(line, len(t.Terms))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		t.Iterations = append(t.Iterations, r.iter)
		t.Seconds = append(t.Seconds, r.seconds)
		t.Values = append(t.Values, r.costs)
		rest = after
	}
	return t, nil
}

// row is one parsed line of a cost log.
type row struct {
	iter    int
	costs   []float64
	seconds float64
}

func parseRow(line []byte, terms int) (row, error) {
	fields := strings.Split(string(line), ",")
	if len(fields) != terms+2 {
		return row{}, fmt.Errorf("%d fields, want %d", len(fields), terms+2)
	}
	iter, err := strconv.Atoi(fields[0])
	if err != nil {
		return row{}, fmt.Errorf("iteration: %w", err)
	}
	r := row{iter: iter, costs: make([]float64, terms)}
	for j := range terms {
		if r.costs[j], err = strconv.ParseFloat(fields[1+j], 64); err != nil {
			return row{}, fmt.Errorf("cost: %w", err)
		}
	}
	if r.seconds, err = strconv.ParseFloat(fields[terms+1], 64); err != nil || math.IsNaN(r.seconds) {
		return row{}, fmt.Errorf("seconds %q is not a number", fields[terms+1])
	}
	return r, nil
}

func header(terms []string) string {
	return iterationColumn + "," + strings.Join(terms, ",") + "," + secondsColumn + "\n"
}

func checkTerms(terms []string) error {
	if len(terms) == 0 {
		return errors.New("no cost terms")
	}
	seen := make(map[string]bool, len(terms))
	for _, t := range terms {
		switch {
		case t == "":
			return errors.New("empty cost term name")
		case strings.ContainsAny(t, ",\"\r\n"):
			return fmt.Errorf("cost term name %q contains a comma, quote or line break", t)
		case t == iterationColumn || t == secondsColumn:
			return fmt.Errorf("cost term name %q is reserved", t)
		case seen[t]:
			return fmt.Errorf("cost term %q appears twice", t)
		}
		seen[t] = true
	}
	return nil
}
