package flow

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the CPU time the process has used, user and system, in
// all its threads.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the CPU milliseconds per operation since start to b's
// results: on a shared machine wall time varies with the other load, CPU
// time much less.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// benchScene is a frame pair like consecutive video frames: a slowly
// panning textured background and a textured square, a quarter of the
// frame wide, moving about 3% of the frame's width.
func benchScene(size int) scene {
	return movingSquare(size, size, 2, -1, size/3, size/3, size/4, size/32, size/64, 1)
}

// BenchmarkBidirectional measures what the video pipeline pays per frame
// pair: the flows in both directions, each on half of GOMAXPROCS.
func BenchmarkBidirectional(b *testing.B) {
	for _, size := range []int{256, 512} {
		b.Run(fmt.Sprintf("%dpx", size), func(b *testing.B) {
			s := benchScene(size)
			start := cpuTime()
			defer reportCPU(b, start)
			for b.Loop() {
				if _, _, err := Bidirectional(context.Background(), s.a, s.b, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCompute measures one direction on all of GOMAXPROCS.
func BenchmarkCompute(b *testing.B) {
	for _, size := range []int{256, 512} {
		b.Run(fmt.Sprintf("%dpx", size), func(b *testing.B) {
			s := benchScene(size)
			start := cpuTime()
			defer reportCPU(b, start)
			for b.Loop() {
				if _, err := Compute(context.Background(), s.a, s.b, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkClassifyWarp measures the per-frame work after the flow: the
// consistency check and warping an RGB frame, at 512 px.
func BenchmarkClassifyWarp(b *testing.B) {
	const size = 512
	f := constant(size, size, 1.5, -0.5)
	back := constant(size, size, -1.5, 0.5)
	src := make([]float32, 3*size*size)
	dst := make([]float32, len(src))
	for b.Loop() {
		if _, err := Weights(f, back); err != nil {
			b.Fatal(err)
		}
		if err := Warp(dst, src, 3, f); err != nil {
			b.Fatal(err)
		}
	}
}
