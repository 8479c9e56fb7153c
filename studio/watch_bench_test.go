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
	"testing"
	"time"

	"github.com/nst-project/nst/record"
)

// BenchmarkWatching measures what watching costs a run: the optimisation
// time per iteration (the manifest's optimize phase over its iterations)
// of the same run unwatched, watched as the page watches (an event stream,
// and the live image fetched one request at a time, at most every 300 ms)
// and watched greedily (the image fetched again as soon as it arrives).
// The three alternate in each round, so that a busy machine slows them
// alike; the medians are reported as ms/iter and the overheads in percent.
//
// NST_STUDIO_BENCH_SIZE sets the image size (default 128) and
// NST_STUDIO_BENCH_MODEL the backbone: "tiny" (default, the test backbone)
// or "builtin" (the built-in VGG19, as nst serve runs it by default):
//
//	go test -run '^$' -bench Watching -benchtime 5x ./studio/
func BenchmarkWatching(b *testing.B) {
	size := 128
	if s := os.Getenv("NST_STUDIO_BENCH_SIZE"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("NST_STUDIO_BENCH_SIZE: %v", err)
		}
		size = n
	}
	e := newEnv(b, Options{})
	model := fmt.Sprintf("model: {path: %q, arch: auto, pooling: avg}\n", e.model)
	layers := "layers:\n  content: {relu2_1: 1}\n  style: {relu1_1: 0.5, relu2_1: 0.5}\n"
	if os.Getenv("NST_STUDIO_BENCH_MODEL") == "builtin" {
		model, layers = "", ""
	}
	const iters = 30
	cfg := func(name string) string {
		return fmt.Sprintf("content: builtin:village\nstyle: [{path: builtin:swirls, weight: 1}]\nsize: %d\n%s%s"+
			"optimizer: {name: adam, iterations: %d}\noutput: {dir: %q, save_every: 0}\nruntime: {threads: 1, graph_cache: false}\n",
			size, model, layers, iters, name)
	}
	modes := []struct {
		name string
		gap  time.Duration // between image requests; -1: none
	}{{"unwatched", -1}, {"page", 300 * time.Millisecond}, {"greedy", 0}}
	perIter := make([][]float64, len(modes))
	images := make([]int, len(modes))
	round := 0
	for b.Loop() {
		for m, mode := range modes {
			name := fmt.Sprintf("%s-%d", mode.name, round)
			id := e.start(b, cfg(name))
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			if mode.gap >= 0 {
				wg.Go(func() { images[m] += e.watch(b, ctx, id, mode.gap) })
			}
			e.waitState(b, id, StateDone)
			cancel()
			wg.Wait()
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
	base := median(perIter[0])
	for m, mode := range modes {
		med := median(perIter[m])
		b.ReportMetric(med, mode.name+"-ms/iter")
		if m > 0 {
			b.ReportMetric(100*(med-base)/base, mode.name+"-overhead-%")
			b.ReportMetric(float64(images[m])/float64(round), mode.name+"-images/run")
		}
	}
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

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}
