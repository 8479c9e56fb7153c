package record

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// manualClock is a clock that moves only when the test advances it.
type manualClock struct{ t time.Time }

func (c *manualClock) Now() time.Time { return c.t }

// quietTime drops the time attribute so that log lines are deterministic.
func quietTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && len(groups) == 0 {
		return slog.Attr{}
	}
	return a
}

func TestLogProgress(t *testing.T) {
	tests := []struct {
		name      string
		opts      progressOptions
		first     int // first iteration reported (a resumed run starts later)
		last      int // last iteration reported before Finish
		step      time.Duration
		wantLines []string
	}{
		{
			name: "every tenth of the run", first: 1, last: 30, step: 500 * time.Millisecond,
			wantLines: []string{
				`level=INFO msg=progress run=cat iteration=1 total=30 cost=1000`,
				`level=INFO msg=progress run=cat iteration=4 total=30 cost=250 rate="2 it/s" eta=13s`,
				`level=INFO msg=progress run=cat iteration=7 total=30 cost=142.85714285714286 rate="2 it/s" eta=12s`,
			},
		},
		{
			name: "time interval", opts: progressOptions{Every: 1000, Interval: 2 * time.Second}, first: 1, last: 12, step: 500 * time.Millisecond,
			wantLines: []string{
				`iteration=1 `,
				`iteration=5 `,
				`iteration=9 `,
				`level=INFO msg="progress finished" run=cat iteration=12 total=30 cost=83.33333333333333 elapsed=5.5s`,
			},
		},
		{
			name: "resumed run measures its own rate", opts: progressOptions{Every: 5}, first: 20, last: 30, step: time.Second,
			wantLines: []string{
				`iteration=20 total=30 cost=50$`,
				`iteration=25 total=30 cost=40 rate="1 it/s" eta=5s`,
				`iteration=30 total=30 cost=33.333333333333336 rate="1 it/s" eta=0s`,
				`msg="progress finished" run=cat iteration=30 total=30 cost=33.333333333333336 elapsed=10s`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			o := tc.opts
			o.Mode = modeLog
			o.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: quietTime}))
			p := newProgress(&buf, 30, "cat", o)
			clock := &manualClock{t: time.Unix(0, 0)}
			p.(*logProgress).rate.now = clock.Now
			for i := tc.first; i <= tc.last; i++ {
				if i > tc.first {
					clock.t = clock.t.Add(tc.step)
				}
				p.Update(i, 1000/float64(i))
			}
			p.Finish()
			p.Finish() // a second Finish writes nothing
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			for _, want := range tc.wantLines {
				if !containsLine(lines, want) {
					t.Errorf("no line matches %q in\n%s", want, buf.String())
				}
			}
			if got := strings.Count(buf.String(), "progress finished"); got != 1 {
				t.Errorf("%d finish lines, want 1", got)
			}
		})
	}
}

// containsLine reports whether a line contains want, or ends with it when
// want ends in '$'.
func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if w, ok := strings.CutSuffix(want, "$"); ok {
			if strings.HasSuffix(l, w) {
				return true
			}
		} else if strings.Contains(l, want) {
			return true
		}
	}
	return false
}

func TestLogProgressLineCount(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, 100, "run", progressOptions{Mode: modeLog, Interval: time.Hour})
	for i := 1; i <= 100; i++ {
		p.Update(i, 1)
	}
	p.Finish()
	// Iterations 1, 11, 21, ..., 91, then 100 (the last), then the summary.
	if got := strings.Count(buf.String(), "msg=progress "); got != 11 {
		t.Errorf("%d progress lines, want 11:\n%s", got, buf.String())
	}
	if !strings.Contains(buf.String(), "iteration=91 ") || !strings.Contains(buf.String(), "iteration=100 ") {
		t.Errorf("missing iteration 91 or 100:\n%s", buf.String())
	}
}

func TestProgressAutoMode(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tests := []struct {
		name string
		p    Progress
	}{
		{"buffer", NewProgress(&bytes.Buffer{}, 10, "x")},
		{"regular file", NewProgress(f, 10, "x")},
	}
	for _, tc := range tests {
		if _, ok := tc.p.(*logProgress); !ok {
			t.Errorf("%s: got %T, want log lines for a non-terminal", tc.name, tc.p)
		}
	}
	if _, ok := newProgress(&bytes.Buffer{}, 10, "x", progressOptions{Mode: modeBar}).(*barProgress); !ok {
		t.Error("modeBar did not give a bar")
	}
}

func TestBarProgress(t *testing.T) {
	tests := []struct {
		name    string
		last    int
		want    []string
		notWant []string
	}{
		{
			name: "completed",
			last: 50,
			want: []string{"style-run", "50/50", "100%", "cost 20", "it/s"},
		},
		{
			name:    "interrupted keeps the bar where it stopped",
			last:    20,
			want:    []string{"20/50", "40%", "cost 50", " 2 it/s", "ETA 15s"},
			notWant: []string{"50/50", "100%"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			p := newProgress(&buf, 50, "style-run", progressOptions{Mode: modeBar})
			clock := &manualClock{t: time.Unix(0, 0)}
			p.(*barProgress).rate.now = clock.Now
			for i := 0; i <= tc.last; i++ {
				clock.t = clock.t.Add(500 * time.Millisecond)
				p.Update(i, 1000/float64(max(i, 1)))
			}
			p.Finish()
			out := buf.String()
			// The bar redraws in place with carriage returns; the final
			// state is the last segment.
			segs := strings.Split(strings.TrimRight(out, "\n"), "\r")
			final := segs[len(segs)-1]
			for _, w := range tc.want {
				if !strings.Contains(final, w) {
					t.Errorf("final bar %q lacks %q", final, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(final, w) {
					t.Errorf("final bar %q contains %q", final, w)
				}
			}
			if !strings.HasSuffix(out, "\n") {
				t.Error("Finish did not end the bar's line")
			}
		})
	}
}
