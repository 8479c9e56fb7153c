package studio

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nst-project/nst/imageio"
	"github.com/nst-project/nst/record"
)

// BenchmarkWatching measures what watching costs a run: the optimisation
// time per iteration (the manifest's optimize phase over its iterations)
// of the same run unwatched, watched as the page watches (an event stream,
// and the live image fetched one request at a time, at most every 300 ms)
// and watched greedily (the image fetched again as soon as it arrives).
// The three alternate in each round, each round starting with the next
// mode, so that neither a busy machine nor the order favours one; the
// medians are reported as ms/iter, and the overheads in percent as the
// median over rounds of each watched run against the same round's
// unwatched one, for wall time and for the process's CPU time (which
// counts the server's work, the test's own client included, and not other
// programs').
//
// NST_STUDIO_BENCH_SIZE sets the image size (default 128),
// NST_STUDIO_BENCH_MODEL the backbone: "tiny" (default, the test backbone)
// or "builtin" (the built-in VGG19, as nst serve runs it by default), and
// NST_STUDIO_BENCH_THREADS runtime.threads (default 0: every core, as a
// config leaves it, so that the server's work competes with the run's for
// the cores):
//
//	NST_STUDIO_BENCH_MODEL=builtin NST_STUDIO_BENCH_SIZE=384 \
//	  go test -run '^$' -bench Watching -benchtime 9x ./studio/
func BenchmarkWatching(b *testing.B) {
	size := envInt(b, "NST_STUDIO_BENCH_SIZE", 128)
	e := newEnv(b, Options{})
	model := fmt.Sprintf("model: {path: %q, arch: auto, pooling: avg}\n", e.model)
	layers := "layers:\n  content: {relu2_1: 1}\n  style: {relu1_1: 0.5, relu2_1: 0.5}\n"
	if os.Getenv("NST_STUDIO_BENCH_MODEL") == "builtin" {
		model, layers = "", ""
	}
	threads := envInt(b, "NST_STUDIO_BENCH_THREADS", 0)
	const iters = 30
	cfg := func(name string) string {
		return fmt.Sprintf("content: builtin:village\nstyle: [{path: builtin:swirls, weight: 1}]\nsize: %d\n%s%s"+
			"optimizer: {name: adam, iterations: %d}\noutput: {dir: %q, save_every: 0}\nruntime: {threads: %d, graph_cache: false}\n",
			size, model, layers, iters, name, threads)
	}
	modes := []struct {
		name string
		gap  time.Duration // between image requests; -1: none
	}{{"unwatched", -1}, {"page", 300 * time.Millisecond}, {"greedy", 0}}
	perIter := make([][]float64, len(modes))
	cpuPerIter := make([][]float64, len(modes))
	images := make([]int, len(modes))
	round := 0
	for b.Loop() {
		for k := range modes {
			m := (round + k) % len(modes)
			mode := modes[m]
			name := fmt.Sprintf("%s-%d", mode.name, round)
			cpu0 := cpuTime()
			id := e.start(b, cfg(name))
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			if mode.gap >= 0 {
				wg.Go(func() { images[m] += e.watch(b, ctx, id, mode.gap) })
			}
			e.waitState(b, id, StateDone)
			cancel()
			wg.Wait()
			cpuPerIter[m] = append(cpuPerIter[m], (cpuTime()-cpu0).Seconds()*1000/iters)
			mf, err := record.ReadManifest(filepath.Join(e.runs, name, "manifest.json"))
			if err != nil {
				b.Fatal(err)
			}
			for _, p := range mf.Phases {
				if p.Name == "optimize" {
					perIter[m] = append(perIter[m], p.Seconds*1000/float64(mf.Iterations))
				}
			}
		}
		round++
	}
	for m, mode := range modes {
		med, cpu := median(perIter[m]), median(cpuPerIter[m])
		b.Logf("%s: wall ms/iter %.1f, process CPU ms/iter %.1f, per round %.1f / %.1f", mode.name, med, cpu, perIter[m], cpuPerIter[m])
		b.ReportMetric(med, mode.name+"-ms/iter")
		b.ReportMetric(cpu, mode.name+"-cpu-ms/iter")
		if m > 0 {
			b.ReportMetric(medianOverhead(perIter[m], perIter[0]), mode.name+"-overhead-%")
			b.ReportMetric(medianOverhead(cpuPerIter[m], cpuPerIter[0]), mode.name+"-cpu-overhead-%")
			b.ReportMetric(float64(images[m])/float64(round), mode.name+"-images/run")
		}
	}
}

// medianOverhead returns the median over rounds of how much longer, in
// percent, watched[r] took than base[r]: pairing by round cancels the
// drift of a machine's speed from one round to the next.
func medianOverhead(watched, base []float64) float64 {
	ratios := make([]float64, len(watched))
	for r := range watched {
		ratios[r] = 100 * (watched[r] - base[r]) / base[r]
	}
	return median(ratios)
}

// envInt returns the integer in environment variable name, or def when it
// is unset.
func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	return n
}

// watch follows run id's event stream as the page does, fetching the live
// image whenever a step has happened since the last fetch and gap has
// passed; it returns the number of images fetched.
func (e *testEnv) watch(b *testing.B, ctx context.Context, id string, gap time.Duration) int {
	n := 0
	var last time.Time
	for ev := range e.events(b, ctx, id) {
		if ev.name != "iteration" || time.Since(last) < gap {
			continue
		}
		last = time.Now()
		req, _ := http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/api/runs/"+id+"/image", nil)
		req.Header.Set("Authorization", "Bearer "+e.srv.Token())
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			return n
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			n++
		}
	}
	return n
}

// cpuTime returns the CPU time this process has used (user and system),
// which a busy shared machine does not inflate as it does wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}

// BenchmarkLiveImage measures the work one live image costs at 512×384:
// turning the optimiser's tensor into an image (what Event.Image does on
// the run's goroutine, plus its colour step) and encoding it as PNG (on
// the request's goroutine). The page asks for at most about three images
// a second, so this bounds the CPU a watching browser takes from a run.
func BenchmarkLiveImage(b *testing.B) {
	const w, h = 512, 384
	x := make([]float32, 3*w*h)
	for i := range x {
		x[i] = float32(i%251) / 251
	}
	j := &job{}
	for b.Loop() {
		j.snap = imageio.FromTensor(x, w, h)
		j.snapVer++
		if _, err := j.encodeSnap(); err != nil {
			b.Fatal(err)
		}
	}
}
