package pipeline

import (
	"runtime"
	"slices"
	"sync"
	"testing"
)

// pathAllocs runs fn runs times and returns the allocations per run (objects
// and bytes) made on the code path of the function named fn: those whose
// call stack holds a frame of it ("github.com/.../pipeline.(*experiment).evaluate").
// testing.AllocsPerRun and runtime.MemStats count every goroutine's
// allocations, so a background goroutine (a model file's digest, a graph
// being cached) can trip a bound that is meant for one function; the heap
// profile, sampled at every allocation here, keeps each allocation's stack.
//
// The function must not hand its work to other goroutines, whose
// allocations its frame would not cover.
func pathAllocs(t *testing.T, runs int, name string, fn func()) (objects, bytes float64) {
	t.Helper()
	prev := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = prev }()
	before := pathProfile(name)
	for range runs {
		fn()
	}
	after := pathProfile(name)
	if after.objects < before.objects {
		t.Fatalf("heap profile of %s went back from %d to %d objects", name, before.objects, after.objects)
	}
	return float64(after.objects-before.objects) / float64(runs), float64(after.bytes-before.bytes) / float64(runs)
}

// profileTotals are the cumulative allocations of the heap profile's
// records on one code path.
type profileTotals struct{ objects, bytes int64 }

// pathProfile sums the heap profile's allocations (freed ones included)
// whose stack holds a frame of the function called name. The profile is
// the one published by the last completed collection; two collections
// publish everything allocated before the call.
func pathProfile(name string) profileTotals {
	runtime.GC()
	runtime.GC()
	var records []runtime.MemProfileRecord
	for {
		n, ok := runtime.MemProfile(records, true)
		if ok {
			records = records[:n]
			break
		}
		records = make([]runtime.MemProfileRecord, n+64)
	}
	var sum profileTotals
	for _, r := range records {
		frames := runtime.CallersFrames(r.Stack())
		for {
			f, more := frames.Next()
			if f.Function == name {
				sum.objects += r.AllocObjects
				sum.bytes += r.AllocBytes
				break
			}
			if !more {
				break
			}
		}
	}
	return sum
}

// allocSink keeps allocate's allocations from being optimised away.
var allocSink [][]byte

// allocate makes n allocations of 100 bytes.
//
//go:noinline
func allocate(n int) {
	allocSink = allocSink[:0]
	for range n {
		allocSink = append(allocSink, make([]byte, 100))
	}
}

// TestPathAllocsCountsOnlyThePath checks pathAllocs against a function of
// known allocations while another goroutine allocates all the time: the
// whole process's count would include the other goroutine's, pathAllocs
// must not.
func TestPathAllocsCountsOnlyThePath(t *testing.T) {
	allocSink = make([][]byte, 0, 16)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var noise [][]byte
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				noise = append(noise[:0], make([]byte, 4096))
				runtime.Gosched()
			}
		}
	})
	var whole runtime.MemStats
	runtime.ReadMemStats(&whole)
	before := whole.Mallocs
	objects, bytes := pathAllocs(t, 5, "github.com/nst-project/nst/pipeline.allocate", func() { allocate(7) })
	runtime.ReadMemStats(&whole)
	close(stop)
	wg.Wait()
	// 7 slices of 100 bytes, from the 112-byte size class.
	if objects != 7 || bytes != 7*112 {
		t.Errorf("pathAllocs: %v objects and %v bytes per run, want 7 and %d", objects, bytes, 7*112)
	}
	if whole.Mallocs-before <= 5*7 {
		t.Errorf("the process made %d allocations in all; the noise goroutine did not run, so this test proves nothing", whole.Mallocs-before)
	}
	if !slices.ContainsFunc(noise, func(b []byte) bool { return len(b) == 4096 }) {
		t.Error("the noise goroutine allocated nothing")
	}
}
