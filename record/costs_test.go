package record

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeClock advances by step every time it is read.
type fakeClock struct {
	t    time.Time
	step time.Duration
}

func (c *fakeClock) Now() time.Time {
	now := c.t
	c.t = c.t.Add(c.step)
	return now
}

var testTerms = []string{"content:relu4_2", "style:relu1_1", "tv", "total"}

func newTestLog(t *testing.T, path string) *CostLog {
	t.Helper()
	l, err := CreateCostLog(path, testTerms)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Unix(1000, 0), step: 1500 * time.Millisecond}
	l.start, l.now = clock.Now(), clock.Now
	return l
}

func TestCostLogWritesRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), CostsCSVName)
	l := newTestLog(t, path)
	rows := []struct {
		iter  int
		costs []float64
	}{
		{0, []float64{12.5, 3e6, 0.25, 3000012.75}},
		{1, []float64{0.1, 1e-300, 0, math.NaN()}},
		{5, []float64{1.0 / 3, -2, math.Inf(1), 7}},
	}
	want := "iteration,content:relu4_2,style:relu1_1,tv,total,seconds\n"
	lines := []string{
		"0,12.5,3e+06,0.25,3.00001275e+06,1.500\n",
		"1,0.1,1e-300,0,NaN,3.000\n",
		"5,0.3333333333333333,-2,+Inf,7,4.500\n",
	}
	for i, r := range rows {
		if err := l.Append(r.iter, r.costs); err != nil {
			t.Fatal(err)
		}
		want += lines[i]
		// Each row must be on disk before the next Append: a crash loses
		// at most the row being written.
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Fatalf("after row %d file is\n%s\nwant\n%s", i, got, want)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	table, err := ReadCosts(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(table.Terms, testTerms) {
		t.Errorf("terms = %q, want %q", table.Terms, testTerms)
	}
	if !slices.Equal(table.Iterations, []int{0, 1, 5}) {
		t.Errorf("iterations = %v", table.Iterations)
	}
	if !slices.Equal(table.Seconds, []float64{1.5, 3, 4.5}) {
		t.Errorf("seconds = %v", table.Seconds)
	}
	for i, r := range rows {
		for j, v := range r.costs {
			got := table.Values[i][j]
			if got != v && !(math.IsNaN(got) && math.IsNaN(v)) {
				t.Errorf("row %d term %d = %v, want %v (exact round trip)", i, j, got, v)
			}
		}
	}
	tv, ok := table.Column("tv")
	if !ok || !slices.Equal(tv, []float64{0.25, 0, math.Inf(1)}) {
		t.Errorf("Column(tv) = %v, %v", tv, ok)
	}
	if _, ok := table.Column("nope"); ok {
		t.Error("Column(nope) reported a column")
	}
}

func TestCostLogAppendErrors(t *testing.T) {
	l := newTestLog(t, filepath.Join(t.TempDir(), CostsCSVName))
	defer l.Close()
	if err := l.Append(3, []float64{1, 2, 3, 6}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		iter  int
		costs []float64
		want  string
	}{
		{"too few costs", 4, []float64{1}, "1 costs for 4 terms"},
		{"repeated iteration", 3, []float64{1, 2, 3, 6}, "iteration 3 after 3"},
		{"going back", 2, []float64{1, 2, 3, 6}, "iteration 2 after 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := l.Append(tc.iter, tc.costs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestCostLogTermNames(t *testing.T) {
	tests := []struct {
		name  string
		terms []string
		ok    bool
	}{
		{"valid", []string{"content:relu4_2", "style", "total"}, true},
		{"none", nil, false},
		{"empty name", []string{"a", ""}, false},
		{"comma", []string{"a,b"}, false},
		{"quote", []string{`a"`}, false},
		{"newline", []string{"a\nb"}, false},
		{"reserved iteration", []string{"iteration"}, false},
		{"reserved seconds", []string{"seconds"}, false},
		{"duplicate", []string{"tv", "tv"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := CreateCostLog(filepath.Join(t.TempDir(), "c.csv"), tc.terms)
			if (err == nil) != tc.ok {
				t.Fatalf("CreateCostLog(%q) error = %v, want ok=%v", tc.terms, err, tc.ok)
			}
			if l != nil {
				l.Close()
			}
		})
	}
}

func TestResumeCostLog(t *testing.T) {
	const head = "iteration,content:relu4_2,style:relu1_1,tv,total,seconds\n"
	const rows = "0,1,2,3,6,0.500\n" +
		"10,1,2,3,6,5.000\n" +
		"20,1,2,3,6,10.000\n"
	tests := []struct {
		name     string
		file     string
		terms    []string
		lastIter int
		wantErr  string
		wantKept string // the file's rows after the resumed log appends iteration lastIter+1
	}{
		{
			name: "continues after all rows", file: head + rows, lastIter: 20,
			wantKept: rows + "21,9,9,9,9,11.500\n",
		},
		{
			name: "drops rows after the checkpoint", file: head + rows, lastIter: 10,
			wantKept: "0,1,2,3,6,0.500\n10,1,2,3,6,5.000\n11,9,9,9,9,6.500\n",
		},
		{
			name: "drops a partial row from a crash", file: head + rows + "30,1,2", lastIter: 100,
			wantKept: rows + "101,9,9,9,9,11.500\n",
		},
		{
			name: "header only", file: head, lastIter: 0,
			wantKept: "1,9,9,9,9,1.500\n",
		},
		{
			name: "checkpoint before every row", file: head + rows, lastIter: -1,
			wantKept: "0,9,9,9,9,1.500\n",
		},
		{
			name: "different terms", file: head + rows, terms: []string{"content", "style", "tv", "total"},
			wantErr: "does not match",
		},
		{
			name: "damaged row", file: head + "0,1,2,3,6,0.5\n1,1,x,3,6,1\n", lastIter: 5,
			wantErr: "line 3",
		},
		{
			name: "wrong field count", file: head + "0,1,2,0.5\n", lastIter: 5,
			wantErr: "4 fields, want 6",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), CostsCSVName)
			if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
			terms := tc.terms
			if terms == nil {
				terms = testTerms
			}
			l, err := ResumeCostLog(path, terms, tc.lastIter)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				if got, _ := os.ReadFile(path); string(got) != tc.file {
					t.Error("a refused resume changed the file")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			clock := &fakeClock{t: time.Unix(0, 0), step: 1500 * time.Millisecond}
			l.start, l.now = clock.Now(), clock.Now
			if err := l.Append(max(tc.lastIter, -1)+1, []float64{9, 9, 9, 9}); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if want := head + tc.wantKept; string(got) != want {
				t.Errorf("file is\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestResumeCostLogMissing(t *testing.T) {
	if _, err := ResumeCostLog(filepath.Join(t.TempDir(), "none.csv"), testTerms, 3); err == nil {
		t.Fatal("resumed a missing log")
	}
}

func TestReadCostsIgnoresPartialRow(t *testing.T) {
	path := filepath.Join(t.TempDir(), CostsCSVName)
	if err := os.WriteFile(path, []byte("iteration,total,seconds\n0,5,0.1\n1,4"), 0o644); err != nil {
		t.Fatal(err)
	}
	table, err := ReadCosts(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(table.Iterations) != 1 || table.Values[0][0] != 5 {
		t.Errorf("table = %+v, want the one complete row", table)
	}
}

func TestCostLogAppendDoesNotAllocate(t *testing.T) {
	l := newTestLog(t, filepath.Join(t.TempDir(), CostsCSVName))
	defer l.Close()
	l.now = time.Now
	costs := []float64{1.2345678901234567, 2e10, 3.5e-7, 12345.678}
	iter := 0
	allocs := testing.AllocsPerRun(100, func() {
		iter++
		if err := l.Append(iter, costs); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Append allocates %v times per row, want 0", allocs)
	}
}

func BenchmarkCostLogAppend(b *testing.B) {
	l, err := CreateCostLog(filepath.Join(b.TempDir(), CostsCSVName), testTerms)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	costs := []float64{1.2345678901234567, 2e10, 3.5e-7, 12345.678}
	b.ReportAllocs()
	iter := 0
	for b.Loop() {
		iter++
		if err := l.Append(iter, costs); err != nil {
			b.Fatal(err)
		}
	}
}
