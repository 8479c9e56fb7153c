// Package fuzzguard bounds the time and memory one fuzz input may take, so
// that an input that hangs or exhausts memory is a finding rather than a
// fuzzing run that times out or a worker the kernel kills.
//
// A fuzz function wraps its body:
//
//	f.Fuzz(func(t *testing.T, data []byte) {
//		fuzzguard.Run(t, fuzzguard.For(len(data)), func() {
//			... the body, calling t.Fatal as usual ...
//		})
//	})
//
// The body runs on the test's goroutine, so t.Fatal works in it. A
// watchdog goroutine samples the bytes the process has allocated since the
// body began; past the time or the allocation bound it panics, which ends
// the process: the fuzz engine records the input as a crasher (written to
// testdata/fuzz/<target>/), and plain go test, replaying that input as a
// seed, fails the same way. After the body returns, Run checks the
// allocation bound once more and fails the test with t.Fatalf.
//
// The bound counts every goroutine's allocations while the body runs,
// including those the body starts; a fuzz worker runs one input at a
// time, so they are the input's. Memory allocated outside Go's heap (by C
// code) is not counted.
package fuzzguard

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

// Limits bound one fuzz input.
type Limits struct {
	// Time is the most the body may run.
	Time time.Duration
	// Bytes is the most the body may allocate on Go's heap, in total
	// (memory freed during the body counts too).
	Bytes uint64
}

// DefaultTime is the time bound For gives. The inputs of nst's fuzz targets
// are parsed in milliseconds; the bound leaves room for the fuzzer's
// instrumentation, the race detector and a loaded machine.
const DefaultTime = 5 * time.Second

// For returns the default limits for an input of n bytes: DefaultTime, and
// 256 MiB plus 64 bytes per input byte (parsers that refuse declared sizes
// before allocating them stay far below).
func For(n int) Limits {
	return Limits{Time: DefaultTime, Bytes: 256<<20 + 64*uint64(n)}
}

// pollInterval is how often the watchdog reads the allocation count.
const pollInterval = 5 * time.Millisecond

// allocsMetric is the cumulative count of bytes allocated on the heap.
const allocsMetric = "/gc/heap/allocs:bytes"

// allocated returns the bytes the process has allocated on the heap so far.
func allocated() uint64 {
	s := []metrics.Sample{{Name: allocsMetric}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// Run runs body under l: past l.Time, or past l.Bytes allocated while it
// runs, the process panics with the test's name, what was exceeded and
// every goroutine's stack.
func Run(t testing.TB, l Limits, body func()) {
	t.Helper()
	start := allocated()
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		watch(t.Name(), l, start, done)
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			close(done)
			<-exited
		}
	}
	defer stop() // when body calls t.Fatal
	body()
	stop()
	if used := allocated() - start; used > l.Bytes {
		t.Fatalf("fuzzguard: the input allocated %d bytes, over its bound of %d", used, l.Bytes)
	}
}

// watch panics once the body has run longer than l.Time or allocated more
// than l.Bytes since start, and returns when done is closed.
func watch(name string, l Limits, start uint64, done <-chan struct{}) {
	deadline := time.NewTimer(l.Time)
	defer deadline.Stop()
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	for {
		select {
		case <-done:
			return
		case <-deadline.C:
			if finished(done) {
				return
			}
			abort(fmt.Sprintf("fuzzguard: %s: the input ran longer than its bound of %v (a hang is a finding)", name, l.Time))
		case <-poll.C:
			// A body that has returned is judged by Run, with t.Fatalf.
			if used := allocated() - start; used > l.Bytes && !finished(done) {
				abort(fmt.Sprintf("fuzzguard: %s: the input allocated %d bytes, over its bound of %d (memory exhaustion is a finding)", name, used, l.Bytes))
			}
		}
	}
}

// finished reports whether done is closed: select picks at random among
// ready cases, so a timer or a poll can win against a body that has
// just returned.
func finished(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// abort panics with msg and every goroutine's stack (a panic shows only
// its own goroutine's, the watchdog's, not the body's).
func abort(msg string) {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	panic(msg + "\n\n" + string(buf))
}
