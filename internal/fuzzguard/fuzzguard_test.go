package fuzzguard

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// sink keeps the helper's allocations alive.
var sink [][]byte

// TestHelperProcess is the body TestRunStopsBadInputs runs in a child
// process: a guard that fires ends the process, as in a fuzz worker.
func TestHelperProcess(t *testing.T) {
	l := Limits{Time: 300 * time.Millisecond, Bytes: 8 << 20}
	switch os.Getenv("FUZZGUARD_HELPER") {
	case "":
		t.Skip("run by TestRunStopsBadInputs")
	case "hang":
		Run(t, l, func() { select {} })
	case "grow":
		// Keeps allocating, never finishing on its own.
		Run(t, l, func() {
			for {
				sink = append(sink, make([]byte, 64<<10))
				time.Sleep(time.Millisecond)
			}
		})
	case "burst":
		// Allocates past the bound faster than the watchdog looks.
		Run(t, l, func() { sink = append(sink, make([]byte, 64<<20)) })
	case "fine":
		Run(t, l, func() { sink = append(sink, make([]byte, 1<<20)) })
	}
}

// TestRunStopsBadInputs runs a hanging body, one that keeps allocating and
// one that allocates past the bound in one go, each in a child process,
// and checks that each fails, naming the bound it broke, while a body
// within the bounds passes.
func TestRunStopsBadInputs(t *testing.T) {
	for _, tc := range []struct {
		helper string
		want   string // in the output; "" for a passing run
	}{
		{"hang", "ran longer than its bound of 300ms"},
		{"grow", "over its bound of 8388608"},
		{"burst", "over its bound of 8388608"},
		{"fine", ""},
	} {
		t.Run(tc.helper, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), "FUZZGUARD_HELPER="+tc.helper)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			took := time.Since(start)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("a body within its bounds failed: %v\n%s", err, out)
				}
				return
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("child process: %v, want a failure exit\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output does not say %q:\n%s", tc.want, out)
			}
			// The watchdog fires within its bound and a poll, not at the
			// test binary's timeout.
			if took > 30*time.Second {
				t.Errorf("the child took %v to fail", took)
			}
			if tc.helper == "hang" && !strings.Contains(string(out), "TestHelperProcess") {
				t.Errorf("the report does not show the hanging body's stack:\n%s", out)
			}
		})
	}
}

// TestForScalesWithTheInput checks the default bounds.
func TestForScalesWithTheInput(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want uint64
	}{{0, 256 << 20}, {1 << 20, 256<<20 + 64<<20}} {
		if got := For(tc.n); got.Bytes != tc.want || got.Time != DefaultTime {
			t.Errorf("For(%d) = %+v, want %d bytes and %v", tc.n, got, tc.want, DefaultTime)
		}
	}
}
